import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CAMERA_NAME_PATTERN,
  FRAME_ID_PATTERN,
  formatScore,
  fsError,
  isDiskFull,
  isErrnoError,
  resolveStateFolder,
  tempName,
  tempOwner,
  writeFileDurably,
  type FrameReason,
  type Logger,
  type Spec,
} from '@surveillance/shared';

const MiB = 1024 * 1024;

/** Where the spool is and how much it may hold. */
export const spoolSpec = {
  spool: {
    kind: 'path',
    description: 'folder that keeps chosen frames until the receiver has acknowledged them; required, unless systemd sets $STATE_DIRECTORY (StateDirectory=), which is then the default',
  },
  'spool-max-bytes': { kind: 'size', description: 'spool limit; the oldest frames are dropped beyond it', default: 256 * MiB, min: 64 * 1024 },
  'spool-max-files': { kind: 'int', description: 'spool limit in frames; the oldest are dropped beyond it', default: 5000, min: 1 },
} as const satisfies Spec;

/** The spool folder: --spool, else the first folder of systemd's StateDirectory=. */
export function resolveSpool(spool: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolveStateFolder(spool, 'spool', env);
}

/**
 * Frames chosen for delivery, on disk before any network I/O, so that a receiver that is down,
 * a network that is gone or a sender that is killed loses nothing.
 *
 *   SPOOL/queue/<capture ms, 13 digits>_<frame id>_<camera>.jpg   waiting, oldest name first
 *   SPOOL/rejected/<same name>                                    refused for good by the receiver
 *   SPOOL/tmp/                                                    files being written
 *   SPOOL/reference.jpg                                           the last chosen frame (mtime = capture time)
 *   SPOOL/last-sent.json                                          the last acknowledged frame, for `status`
 *   SPOOL/dropping.json                                           frames are being dropped for room (reported once)
 *   SPOOL/picture-missing                                         `once` runs: the missing picture was reported
 *
 * The name carries all the metadata, so a frame is one atomic rename: there is no sidecar that
 * could be missing or stale. Why the frame was chosen and its score follow the camera as
 * `@<reason>=<score>` (`1795240380123_<id>_front@motion=0.0123.jpg`); '@' cannot occur in a camera
 * name, and names without it (spooled by an older sender) still deliver, without a reason. The frame id is chosen once, here, and is sent again unchanged on
 * every retry; the receiver answers DUP for a frame it already has, which makes resending safe.
 */

const QUEUE_DIR = 'queue';
const REJECTED_DIR = 'rejected';
const TMP_DIR = 'tmp';
const REFERENCE_FILE = 'reference.jpg';
const LAST_SENT_FILE = 'last-sent.json';
/** The dropping under way, so that a restart or the next `once` run does not report it again. */
const DROPPING_FILE = 'dropping.json';
/** Rejected frames are kept for inspection, not forever. */
const REJECTED_KEEP_FILES = 50;
/** How often a frame is written again when the file system is full, each time after dropping old frames. */
const FULL_DISK_RETRIES = 8;
/**
 * Dropping ends (one line says how many went) when a frame was added without dropping any and
 * the spool is below this share of its limits: a spool that hovers at its limit (a receiver
 * slower than the camera) must not log a start and an end for every frame.
 */
const ROOM_AGAIN_SHARE = 0.9;

const NAME_RE = new RegExp(`^(\\d{13})_(${FRAME_ID_PATTERN})_(${CAMERA_NAME_PATTERN})(?:@(first|motion|heartbeat)(?:=(\\d{1,6}(?:\\.\\d{1,6})?))?)?\\.jpg$`);

export interface SpooledFrame {
  /** File name inside queue/. */
  name: string;
  camera: string;
  id: string;
  time: Date;
  bytes: number;
  reason?: FrameReason;
  score?: number;
}

/** What the spool is told about a frame it is to keep. */
export interface FrameToSpool {
  camera: string;
  time: Date;
  reason?: FrameReason;
  score?: number;
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

/** Why undelivered frames are being dropped. */
type DropCause = 'limits' | 'disk-full';

interface Dropping {
  causes: Set<DropCause>;
  count: number;
  oldest: Date;
  newest: Date;
}

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  maxFiles: number;
  log?: Logger;
}

