import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { fsyncPath, SurveillanceError, type Logger } from '@surveillance/shared';

/**
 * Frames chosen for delivery, on disk before any network I/O, so that a receiver that is down,
 * a network that is gone or a sender that is killed loses nothing.
 *
 *   SPOOL/queue/<capture ms, 13 digits>_<frame id>_<camera>.jpg   waiting, oldest name first
 *   SPOOL/rejected/<same name>                                    refused for good by the receiver
 *   SPOOL/tmp/                                                    files being written
 *   SPOOL/reference.jpg                                           the last chosen frame (mtime = capture time)
 *   SPOOL/last-sent.json                                          the last acknowledged frame, for `status`
 *
 * The name carries all the metadata, so a frame is one atomic rename: there is no sidecar that
 * could be missing or stale. The frame id is chosen once, here, and is sent again unchanged on
 * every retry; the receiver answers DUP for a frame it already has, which makes resending safe.
 */

export const QUEUE_DIR = 'queue';
export const REJECTED_DIR = 'rejected';
const TMP_DIR = 'tmp';
const REFERENCE_FILE = 'reference.jpg';
const LAST_SENT_FILE = 'last-sent.json';
/** Rejected frames are kept for inspection, not forever. */
const REJECTED_KEEP_FILES = 50;

const NAME_RE = /^(\d{13})_([A-Za-z0-9-]{1,64})_([A-Za-z0-9][A-Za-z0-9._-]{0,63})\.jpg$/;

export interface SpooledFrame {
  /** File name inside queue/. */
  name: string;
  camera: string;
  id: string;
  time: Date;
  bytes: number;
}

export interface LastSent {
  id: string;
  camera: string;
  time: string;
  /** The receiver's name for the stored frame. */
  stored: string;
  status: 'OK' | 'DUP';
  acknowledgedAt: string;
}

export interface SpoolStats {
  files: number;
  bytes: number;
  oldest?: Date;
  newest?: Date;
  rejected: number;
}

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  maxFiles: number;
  log?: Logger;
}

