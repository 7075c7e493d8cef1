import { closeSync, mkdirSync, openSync, readFileSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { formatScore } from '@surveillance/shared';
import { isoTime } from './iso-time.ts';
import type { EventFrame } from './events.ts';
import type { FrameEntry, FrameMeta, FrameQuery, FrameReason } from './store.ts';

/**
 * The durable event index of the file store: why each frame was sent and its score, which the
 * frame's name does not say. Events are then a fold over the frames and these marks
 * (events.ts), computed by readers; nothing else is stored.
 *
 *   STORE/.index/CAMERA/yyyy-MM-dd.log     one line per frame, UTC day of its capture time
 *   <capture ms> <frame id> <reason> <score or -> <checksum>\n
 *
 * Written before the frame appears under its name (so a reader that sees the frame finds its
 * line), and cheap on the per-connection path: one open(O_APPEND|O_CREAT), one write() of a line under
 * 130 bytes, one close, and no fsync. O_APPEND makes the kernel place each write at the end, so
 * receivers writing at once (one process per connection) do not overwrite each other; a short
 * write to a local file is not interleaved with another. A process crash keeps every line
 * written (it is in the page cache); only a power cut can lose the last lines, and a frame
 * whose line is lost counts as motion, like a raw frame.
 *
 * Never half an entry: each line carries an FNV-1a checksum of the rest of it, so a line torn by
 * a power cut (or damaged by anything) is dropped as a whole, never read as another reason.
 *
 * Nothing to rebuild by rewriting: the frames themselves say which frames exist (the index only
 * adds reason and score to a frame it names, and a line for a frame that is gone is ignored),
 * so a missing or damaged file simply gives "motion" for the frames it no longer describes.
 * Readers never rewrite the file: a rewrite (temporary file + rename) would race receivers
 * appending to the old file and lose their lines, and a reviewer may only read the store.
 */

export const INDEX_DIR = '.index';

const LINE_RE = /^(\d{1,15}) ([A-Za-z0-9-]{1,64}) (first|motion|heartbeat|-) (\d{1,6}(?:\.\d{1,6})?|-) ([0-9a-f]{8})$/;

/** 32-bit FNV-1a over the ASCII line: a few operations per byte, no crypto or zlib to load. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The index file of a camera's UTC day. */
export function indexPath(storeDir: string, camera: string, time: Date): string {
  return join(storeDir, INDEX_DIR, camera, `${isoTime(time).slice(0, 10)}.log`);
}

export function indexLine(meta: Pick<FrameMeta, 'time' | 'id' | 'reason' | 'score'>): string {
  const score = meta.score !== undefined && Number.isFinite(meta.score) ? formatScore(meta.score) : '-';
  const body = `${meta.time.getTime()} ${meta.id} ${meta.reason ?? '-'} ${score}`;
  return `${body} ${fnv1a(body)}\n`;
}

/**
 * Appends a frame's line, just before the frame is linked under its name (a line whose frame
 * never appears is ignored). A failure here (a full disk) costs the frame its reason, not the
 * frame, so the caller logs it and stores the frame all the same.
 */
export function appendIndex(storeDir: string, meta: FrameMeta): void {
  const path = indexPath(storeDir, meta.camera, meta.time);
  const line = Buffer.from(indexLine(meta), 'ascii');
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o640);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(join(storeDir, INDEX_DIR, meta.camera), { recursive: true, mode: 0o750 });
    fd = openSync(path, 'a', 0o640);
  }
  try {
    // One write: a short write of a line this small does not happen on a local file system,
    // and if it did, the checksum drops the torn line.
    writeSync(fd, line);
  } finally {
    closeSync(fd);
  }
}

/**
 * Prune's part: removes the day files of the UTC days of `removed` frames on which the camera
 * has no frame left. A frame of that day arriving just then (a late resend) loses its line and
 * counts as motion: harmless, and prune runs seldom.
 */
export async function forgetIndexDays(storeDir: string, removed: readonly FrameEntry[], frames: (q: FrameQuery) => Promise<FrameEntry[]>): Promise<number> {
  const days = new Map<string, { camera: string; from: Date }>();
  for (const f of removed) {
    const day = f.time.toISOString().slice(0, 10);
    days.set(`${f.camera}/${day}`, { camera: f.camera, from: new Date(`${day}T00:00:00.000Z`) });
  }
  let forgotten = 0;
  for (const { camera, from } of days.values()) {
    const left = await frames({ camera, from, to: new Date(from.getTime() + 86_400_000) });
    if (left.length > 0) continue;
    try {
      unlinkSync(indexPath(storeDir, camera, from));
      forgotten++;
    } catch (e) {
      // Gone already, or not ours to remove: a stale day file is harmless (its lines name
      // frames that are gone), and the next prune tries again.
      if (typeof (e as NodeJS.ErrnoException).code !== 'string') throw e;
    }
  }
  return forgotten;
}

/** What the index says of a frame. */
export interface FrameMark {
  reason?: FrameReason;
  score?: number;
}

/** Key of a frame in the index: capture ms and id, which together name a frame of a camera. */
const markKey = (ms: number, id: string) => `${ms} ${id}`;

export interface ParsedIndex {
  marks: Map<string, FrameMark>;
  /** Lines dropped: torn, damaged or not ours. */
  dropped: number;
}