/** A new frame id: capture time (base 36, sorts by time for decades) and 32 random bits. */
function newFrameId(time: Date): string {
  return `${time.getTime().toString(36)}-${randomBytes(4).toString('hex')}`;
}

function spoolName(frame: FrameToSpool & { id: string }): string {
  const why = frame.reason ? `@${frame.reason}${frame.score !== undefined && Number.isFinite(frame.score) ? `=${formatScore(frame.score)}` : ''}` : '';
  return `${String(frame.time.getTime()).padStart(13, '0')}_${frame.id}_${frame.camera}${why}.jpg`;
}

export function parseSpoolName(name: string): Omit<SpooledFrame, 'bytes'> | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  const frame: Omit<SpooledFrame, 'bytes'> = { name, time: new Date(Number(m[1])), id: m[2]!, camera: m[3]! };
  if (m[4]) frame.reason = m[4] as FrameReason;
  if (m[5]) frame.score = Number(m[5]);
  return frame;
}

/** The spool is the sender's own store: a full disk is store-full, anything else store-failed. */
function spoolError(what: string, e: unknown): Error {
  return fsError(what, e, 'store');
}

export class Spool {
  readonly dir: string;
  private readonly queue: string;
  private readonly tmp: string;
  private readonly rejectedDir: string;
  /** The queue in memory, oldest first: a spool of thousands of frames is not re-read per frame. */
  private frames: SpooledFrame[] = [];
  private totalBytes = 0;
  /** Frames being dropped to make room: logged when it starts and when it ends, not per frame. */
  private dropping: Dropping | undefined;
  private lastSentFailing = false;

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
        const pid = tempOwner(name);
        if (pid === undefined || pid === process.pid || !isAlive(pid)) rmSync(join(this.tmp, name), { force: true });
      }
    } catch (e) {
      throw spoolError(`cannot create the spool at ${this.dir}`, e);
    }
    this.frames = readQueue(this.queue);
    this.totalBytes = this.frames.reduce((sum, f) => sum + f.bytes, 0);
    this.dropping = readDropping(join(this.dir, DROPPING_FILE));
    return this;
  }

  get count(): number {
    return this.frames.length;
  }

  oldest(): SpooledFrame | undefined {
    return this.frames[0];
  }

  /**
   * Writes a chosen frame durably, then enforces the bounds by dropping the oldest frames, never
   * the new one: the newest frame (the intruder, not the empty room before) matters most. A file
   * system that fills up before the bounds are reached is treated the same way.
   */
  add(jpeg: Uint8Array, meta: FrameToSpool): SpooledFrame {
    const id = newFrameId(meta.time);
    const name = spoolName({ ...meta, id });
    const frame: SpooledFrame = { ...parseSpoolName(name)!, bytes: jpeg.length };
    let dropped = false;
    for (let attempt = 0; ; attempt++) {
      try {
        this.write(jpeg, frame.name);
        break;
      } catch (e) {
        if (!isDiskFull(e) || attempt === FULL_DISK_RETRIES || this.frames.length === 0) throw spoolError(`cannot spool a frame in ${this.queue}`, e);
        // Old frames enough for the new one to fit; more on the next round if that was not enough.
        for (let freed = 0; freed < jpeg.length && this.frames.length > 0; ) freed += this.drop(this.frames[0]!, 'disk-full');
        dropped = true;
      }
    }
    this.insert(frame);
    dropped = this.enforceBounds(frame) || dropped;
    if (dropped) this.saveDropping();
    else this.checkRoomAgain();
    return frame;
  }

  /** Temporary file in tmp/, fsync, rename into queue/, fsync of the folder. */
  private write(jpeg: Uint8Array, name: string): void {
    writeFileDurably(join(this.queue, name), jpeg, { tempFolder: this.tmp });
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

  /**
   * Notes the last acknowledged frame for `status`. A lost note costs nothing (so no fsync), and
   * failing to write it (a full disk) says nothing about delivery: it is logged, never thrown.
   */
  recordSent(last: LastSent): void {
    try {
      writeFileDurably(join(this.dir, LAST_SENT_FILE), `${JSON.stringify(last)}\n`, { tempFolder: this.tmp, sync: false });
      this.lastSentFailing = false;
    } catch (e) {
      if (!isErrnoError(e)) throw e; // a bug, not a full disk
      if (!this.lastSentFailing) this.options.log?.warn({ code: (e as NodeJS.ErrnoException).code }, `cannot note the last frame sent in ${this.dir} (for status): ${(e as Error).message}`);
      this.lastSentFailing = true;
    }
  }

  /**
   * Whether a trouble was reported already, kept across processes: a `once` run every ten
   * seconds says that the picture is missing once, not on every run. Sets the note and returns
   * what it was; a note that cannot be written costs a repeated line, nothing more.
   */
  noteTrouble(name: 'picture-missing', on: boolean): boolean {
    const path = join(this.dir, name);
    const was = existsSync(path);
    try {
      if (on && !was) writeFileSync(path, `${new Date().toISOString()}\n`);
      if (!on && was) rmSync(path, { force: true });
    } catch {
      // reported again next time
    }
    return was;
  }

  /** The pid says whose it is (for open()); the random part keeps it from meeting a leftover. */
  private tempPath(): string {
    return join(this.tmp, tempName());
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

  /** Drops the oldest frames beyond the limits, never `keep`; true when it dropped any. */
  private enforceBounds(keep: SpooledFrame): boolean {
    const { maxBytes, maxFiles } = this.options;
    let dropped = false;
    while ((this.frames.length > maxFiles || this.totalBytes > maxBytes) && this.frames.length > 1) {
      this.drop(this.frames[0]!.name === keep.name ? this.frames[1]! : this.frames[0]!, 'limits');
      dropped = true;
    }
    return dropped;
  }

  /** Deletes an undelivered frame to make room; returns its size. */
  private drop(frame: SpooledFrame, cause: DropCause): number {
    rmSync(join(this.queue, frame.name), { force: true });
    this.forget(frame);
    const { maxBytes, maxFiles, log } = this.options;
    const dropping = (this.dropping ??= { causes: new Set(), count: 0, oldest: frame.time, newest: frame.time });
    dropping.count++;
    if (frame.time < dropping.oldest) dropping.oldest = frame.time;
    if (frame.time > dropping.newest) dropping.newest = frame.time;
    if (!dropping.causes.has(cause)) {
      dropping.causes.add(cause);
      const why = cause === 'limits' ? `spool full (limits ${maxFiles} frames, ${maxBytes} bytes)` : `the file system of ${this.dir} is full`;
      log?.warn(
        { cause, oldestDropped: frame.time.toISOString(), files: this.frames.length, bytes: this.totalBytes },
        `${why}: dropping the oldest undelivered frames to make room for new ones, until it has room again`,
      );
    }
    return frame.bytes;
  }

  /** After the new frame is in: a note of the dropping first, on a full disk, could take its room. */
  private saveDropping(): void {
    if (!this.dropping) return;
    const { causes, count, oldest, newest } = this.dropping;
    try {
      writeFileSync(join(this.dir, DROPPING_FILE), `${JSON.stringify({ causes: [...causes], count, oldest, newest })}\n`);
    } catch {
      // A restart would report the dropping once more, nothing worse.
    }
  }

  /** After an add that dropped nothing: ends the dropping, with one line that says how many went. */
  private checkRoomAgain(): void {
    const { maxBytes, maxFiles, log } = this.options;
    if (!this.dropping || this.frames.length > maxFiles * ROOM_AGAIN_SHARE || this.totalBytes > maxBytes * ROOM_AGAIN_SHARE) return;
    const { count, oldest, newest } = this.dropping;
    this.dropping = undefined;
    rmSync(join(this.dir, DROPPING_FILE), { force: true });
    log?.info(
      { dropped: count, oldestDropped: oldest.toISOString(), newestDropped: newest.toISOString(), files: this.frames.length, bytes: this.totalBytes },
      `spool has room again: ${count} undelivered frame(s) were dropped, captured from ${oldest.toISOString()} to ${newest.toISOString()}`,
    );
  }
}

function readDropping(path: string): Dropping | undefined {
  try {
    const saved = JSON.parse(readFileSync(path, 'utf8')) as { causes: DropCause[]; count: number; oldest: string; newest: string };
    const dropping = { causes: new Set(saved.causes), count: saved.count, oldest: new Date(saved.oldest), newest: new Date(saved.newest) };
    return Number.isInteger(dropping.count) && !Number.isNaN(dropping.oldest.getTime() + dropping.newest.getTime()) ? dropping : undefined;
  } catch {
    return undefined; // none, or a note torn by a crash: the next drop reports anew
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
