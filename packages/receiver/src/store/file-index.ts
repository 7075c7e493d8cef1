import { readdirSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { checkCameraName } from '@surveillance/shared';
import { DEFAULT_FILE_RE, DEFAULT_NAME_PATTERN, defaultDay, defaultFileLines, defaultFileTime, frameName, parseFrameName, type DefaultDay } from './frame-name.ts';
import { localDate } from './local-date.ts';
import { HOUR_MS, MINUTE_MS, type FrameEntry, type LineSpec, type FrameQuery as StoreQuery } from './store.ts';

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

/**
 * Entries of a folder as bare names (no Dirent: a day holds tens of thousands). `latin1` reads
 * each byte as a character, which V8 takes without the UTF-8 decoder's pass: the same names
 * where they are ASCII, and for a caller that takes nothing else (frameLines).
 */
function readNames(path: string, encoding: 'utf8' | 'latin1' = 'utf8'): string[] {
  try {
    return readdirSync(path, encoding);
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
  let last = -Infinity;
  for (const { day, fromStamp, toStamp } of foldersInRange(root, camera, q)) last = dayEntries(root, camera, day, fromStamp, toStamp, out, last);
  return !Number.isNaN(last);
}

/**
 * A camera's day folders (default pattern) that the query's range overlaps, ascending, with the
 * stamps their names are compared with where the range ends inside them (folders wholly inside
 * the range need no comparison at all).
 */
function foldersInRange(root: string, camera: string, q: FrameQuery): { day: DefaultDay & { name: string }; fromStamp?: string; toStamp?: string }[] {
  const from = q.from?.getTime() ?? -Infinity;
  const to = q.to?.getTime() ?? Infinity;
  return dayFolders(root, camera)
    .filter((day) => day.start + DAY_MS > from && day.start < to)
    .map((day) => ({ day, fromStamp: from > day.start ? stampAt(from) : undefined, toStamp: to < day.start + DAY_MS ? stampAt(to) : undefined }));
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

/** A name sorts below this once it is past the hour or minute (`yyyyMMddTHH`, `yyyyMMddTHHmm`) it is appended to: ':' follows the digits. */
const PAST = ':';
/** What defaultFileLines puts before each name (see there): no file name and no line holds it. */
const NUL = '\0';
/** How much of a default-pattern name comes before its id: `yyyyMMddTHHmmss.SSSZ_`. */
const STAMP_ID = 21;
/** The hour of a name (`THH` of `yyyyMMddTHH`) and its minute (`mm`), when it is a frame's. */
const HOUR_RE = /^T(?:[01]\d|2[0-3])$/;
const MINUTE_RE = /^[0-5]\d$/;

/**
 * listFrames of one camera as lines of text (FrameIndex.lines), for the default pattern. A
 * listing runs once, and JavaScript run once per frame never gets fast before it ends: that was
 * most of `list --day`. So a day folder's names, which are text already, are joined and turned
 * into lines by regular expressions, an hour at a time (its frames share all but their own
 * fields), or a minute at a time in an hour spec.line cannot line whole (the clocks change in
 * it, or the local minute is not the UTC one: +05:30). Per minute, the code run per minute
 * became hot enough for V8 to optimise it, which cost more than it saved. The same replace
 * checks the names (defaultFileLines): every text is made before any is written. Undefined,
 * before anything is written, unless the frames are a plain run of names: a stray file, two
 * frames of one millisecond or a minute `spec.line` cannot line are left to listFrames.
 */
export function frameLines(root: string, q: FrameQuery & { camera: string; last?: number }, spec: LineSpec): number | undefined {
  if ((q.pattern ?? DEFAULT_NAME_PATTERN) !== DEFAULT_NAME_PATTERN || !isCameraName(q.camera)) return undefined;
  const days: { day: DefaultDay & { name: string }; files: string[] }[] = [];
  for (const { day, fromStamp, toStamp } of foldersInRange(root, q.camera, q)) {
    // Every name lined is ASCII; one that is not (a character a byte here) is no frame's either way.
    let files = readNames(join(root, q.camera, day.name), 'latin1');
    if (fromStamp !== undefined || toStamp !== undefined) files = files.filter((f) => (fromStamp === undefined || f >= fromStamp) && (toStamp === undefined || f < toStamp));
    if (files.length === 0) continue;
    // readdir gives names sorted (libuv does), but nothing promises it: sorted here, where a
    // sorted folder is one comparison a name in V8's sort (a JavaScript loop checking the
    // order cost three times as much). Names of a folder that are all frames of it sort in
    // time order, and the folders are in date order.
    days.push({ day, files: files.sort() });
  }
  let count = 0;
  for (const d of days) count += d.files.length;
  // --last: the newest frames; the oldest folders go first.
  for (let cut = q.last === undefined ? 0 : count - q.last; cut > 0; ) {
    const first = days[0]!;
    const n = Math.min(cut, first.files.length);
    if (n === first.files.length) days.shift();
    // Only the names kept are checked: a stray left out is no matter, but a frame of the same
    // millisecond as the first kept (which byTime could put after it) is.
    else if (first.files[n - 1]!.slice(0, STAMP_ID) === first.files[n]!.slice(0, STAMP_ID)) return undefined;
    else first.files = first.files.slice(n);
    cut -= n;
    count -= n;
  }
  // Every minute's replacement first: a minute that cannot be lined must stop us before output.
  const prefix = framePath(root, { name: '' });
  const escapedPrefix = spec.escape(prefix);
  type Parts = NonNullable<ReturnType<LineSpec['line']>>;
  const runs: { files: string[]; lines: RegExp; parts: Parts; replacement: (parts: Parts) => string }[] = [];
  for (const { day, files } of days) {
    const name = `${q.camera}/${day.name}/`;
    const fields = { id: '$5', minute: '$3', second: '$4', name: `${dollars(name)}$1`, path: `${dollars(escapedPrefix + name)}$1` };
    const lines = defaultFileLines(day.date);
    const replacement = (parts: Parts) => parts.map((p) => (typeof p === 'string' ? dollars(p) : fields[p.field])).join('');
    for (let i = 0; i < files.length; ) {
      const hour = files[i]!.slice(0, 'yyyyMMddTHH'.length);
      // A name that is no frame's sorts anywhere, and may start a run: it is never lined (see
      // below), but an hour or minute of no clock must not be asked for.
      if (!hour.startsWith(day.date) || !HOUR_RE.test(hour.slice(8))) return undefined;
      const end = firstFrom(files, hour + PAST, i + 1);
      const hourStart = day.start + Number(hour.slice(9, 11)) * HOUR_MS;
      const parts = spec.line(hourStart, HOUR_MS);
      if (parts) runs.push({ files: files.slice(i, end), lines, parts, replacement });
      for (let j = i; !parts && j < end; ) {
        const minute = files[j]!.slice(0, 'yyyyMMddTHHmm'.length);
        if (!MINUTE_RE.test(minute.slice(11))) return undefined;
        const minuteEnd = firstFrom(files, minute + PAST, j + 1);
        const minuteParts = spec.line(hourStart + Number(minute.slice(11, 13)) * MINUTE_MS, MINUTE_MS);
        if (!minuteParts) return undefined;
        runs.push({ files: files.slice(j, minuteEnd), lines, parts: minuteParts, replacement });
        j = minuteEnd;
      }
      i = end;
    }
  }
  // A line that ends in the same text in every run (`"}\n`, `\n`) is made from the end of the
  // line before it: that text and the next line's first are then one part of the replacement,
  // not two (each part of every line costs V8 about as much as the regular expression's match).
  // The first line's copy of it goes, and the last line's is written after all.
  const last = runs[0]?.parts.at(-1);
  const tail = typeof last === 'string' && runs.every((r) => r.parts.at(-1) === last) ? last : '';
  const replacements = runs.map((r) => (tail ? dollars(tail) + r.replacement(r.parts.slice(0, -1)) : r.replacement(r.parts)));
  // A NUL left in a text is a name that was not a frame's (see defaultFileLines); one in a line
  // itself would hide that.
  if (replacements.some((r) => r.includes(NUL))) return undefined;
  const texts: string[] = [];
  for (const [i, run] of runs.entries()) {
    const text = `${NUL}${run.files.join(NUL)}`.replace(run.lines, replacements[i]!);
    if (text.includes(NUL)) return undefined;
    texts.push(text);
  }
  if (texts.length > 0) {
    texts[0] = texts[0]!.slice(tail.length);
    texts[texts.length - 1] += tail;
  }
  for (const text of texts) spec.write(text);
  return count;
}

/** Text as itself in a replacement string of String#replace. */
function dollars(text: string): string {
  // Most text has none: includes is much cheaper than a replaceAll that finds nothing.
  return text.includes('$') ? text.replaceAll('$', '$$$$') : text;
}

/** The index of the first of the sorted `names` at or past `at` that is >= `bound`. */
function firstFrom(names: readonly string[], bound: string, at: number): number {
  let lo = at;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid]! < bound) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
      return statSync(framePath(root, f)).size;
    } catch {
      return 0;
    }
  });
}

/** Path of a frame below `root` (names are already normal: no join needed, and it is hot in listings). */
export function framePath(root: string, frame: Pick<FrameEntry, 'name'>): string {
  return root.endsWith('/') ? root + frame.name : `${root}/${frame.name}`;
}
