import { readdirSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { checkCameraName } from '@surveillance/shared';
import { DEFAULT_FILE_RE, DEFAULT_NAME_PATTERN, defaultDay, defaultFileTime, frameName, parseFrameName, type DefaultDay } from './frame-name.ts';
import { localDate } from './local-date.ts';
import type { FrameEntry, FrameQuery as StoreQuery } from './store.ts';

/**
 * What is in the file store, read from names alone (FileStore's index side).
 *
 * A frame's name carries its camera, capture time (UTC) and id, so listing is readdir plus
 * parsing: no stat per file. With the default pattern the store is `CAMERA/yyyy-MM-dd/...`
 * with one folder per UTC day, so a time range reads only the day folders it overlaps. Any
 * other pattern is walked in full (correct, slower). Sizes need a stat per file: ask for them
 * with `frameSizes` only where they matter (stats, prune). Callers outside store/ use these
through FileStore (the FrameIndex interface), never directly.
 *
 * Hidden entries (`.incoming/` temporary files, `.thumbs/`...) are never cameras, and files
 * whose names do not parse are not frames: both are skipped, never reported as errors.
 * Everything here is synchronous and read-only: it never blocks or locks the receiver.
 * A custom pattern must be loaded first (`await loadNamePattern(pattern)`, frame-name.ts).
 */

export interface FrameQuery extends StoreQuery {
  /** The receiver's --name-pattern; DEFAULT_NAME_PATTERN when absent. */
  pattern?: string;
}

/** A folder the receiver could have made for a camera (hidden folders and strays are not). */
const isCameraName = (name: string) => checkCameraName(name) === undefined;
const DAY_MS = 86_400_000;
/*
 * Files in a day folder of the default pattern (DEFAULT_FILE_RE) have a fixed-width stamp, so
 * they sort in time order as plain strings: ranges, the latest frame and local days are decided
 * by comparing strings, and only frames that are returned get parsed.
 */

/** The bare stamp a frame taken at `t` has in a default-pattern day folder. */
function stampAt(t: number): string {
  const name = frameName('x', new Date(t), '');
  return name.slice(name.lastIndexOf('/') + 1, -'_.jpg'.length);
}

/** Entries of a folder as bare names (no Dirent: a day holds tens of thousands). */
function readNames(path: string): string[] {
  try {
    return readdirSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}

function readDir(path: string): Dirent[] {
  try {
    return readdirSync(path, { withFileTypes: true });
  } catch (e) {
    // A folder pruned or never created between two reads is simply empty.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}

/** Camera folders at the store root, sorted; hidden folders and stray files are skipped. */
export function listCameras(root: string): string[] {
  return readDir(root)
    .filter((d) => d.isDirectory() && isCameraName(d.name))
    .map((d) => d.name)
    .sort();
}

/** UTC day folders of a camera (default pattern), ascending; a folder of no real date holds no frames. */
function dayFolders(root: string, camera: string): (DefaultDay & { name: string })[] {
  const days: (DefaultDay & { name: string })[] = [];
  for (const d of readDir(join(root, camera))) {
    const day = d.isDirectory() ? defaultDay(d.name) : undefined;
    if (day) days.push({ ...day, name: d.name });
  }
  return days.sort((a, b) => a.start - b.start);
}

/** Store-relative frame names below `rel` (recursively), for patterns we cannot prune by folder. */
function walk(root: string, rel: string, out: string[]): void {
  for (const d of readDir(join(root, rel))) {
    if (d.name.startsWith('.')) continue;
    const child = `${rel}/${d.name}`;
    if (d.isDirectory()) walk(root, child, out);
    else if (d.isFile() && d.name.endsWith('.jpg')) out.push(child);
  }
}

function inRange(t: number, q: FrameQuery): boolean {
  return (q.from === undefined || t >= q.from.getTime()) && (q.to === undefined || t < q.to.getTime());
}

function entriesOf(camera: string, names: readonly string[], q: FrameQuery, pattern: string, out: FrameEntry[]): void {
  for (const name of names) {
    const parsed = parseFrameName(name, pattern);
    if (parsed && parsed.camera === camera && inRange(parsed.time.getTime(), q)) out.push({ camera, time: parsed.time, id: parsed.id, name });
  }
}

/**
 * Frames of one default-pattern day folder in [fromStamp, toStamp), compared as strings before
 * any parsing. Returns the time of the last frame when every frame came later than the one
 * before (`last` before the first), else NaN: readdir gives names sorted, and these sort by
 * time, so a camera's frames need no sort unless two share a millisecond.
 */
function dayEntries(root: string, camera: string, day: DefaultDay & { name: string }, fromStamp: string | undefined, toStamp: string | undefined, out: FrameEntry[], last: number): number {
  const prefix = `${camera}/${day.name}/`;
  for (const file of readNames(join(root, camera, day.name))) {
    // A bare name is >= a stamp exactly when its own stamp is (same width, then "_ID.jpg").
    if ((fromStamp !== undefined && file < fromStamp) || (toStamp !== undefined && file >= toStamp)) continue;
    const t = defaultFileTime(file, day);
    if (Number.isNaN(t)) continue;
    // The id sits between the fixed-width stamp and '.jpg'.
    out.push({ camera, time: new Date(t), id: file.slice(21, -4), name: prefix + file });
    last = t > last ? t : Number.NaN;
  }
  return last;
}

/** Appends a camera's frames; true when they came in time order (see dayEntries). */
function cameraFrames(root: string, camera: string, q: FrameQuery, pattern: string, out: FrameEntry[]): boolean {
  if (pattern !== DEFAULT_NAME_PATTERN) {
    const names: string[] = [];
    walk(root, camera, names);
    entriesOf(camera, names, q, pattern, out);
    return false;
  }
  const from = q.from?.getTime() ?? -Infinity;
  const to = q.to?.getTime() ?? Infinity;
  let last = -Infinity;
  for (const day of dayFolders(root, camera)) {
    if (day.start + DAY_MS <= from || day.start >= to) continue;
    // Folders wholly inside the range need no comparison at all.
    const fromStamp = from > day.start ? stampAt(from) : undefined;
    const toStamp = to < day.start + DAY_MS ? stampAt(to) : undefined;
    last = dayEntries(root, camera, day, fromStamp, toStamp, out, last);
  }
  return !Number.isNaN(last);
}

function byTime(a: FrameEntry, b: FrameEntry): number {
  return a.time.getTime() - b.time.getTime() || (a.camera < b.camera ? -1 : a.camera > b.camera ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Frames matching the query, oldest first (ties: camera, then id). An unknown camera gives an
 * empty list; tell it apart from "nothing in range" with `listCameras`.
 */
export function listFrames(root: string, q: FrameQuery = {}): FrameEntry[] {
  const pattern = q.pattern ?? DEFAULT_NAME_PATTERN;
  const cameras = q.camera !== undefined ? [q.camera] : listCameras(root);
  const out: FrameEntry[] = [];
  // One camera's frames often come in order already; sorting 20,000 costs more than listing them.
  let ordered = cameras.length <= 1;
  for (const camera of cameras) if (isCameraName(camera)) ordered = cameraFrames(root, camera, q, pattern, out) && ordered;
  return ordered ? out : out.sort(byTime);
}

/**
 * The newest frame of a camera (of any camera when absent), or undefined. With the default
 * pattern it reads day folders from the newest back until one holds a frame.
 */
export function latestFrame(root: string, camera?: string, pattern = DEFAULT_NAME_PATTERN): FrameEntry | undefined {
  let best: FrameEntry | undefined;
  for (const cam of camera !== undefined ? [camera] : listCameras(root)) {
    let found: FrameEntry | undefined;
    if (pattern === DEFAULT_NAME_PATTERN) {
      const days = dayFolders(root, cam);
      for (let i = days.length - 1; i >= 0 && !found; i--) {
        let newest: string | undefined;
        for (const file of readNames(join(root, cam, days[i]!.name))) {
          if ((newest === undefined || file > newest) && DEFAULT_FILE_RE.test(file)) newest = file;
        }
        if (newest !== undefined) {
          const name = `${cam}/${days[i]!.name}/${newest}`;
          const parsed = parseFrameName(name, pattern);
          if (parsed) found = { camera: cam, time: parsed.time, id: parsed.id, name };
        }
      }
    } else {
      found = listFrames(root, { camera: cam, pattern }).at(-1);
    }
    if (found && (!best || byTime(best, found) < 0)) best = found;
  }
  return best;
}

/**
 * LOCAL dates (yyyy-MM-dd, process time zone) on which a camera has frames, ascending.
 *
 * A UTC day folder spans parts of two (rarely three) local dates. Names of the default
 * pattern sort in time order as strings, so each folder is split at the local midnights
 * that fall inside it by comparing names with the name those midnights would have: one
 * readdir per folder and string comparisons, no Date per frame.
 */
export function listDays(root: string, camera: string, pattern = DEFAULT_NAME_PATTERN): string[] {
  const dates = new Set<string>();
  if (pattern !== DEFAULT_NAME_PATTERN) {
    for (const f of listFrames(root, { camera, pattern })) dates.add(localDate(f.time));
    return [...dates].sort();
  }
  for (const day of dayFolders(root, camera)) {
    const files = readNames(join(root, camera, day.name)).filter((f) => DEFAULT_FILE_RE.test(f));
    if (files.length === 0) continue;
    // Segment starts: the folder's own start, then every local midnight inside the UTC day.
    const starts = [day.start, ...localMidnightsIn(day.start, day.start + DAY_MS)];
    const bounds = starts.map(stampAt);
    const seen = new Array<boolean>(starts.length).fill(false);
    for (const f of files) {
      let seg = 0;
      while (seg + 1 < bounds.length && f >= bounds[seg + 1]!) seg++;
      seen[seg] = true;
    }
    starts.forEach((t, i) => seen[i] && dates.add(localDate(new Date(t))));
  }
  return [...dates].sort();
}

/** Instants of local midnight in (from, to), at most a few; found by stepping local dates. */
export function localMidnightsIn(from: number, to: number): number[] {
  const out: number[] = [];
  const d = new Date(from);
  for (let t = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime(); t < to; ) {
    if (t > from) out.push(t);
    const n = new Date(t);
    t = new Date(n.getFullYear(), n.getMonth(), n.getDate() + 1).getTime();
  }
  return out;
}

/** Bytes of each frame (0 for one that vanished meanwhile, e.g. pruned): one stat per frame. */
export function frameSizes(root: string, frames: readonly FrameEntry[]): number[] {
  return frames.map((f) => {
    try {
      return statSync(join(root, f.name)).size;
    } catch {
      return 0;
    }
  });
}

/** Path of a frame below `root` (names are already normal: no join needed, and it is hot in listings). */
export function framePath(root: string, frame: Pick<FrameEntry, 'name'>): string {
  return root.endsWith('/') ? root + frame.name : `${root}/${frame.name}`;
}
