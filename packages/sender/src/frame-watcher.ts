import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { FSWatcher } from 'chokidar';
import { isBug, type Logger, type Spec } from '@surveillance/shared';
import { INCOMPLETE_GIVE_UP_MS, INCOMPLETE_RETRY_MS, readMonitorFile, statIdentity, type MonitorFrame } from './monitor-file.ts';

/**
 * Hands each new, whole version of the camera's picture to a handler, one at a time.
 *
 * File events (chokidar, on the file's folder, so that a writer that renames a temporary file
 * over the picture is seen too) make a new picture arrive within milliseconds; a timer checks
 * the file every interval anyway, for the events a file system does not deliver. A
 * half-written picture is looked at again after a few milliseconds, never handed on. Versions
 * are told apart by inode, size and modification time, so an unchanged file costs one stat.
 *
 * Trouble (the file missing, broken, or no longer rewritten) is logged when it starts and when
 * it ends, not on every check.
 */

/** How the picture is watched (the picture itself: pictureSpec in monitor-file.ts). */
export const watcherSpec = {
  interval: { kind: 'duration', description: 'check the file at least this often, even when no file event came', default: 1000, min: 10 },
  'min-gap': { kind: 'duration', description: 'at most one frame per this long is chosen; 0 takes every change', defaultText: 'the interval' },
  'stale-after': { kind: 'duration', description: 'warn (once) when the file has not been rewritten for this long', default: 60_000, min: 100 },
  'timer-only': { kind: 'boolean', description: 'no file events: check on the interval only, like the tutorial', default: false },
  poll: { kind: 'boolean', description: 'watch by polling (stat) instead of inotify, e.g. on network file systems', default: false },
  'poll-interval': { kind: 'duration', description: 'with --poll: how often to stat the file', default: 100, min: 10 },
} as const satisfies Spec;

export type WatchMode = 'events' | 'polling' | 'timer';

export interface FrameWatcherOptions {
  file: string;
  mode: WatchMode;
  intervalMs: number;
  /** After a frame was taken, the next is not looked at before this long. */
  minGapMs: number;
  pollIntervalMs: number;
  staleAfterMs: number;
  log: Logger;
  /**
   * Called with an error that is not a SurveillanceError (a bug): watching stops, for the
   * program to end with status 70. Operational failures (a full spool) are logged and retried.
   */
  onBug: (e: unknown) => void;
}

/** Resolves true when the frame was taken (kept): that starts the minimum gap. */
export type FrameHandler = (frame: MonitorFrame) => Promise<boolean>;

type Trouble = 'missing' | 'broken' | 'stale' | 'failing';

/**
 * chokidar passes on one change event per file per 50 ms and drops the rest (its _throttle of
 * 'change'): a picture written within 50 ms of the previous one brought no event, and waited
 * for the interval's check (a second by default). So every event is followed by one more look
 * as that window ends (our timer runs after chokidar's, set first): one stat when nothing
 * changed meanwhile.
 */
const AFTER_EVENT_RECHECK_MS = 50;

export class FrameWatcher {
  private readonly file: string;
  private chokidar: FSWatcher | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private later: NodeJS.Timeout | undefined;
  private recheck: NodeJS.Timeout | undefined;
  private stopped = false;
  private busy = false;
  private again = false;
  /** The version last handed on or given up on; the same version is not read twice. */
  private lastIdentity: string | undefined;
  private lastWriteAt = Date.now();
  private incompleteSince: number | undefined;
  private holdUntil = 0;
  /** A watch on a folder that was removed sees nothing once the folder is back: it must be made anew. */
  private folderWasGone = false;
  private readonly trouble = new Set<Trouble>();

  constructor(
    private readonly options: FrameWatcherOptions,
    private readonly handler: FrameHandler,
  ) {
    this.file = resolve(options.file);
  }