/** Reads an index file's text; bad lines are dropped and counted, never half-read. */
export function parseIndex(text: string, into: ParsedIndex = { marks: new Map(), dropped: 0 }): ParsedIndex {
  const lines = text.split('\n');
  // The text after the last LF is a line still being written, or one torn by a power cut.
  const torn = lines.pop();
  if (torn) into.dropped++;
  for (const line of lines) {
    if (!line) continue;
    if (readLine(line, into.marks)) continue;
    into.dropped++;
    // A line torn by a power cut has the next boot's first line glued to it: keep that one.
    for (let i = 1; i < line.length - 20; i++) if (readLine(line.slice(i), into.marks)) break;
  }
  return into;
}

function readLine(line: string, marks: Map<string, FrameMark>): boolean {
  const m = LINE_RE.exec(line);
  if (!m || fnv1a(line.slice(0, -9)) !== m[5]) return false;
  const mark: FrameMark = {};
  if (m[3] !== '-') mark.reason = m[3] as FrameReason;
  if (m[4] !== '-') mark.score = Number(m[4]);
  marks.set(markKey(Number(m[1]), m[2]!), mark);
  return true;
}

/** The UTC days (yyyy-MM-dd) that capture times from `from` to `to` (inclusive) fall on. */
function utcDays(from: Date, to: Date): string[] {
  const days: string[] = [];
  for (let t = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()); t <= to.getTime(); t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/**
 * A camera's frames as the event fold wants them: each with the reason and score its index
 * line gives, or none (motion) when the line is missing or damaged. `frames` are one camera's.
 */
export function markFrames(storeDir: string, camera: string, frames: readonly FrameEntry[]): { frames: EventFrame[]; dropped: number } {
  if (frames.length === 0) return { frames: [], dropped: 0 };
  let first = frames[0]!.time;
  let last = first;
  for (const f of frames) {
    if (f.time < first) first = f.time;
    if (f.time > last) last = f.time;
  }
  const index: ParsedIndex = { marks: new Map(), dropped: 0 };
  for (const day of utcDays(first, last)) {
    let text: string;
    try {
      text = readFileSync(join(storeDir, INDEX_DIR, camera, `${day}.log`), 'latin1');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // never written, or deleted: motion
      throw e;
    }
    parseIndex(text, index);
  }
  return {
    frames: frames.map((f) => ({ time: f.time, id: f.id, name: f.name, ...index.marks.get(markKey(f.time.getTime(), f.id)) })),
    dropped: index.dropped,
  };
}

/**
 * Marks for frames as they arrive, for the notifier: each day file is read once, then only the
 * bytes appended since (a partial last line waits for the next read). The receiver appends a
 * frame's line before the frame itself appears in the store, so a frame that is seen has its line
 * already, unless it was lost (then: motion). Only the newest `keepDays` day files are kept.
 */
export class IndexTail {
  private readonly days = new Map<string, { offset: number; rest: string; index: ParsedIndex }>();

  constructor(
    private readonly storeDir: string,
    private readonly keepDays = 3,
  ) {}

  mark(frame: FrameEntry): EventFrame {
    const path = indexPath(this.storeDir, frame.camera, frame.time);
    const key = markKey(frame.time.getTime(), frame.id);
    let day = this.days.get(path);
    if (!day?.index.marks.has(key)) day = this.readMore(path, day);
    return { time: frame.time, id: frame.id, name: frame.name, ...day?.index.marks.get(key) };
  }

  /**
   * Marks of many frames (a day's listing): each day file is read on at most once, whatever
   * the frames without a line (raw frames, an index deleted): not an open per frame.
   */
  markAll(frames: readonly FrameEntry[]): EventFrame[] {
    const fresh = new Set<string>();
    return frames.map((frame) => {
      const path = indexPath(this.storeDir, frame.camera, frame.time);
      const key = markKey(frame.time.getTime(), frame.id);
      let day = this.days.get(path);
      if (!day?.index.marks.has(key) && !fresh.has(path)) {
        fresh.add(path);
        day = this.readMore(path, day);
      }
      return { time: frame.time, id: frame.id, name: frame.name, ...day?.index.marks.get(key) };
    });
  }

  private readMore(path: string, known: { offset: number; rest: string; index: ParsedIndex } | undefined) {
    const day = known ?? { offset: 0, rest: '', index: { marks: new Map(), dropped: 0 } };
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return known;
      throw e;
    }
    try {
      const chunk = Buffer.alloc(64 * 1024);
      for (let n; (n = readSync(fd, chunk, 0, chunk.length, day.offset)) > 0; ) {
        day.offset += n;
        const text = day.rest + chunk.toString('latin1', 0, n);
        const cut = text.lastIndexOf('\n') + 1;
        parseIndex(text.slice(0, cut), day.index);
        day.rest = text.slice(cut);
      }
    } finally {
      closeSync(fd);
    }
    this.days.set(path, day);
    if (this.days.size > this.keepDays * 8) {
      // Oldest days first: paths sort by camera then day, so drop by day name.
      const byDay = [...this.days.keys()].sort((a, b) => (a.slice(-14) < b.slice(-14) ? -1 : 1));
      for (const old of byDay.slice(0, this.days.size - this.keepDays * 4)) this.days.delete(old);
    }
    return day;
  }
}