/** A new frame id: capture time (base 36, sorts by time for decades) and 32 random bits. */
export function newFrameId(time: Date): string {
  return `${time.getTime().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export function spoolName(frame: { time: Date; id: string; camera: string }): string {
  return `${String(frame.time.getTime()).padStart(13, '0')}_${frame.id}_${frame.camera}.jpg`;
}

export function parseSpoolName(name: string): Omit<SpooledFrame, 'bytes'> | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  return { name, time: new Date(Number(m[1])), id: m[2]!, camera: m[3]! };
}


function spoolError(what: string, e: unknown): SurveillanceError {
  const err = e as NodeJS.ErrnoException;
  const code = err.code === 'ENOSPC' || err.code === 'EDQUOT' ? 'store-full' : 'store-failed';
  return new SurveillanceError(code, `${what}: ${err.code ?? ''} ${err.message}`.trim(), { cause: e });
}

export class Spool {
  readonly dir: string;
  private readonly queue: string;
  private readonly tmp: string;
  private readonly rejectedDir: string;
  /** The queue in memory, oldest first: a spool of thousands of frames is not re-read per frame. */
  private frames: SpooledFrame[] = [];
  private totalBytes = 0;

  constructor(private readonly options: SpoolOptions) {
    this.dir = options.dir;
    this.queue = join(this.dir, QUEUE_DIR);
    this.tmp = join(this.dir, TMP_DIR);
    this.rejectedDir = join(this.dir, REJECTED_DIR);
  }

  /** Creates the folders, removes what killed senders were writing, and reads the queue. */
  open(): this {
    try {
      for (const d of [this.queue, this.tmp, this.rejectedDir]) mkdirSync(d, { recursive: true });
      // Only what dead senders left: another sender on the same spool may be writing right now.
      // Our own pid is a dead sender's too: one that had it before a crash and a reboot (a fixed
      // boot order hands out the same pids); this process has written nothing yet.
      for (const name of readdirSync(this.tmp)) {
        const pid = Number(name.split('-')[0]);
        if (pid === process.pid || !isAlive(pid)) rmSync(join(this.tmp, name), { force: true });
      }
    } catch (e) {
      throw spoolError(`cannot create the spool at ${this.dir}`, e);
    }
    this.frames = readQueue(this.queue);
    this.totalBytes = this.frames.reduce((sum, f) => sum + f.bytes, 0);
    return this;
  }

  get count(): number {
    return this.frames.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  oldest(): SpooledFrame | undefined {
    return this.frames[0];
  }

  /**
   * Writes a chosen frame durably: temporary file, fsync, rename into queue/, fsync of the
   * folder. Then enforces the bounds by dropping the oldest frames, never the new one.
   */
  add(jpeg: Uint8Array, meta: { camera: string; time: Date }): SpooledFrame {
    const id = newFrameId(meta.time);
    const frame: SpooledFrame = { name: spoolName({ ...meta, id }), camera: meta.camera, id, time: meta.time, bytes: jpeg.length };
    const temp = this.tempPath();
    try {
      const fd = openSync(temp, 'wx', 0o640);
      try {
        writeAll(fd, jpeg);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, join(this.queue, frame.name));
      fsyncPath(this.queue);
    } catch (e) {
      rmSync(temp, { force: true });
      throw spoolError(`cannot spool a frame in ${this.queue}`, e);
    }
    this.insert(frame);
    this.enforceBounds(frame);
    return frame;
  }

  /** The frame's bytes, or undefined when it is gone (dropped by the bounds, or by another sender). */
  read(frame: SpooledFrame): Buffer | undefined {
    try {
      return readFileSync(join(this.queue, frame.name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw spoolError(`cannot read spooled frame ${frame.name}`, e);
      this.forget(frame);
      return undefined;
    }
  }

  /** Deletes a frame the receiver has acknowledged. */
  remove(frame: SpooledFrame): void {
    try {
      unlinkSync(join(this.queue, frame.name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw spoolError(`cannot remove delivered frame ${frame.name}`, e);
    }
    this.forget(frame);
  }

  /** Moves a frame the receiver will never take out of the way, so that the queue goes on. */
  reject(frame: SpooledFrame): void {
    try {
      renameSync(join(this.queue, frame.name), join(this.rejectedDir, frame.name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw spoolError(`cannot move ${frame.name} to ${this.rejectedDir}`, e);
    }
    this.forget(frame);
    const kept = readdirSync(this.rejectedDir).filter((n) => NAME_RE.test(n)).sort();
    for (const old of kept.slice(0, Math.max(0, kept.length - REJECTED_KEEP_FILES))) rmSync(join(this.rejectedDir, old), { force: true });
  }

  /**
   * Makes a spooled frame the reference the next frames are compared with. A hard link, not a
   * copy: no second write of the bytes, and the reference survives the frame's delivery.
   */
  setReference(frame: SpooledFrame): void {
    const temp = this.tempPath();
    try {
      linkSync(join(this.queue, frame.name), temp);
      utimesSync(temp, frame.time, frame.time);
      renameSync(temp, join(this.dir, REFERENCE_FILE));
    } catch (e) {
      rmSync(temp, { force: true });
      throw spoolError('cannot keep the reference frame', e);
    }
  }

  readReference(): { jpeg: Buffer; time: Date } | undefined {
    const path = join(this.dir, REFERENCE_FILE);
    try {
      return { time: statSync(path).mtime, jpeg: readFileSync(path) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw spoolError('cannot read the reference frame', e);
    }
  }

  /** Notes the last acknowledged frame for `status`; a lost note costs nothing, so no fsync. */
  recordSent(last: LastSent): void {
    const temp = this.tempPath();
    writeFileSync(temp, `${JSON.stringify(last)}\n`);
    renameSync(temp, join(this.dir, LAST_SENT_FILE));
  }

  /** The pid says whose it is (for open()); the random part keeps it from meeting a leftover. */
  private tempPath(): string {
    return join(this.tmp, `${process.pid}-${randomBytes(6).toString('hex')}.part`);
  }

  private insert(frame: SpooledFrame): void {
    const last = this.frames.at(-1);
    this.frames.push(frame);
    if (last && last.name > frame.name) this.frames.sort(byName);
    this.totalBytes += frame.bytes;
  }

  private forget(frame: SpooledFrame): void {
    const i = this.frames.findIndex((f) => f.name === frame.name);
    if (i === -1) return;
    this.totalBytes -= this.frames[i]!.bytes;
    this.frames.splice(i, 1);
  }

  private enforceBounds(keep: SpooledFrame): void {
    const { maxBytes, maxFiles, log } = this.options;
    const dropped: SpooledFrame[] = [];
    while ((this.frames.length > maxFiles || this.totalBytes > maxBytes) && this.frames.length > 1) {
      const oldest = this.frames[0]!.name === keep.name ? this.frames[1]! : this.frames[0]!;
      rmSync(join(this.queue, oldest.name), { force: true });
      this.forget(oldest);
      dropped.push(oldest);
    }
    if (dropped.length > 0) {
      log?.warn(
        { dropped: dropped.length, oldestDropped: dropped[0]!.time.toISOString(), files: this.frames.length, bytes: this.totalBytes },
        `spool full (limits ${maxFiles} frames, ${maxBytes} bytes): dropped the ${dropped.length} oldest undelivered frame(s)`,
      );
    }
  }
}

/** Whether a process exists (EPERM: it does, under another user). */
function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function byName(a: SpooledFrame, b: SpooledFrame): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}

function readQueue(dir: string): SpooledFrame[] {
  const frames: SpooledFrame[] = [];
  for (const name of readdirSync(dir)) {
    const parsed = parseSpoolName(name);
    if (!parsed) continue;
    try {
      frames.push({ ...parsed, bytes: statSync(join(dir, name)).size });
    } catch {
      // Delivered by another sender on the same spool meanwhile.
    }
  }
  return frames.sort(byName);
}

/** What `status` shows, read from the folder without opening (or changing) the spool. */
export function spoolStats(dir: string): SpoolStats & { lastSent?: LastSent } {
  let frames: SpooledFrame[] = [];
  let rejected = 0;
  try {
    frames = readQueue(join(dir, QUEUE_DIR));
    rejected = readdirSync(join(dir, REJECTED_DIR)).filter((n) => NAME_RE.test(n)).length;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw spoolError(`cannot read the spool at ${dir}`, e);
  }
  let lastSent: LastSent | undefined;
  try {
    lastSent = JSON.parse(readFileSync(join(dir, LAST_SENT_FILE), 'utf8')) as LastSent;
  } catch {
    // Nothing acknowledged yet.
  }
  return {
    files: frames.length,
    bytes: frames.reduce((sum, f) => sum + f.bytes, 0),
    oldest: frames[0]?.time,
    newest: frames.at(-1)?.time,
    rejected,
    lastSent,
  };
}