  async start(): Promise<void> {
    this.ticker = setInterval(() => this.check(), this.options.intervalMs);
    await this.watchEvents();
    this.check();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.ticker);
    clearTimeout(this.later);
    clearTimeout(this.recheck);
    await this.chokidar?.close();
    this.chokidar = undefined;
  }

  /**
   * (Re)creates the file watcher. Only when needed: closing a chokidar watcher while it is still
   * setting up the watch of a file that just appeared can leave that watch open.
   */
  private async watchEvents(): Promise<void> {
    if (this.options.mode === 'timer' || this.stopped) return;
    await this.chokidar?.close();
    const { watch } = await import('chokidar');
    const folder = dirname(this.file);
    const polling = this.options.mode === 'polling';
    const watcher = watch(folder, {
      ignoreInitial: true,
      depth: 0,
      ignored: (path: string) => path !== folder && path !== this.file,
      usePolling: polling,
      interval: this.options.pollIntervalMs,
      binaryInterval: this.options.pollIntervalMs,
    });
    this.chokidar = watcher;
    watcher.on('all', (_event: string, path: string) => {
      if (path !== this.file) return;
      this.check();
      clearTimeout(this.recheck);
      this.recheck = setTimeout(() => this.check(), AFTER_EVENT_RECHECK_MS);
    });
    watcher.on('error', (e: unknown) => this.options.log.warn(`file events for ${folder} failed (${(e as Error).message}); checking every ${this.options.intervalMs} ms still`));
    await new Promise<void>((ready) => watcher.once('ready', ready));
  }

  /** Looks at the file now, or right after the look under way. */
  private check(): void {
    if (this.stopped) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.examine()
      .catch((e: unknown) => {
        if (!isBug(e)) return this.troubleStarts('failing', `handling a frame failed: ${(e as Error).message}`);
        this.stopped = true;
        this.options.onBug(e);
      })
      .finally(() => {
        this.busy = false;
        if (this.again) {
          this.again = false;
          setImmediate(() => this.check());
        }
      });
  }

  private checkIn(ms: number): void {
    clearTimeout(this.later);
    this.later = setTimeout(() => this.check(), ms);
  }

  private async examine(): Promise<void> {
    const { file } = this;
    const now = Date.now();
    if (now < this.holdUntil) return this.checkIn(this.holdUntil - now);

    const identity = statIdentity(file);
    if (identity === undefined) return this.missing('it does not exist');
    if (identity === this.lastIdentity) {
      if (now - this.lastWriteAt >= this.options.staleAfterMs) {
        this.troubleStarts('stale', `${file} has not been rewritten for ${Math.round((now - this.lastWriteAt) / 1000)}s: has the camera stopped?`);
      }
      return;
    }

    const read = readMonitorFile(file);
    if (read.state === 'missing') return this.missing(read.why);
    // Back only once it can be read: a file that exists but may not be read (EACCES) stays missing.
    if (this.troubleEnds('missing', `${file} is back`) && this.folderWasGone) {
      this.folderWasGone = false;
      void this.watchEvents();
    }
    if (read.state === 'incomplete') {
      this.incompleteSince ??= now;
      if (now - this.incompleteSince < INCOMPLETE_GIVE_UP_MS) return this.checkIn(INCOMPLETE_RETRY_MS);
      // Left broken by its writer: wait for the next version instead of re-reading this one.
      this.incompleteSince = undefined;
      this.lastIdentity = read.identity;
      this.troubleStarts('broken', `${file} is not one whole JPEG (${read.why}); waiting for the camera to write it again`);
      return;
    }

    this.incompleteSince = undefined;
    this.lastIdentity = read.frame.identity;
    this.lastWriteAt = now;
    this.troubleEnds('broken', `${file} holds a whole JPEG again`);
    this.troubleEnds('stale', `${file} is rewritten again`);
    const taken = await this.handler(read.frame);
    this.troubleEnds('failing', 'frames are handled again');
    if (taken && this.options.minGapMs > 0) this.holdUntil = Date.now() + this.options.minGapMs;
  }

  private missing(why: string): void {
    if (!existsSync(dirname(this.file))) this.folderWasGone = true;
    this.lastIdentity = undefined;
    this.incompleteSince = undefined;
    this.troubleStarts('missing', `${this.file} cannot be read (${why}); waiting for it to appear`);
  }

  private troubleStarts(kind: Trouble, message: string): void {
    if (this.trouble.has(kind)) return;
    this.trouble.add(kind);
    this.options.log.warn({ file: this.file, trouble: kind }, message);
  }

  /** Returns true when the trouble was on. */
  private troubleEnds(kind: Trouble, message: string): boolean {
    if (!this.trouble.delete(kind)) return false;
    this.options.log.info({ file: this.file, trouble: kind }, message);
    return true;
  }
}
