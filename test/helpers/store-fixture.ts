import { accessSync, closeSync, constants, futimesSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { frameName } from '../../packages/receiver/src/store/frame-name.ts';
import { FIXTURES } from './receiver.ts';

/**
 * A realistic store for the review commands, laid out exactly as the receiver writes it: names
 * from the receiver's own `frameName`, real JPEGs (made by ffmpeg and cjpeg, see
 * scripts/make-fixtures.sh), mtime = capture time, plus the litter a live store has (a
 * temporary file in .incoming/, a .thumbs/ cache, a stray non-frame file). Files are written
 * directly rather than through FrameStore because its per-frame fsyncs would make thousands
 * of frames take tens of seconds; the names and bytes are the same.
 */

export interface Series {
  camera: string;
  /** First capture time. */
  from: Date;
  /** Capture times stop before this. */
  to: Date;
  everyMs: number;
  /** Periods in which the camera sent nothing: [from, to). */
  silent?: [Date, Date][];
}

export interface FixtureFrame {
  camera: string;
  time: Date;
  id: string;
  /** Store-relative name. */
  name: string;
  bytes: number;
}

export const FIXTURE_JPEGS = ['ffmpeg-baseline.jpg', 'cjpeg-baseline.jpg', 'cjpeg-progressive.jpg', 'cjpeg-grayscale.jpg'].map((file) => {
  const data = readFileSync(join(FIXTURES, 'jpeg', file));
  return { data, bytes: data.length };
});

/** Berlin changes clocks on 2026-03-29 (02:00 -> 03:00) and 2026-10-25 (03:00 -> 02:00). */
export const DEFAULT_SERIES: Series[] = [
  // About 4,700 frames over four and a half days around the spring change, one a minute,
  // with a silent afternoon.
  {
    camera: 'front',
    from: new Date('2026-03-27T12:00:00.250Z'),
    to: new Date('2026-03-31T02:00:00Z'),
    everyMs: 60_000,
    silent: [[new Date('2026-03-30T13:00:00Z'), new Date('2026-03-30T16:30:00Z')]],
  },
  // The autumn change, every 2 minutes: 25 local hours on 2026-10-25.
  { camera: 'front', from: new Date('2026-10-24T20:00:00Z'), to: new Date('2026-10-26T04:00:00Z'), everyMs: 120_000 },
  // A second camera, every 5 minutes, silent for a night.
  {
    camera: 'back-yard',
    from: new Date('2026-03-28T00:00:00Z'),
    to: new Date('2026-03-31T00:00:00Z'),
    everyMs: 300_000,
    silent: [[new Date('2026-03-29T20:00:00Z'), new Date('2026-03-30T04:00:00Z')]],
  },
];

export function seriesTimes(s: Series): Date[] {
  const out: Date[] = [];
  for (let t = s.from.getTime(); t < s.to.getTime(); t += s.everyMs) {
    if (!s.silent?.some(([a, b]) => t >= a.getTime() && t < b.getTime())) out.push(new Date(t));
  }
  return out;
}

/**
 * Writes the series into `root` and returns every frame written, sorted by time (then camera,
 * then id) as the review commands sort them. `burst` adds that many extra frames sharing the
 * first frame's millisecond, as a sender does when several frames share a timestamp.
 */
export function writeStore(root: string, series: Series[] = DEFAULT_SERIES, options: { burst?: number; litter?: boolean } = {}): FixtureFrame[] {
  const frames: FixtureFrame[] = [];
  const folders = new Set<string>();
  let n = 0;
  const add = (camera: string, time: Date) => {
    const id = `f${(n++).toString(36).padStart(5, '0')}`;
    const name = frameName(camera, time, id);
    const jpeg = FIXTURE_JPEGS[n % FIXTURE_JPEGS.length]!;
    const path = join(root, name);
    const folder = dirname(path);
    if (!folders.has(folder)) mkdirSync(folder, { recursive: true });
    folders.add(folder);
    const fd = openSync(path, 'wx');
    writeSync(fd, jpeg.data);
    futimesSync(fd, time, time);
    closeSync(fd);
    frames.push({ camera, time, id, name, bytes: jpeg.bytes });
  };
  for (const s of series) {
    const times = seriesTimes(s);
    times.forEach((t) => add(s.camera, t));
    for (let i = 0; i < (options.burst ?? 0) && times.length > 0; i++) add(s.camera, times[0]!);
  }
  if (options.litter ?? true) {
    mkdirSync(join(root, '.incoming'), { recursive: true });
    writeFileSync(join(root, '.incoming', '4242-1-abc.part'), Buffer.from([0xff, 0xd8, 0xff]));
    mkdirSync(join(root, '.thumbs', 'front'), { recursive: true });
    writeFileSync(join(root, '.thumbs', 'front', 'x.jpg'), 'not a frame');
    const someDay = frames.length ? dirname(join(root, frames[0]!.name)) : root;
    writeFileSync(join(someDay, 'notes.txt'), 'not a frame');
  }
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return frames.sort((a, b) => a.time.getTime() - b.time.getTime() || cmp(a.camera, b.camera) || cmp(a.id, b.id));
}

/**
 * A temporary folder for generated stores, in memory (/dev/shm) when there is one: creating
 * thousands of files on a disk shared with other work measured up to 1 ms a file here, in
 * memory 100 times less. What is tested (names, folders, unlink, rmdir) is the same on both.
 */
export function storeTempDir(prefix: string): { path: string; remove: () => void } {
  let base = tmpdir();
  try {
    accessSync('/dev/shm', constants.W_OK);
    base = '/dev/shm';
  } catch {
    // no tmpfs at hand: the disk is slower, not wrong
  }
  const path = mkdtempSync(join(base, prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
