import { frameName, parseFrameName } from '../frame-name.ts';
import type { FrameEntry } from '../store.ts';

/**
 * Keys of the NATS store's index (a KV bucket). Subjects are split on '.', so the keys are
 * shaped for subject filters:
 *
 * - `f.CAMERA.yyyy-MM-dd.STAMP_ID`: one per frame (UTC day). `f.CAMERA.DAY.>` is one day of one
 *   camera, which is how a day is listed without reading any other day's entries.
 * - `d.CAMERA.yyyy-MM-dd`: the camera had frames on that UTC day. `d.>` lists cameras and days
 *   without reading a single frame entry.
 *
 * Camera names may hold '.', which would split a token: it is written as '=' (a character a
 * KV key allows and a camera name does not). The stamp's '.' before the milliseconds is
 * dropped; the stamp is fixed-width, so it goes back in by position. Frame names are the file
 * store's default pattern (frame-name.ts), so a frame has the same name in both stores.
 */

const encCamera = (camera: string) => camera.replaceAll('.', '=');
const decCamera = (token: string) => token.replaceAll('=', '.');

/** `front/2026-11-21/20261121T055300.123Z_4f2a9c.jpg` -> `f.front.2026-11-21.20261121T055300123Z_4f2a9c`. */
export function frameKey(frame: Pick<FrameEntry, 'camera' | 'time' | 'id'>): string {
  const name = frameName(frame.camera, frame.time, frame.id);
  const file = name.slice(name.lastIndexOf('/') + 1, -'.jpg'.length);
  return `f.${encCamera(frame.camera)}.${name.slice(frame.camera.length + 1, frame.camera.length + 11)}.${file.slice(0, 15)}${file.slice(16)}`;
}

/** The frame a `f.` key stands for; undefined for any other key. */
export function parseFrameKey(key: string): FrameEntry | undefined {
  const parts = key.split('.');
  if (parts.length !== 4 || parts[0] !== 'f') return undefined;
  const [, cam, day, file] = parts as [string, string, string, string];
  const camera = decCamera(cam);
  const name = `${camera}/${day}/${file.slice(0, 15)}.${file.slice(15)}.jpg`;
  const parsed = parseFrameName(name);
  return parsed && parsed.camera === camera ? { ...parsed, name } : undefined;
}

/** All frames of a camera on a UTC day (`yyyy-MM-dd`). */
export const dayFilter = (camera: string, utcDay: string) => `f.${encCamera(camera)}.${utcDay}.>`;

export const dayKey = (camera: string, utcDay: string) => `d.${encCamera(camera)}.${utcDay}`;

/** Day marks of one camera, or of all cameras. */
export const dayKeyFilter = (camera?: string) => (camera === undefined ? 'd.>' : `d.${encCamera(camera)}.*`);

export function parseDayKey(key: string): { camera: string; day: string } | undefined {
  const parts = key.split('.');
  if (parts.length !== 3 || parts[0] !== 'd' || !/^\d{4}-\d{2}-\d{2}$/.test(parts[2]!)) return undefined;
  return { camera: decCamera(parts[1]!), day: parts[2]! };
}

/** The UTC day of a frame, as its key and name have it. */
export const utcDay = (time: Date) => time.toISOString().slice(0, 10);
