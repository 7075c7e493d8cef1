import { close, closeSync, fsync, futimesSync, link, open, rename, unlink, writev } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeFolder, nameTaken, tempName, type CommitOptions, type DurableFileOptions } from './durable-file.ts';
import { fsyncFolder } from './group-sync.ts';

/**
 * DurableFile (durable-file.ts) for a process that writes many files at once, a listener
 * above all: the same steps in the same order (a temporary file, its data fsynced, then its
 * name by link or rename, then the folder fsynced), every one that can wait for the disk on
 * libuv's thread pool. In one process serving many connections, a synchronous call stops them
 * all while it waits, and open(2) (ext4 searching for a free inode, the folder's lock),
 * write(2), fsync(2) and link(2) all can. Off the event loop, one frame's fsync overlaps with
 * the next frames' bytes arriving, and several run at once, which the disk serves faster than
 * one after another (scripts/bench/10-receiver.mjs).
 *
 * write() keeps the synchronous signature the connection needs: the bytes are held (never
 * copied) and written by one writev(2) on the pool when enough have come, or at commit. So the
 * bytes held per file stay under FLUSH_BYTES plus what arrives during one write. Calls for one
 * file run one after another, in order; an error is kept and thrown by the next write() or by
 * commit(), and the file is dropped.
 */

/**
 * Held bytes written once there are this many: a 300 KB frame costs one writev at commit, and
 * a listener's 64 connections (--max-connections) hold at most about 32 MiB between them.
 */
const FLUSH_BYTES = 512 * 1024;
/** ...or this many chunks: a peer trickling bytes must not make us hold a million tiny ones. */
const FLUSH_CHUNKS = 256;

export class AsyncDurableFile {
  /** Bytes written so far (held ones included). */
  bytes = 0;
  private fd: number | undefined;
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  /** The file's calls on the pool so far, chained: the next one starts after the last. */
  private busy: Promise<void>;
  private flushQueued = false;
  private failure: unknown;
  private dropped = false;
  private committing = false;

  private constructor(readonly tempPath: string, folder: string, mode: number) {
    this.busy = this.openIn(folder, mode);
  }

  /**
   * Starts the temporary file in `folder` (see DurableFile.create) and returns at once; the
   * open runs on the pool. A missing folder is made and synced, as commit does for a target's.
   */
  static start(folder: string, options: DurableFileOptions = {}): AsyncDurableFile {
    return new AsyncDurableFile(join(folder, tempName(options.prefix)), folder, options.mode ?? 0o640);
  }

  /** Appends; throws (and drops the file) if an earlier step of this file failed. */
  write(chunk: Uint8Array): void {
    if (this.failure !== undefined) {
      this.abort();
      throw this.failure;
    }
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    this.bytes += chunk.length;
    if ((this.heldBytes >= FLUSH_BYTES || this.held.length >= FLUSH_CHUNKS) && !this.flushQueued) {
      this.flushQueued = true;
      this.chain(() => {
        this.flushQueued = false;
        return this.writeHeld();
      });
    }
  }

  /**
   * Gives the file its name durably, as DurableFile.commit: false (and the file dropped) when
   * `how` is link and the name exists. The folder is fsynced by `syncFolder` when given (a
   * GroupSync shared by the frames linked together; called after the link, for an existing
   * name too), at the same time as the temporary name is removed; both are done when it
   * resolves.
   */
  async commit(target: string, options: CommitOptions & { syncFolder?: (folder: string) => Promise<void> }): Promise<boolean> {
    const sync = options.sync ?? true;
    this.committing = true;
    try {
      await this.chain(() => this.writeHeld());
      if (this.failure !== undefined) throw this.failure;
      if (this.fd === undefined) throw new Error(`${this.tempPath}: commit after abort`);
      const fd = this.fd;
      // Synchronous, as they only change the inode in memory (the fsync writes it): a trip to
      // the pool costs more than they do, and every trip wakes a thread on a busy machine.
      if (options.mtime) futimesSync(fd, options.mtime, options.mtime);
      if (sync) await call((done) => fsync(fd, done));
      this.fd = undefined;
      closeSync(fd);
      const placed = await placeName(this.tempPath, target, options.how);
      await Promise.all([removeName(this.tempPath), sync === true ? (options.syncFolder ?? fsyncFolder)(dirname(target)) : undefined]);
      return placed;
    } catch (e) {
      await this.drop();
      throw e;
    } finally {
      this.committing = false;
    }
  }

  /**
   * Drops everything written, once the call under way (if any) is over. Safe to call more than
   * once. During commit() it does nothing: the commit finishes, or fails and drops the file
   * itself (closing the fd under a running fsync could close a file that reused its number).
   */
  abort(): void {
    if (this.committing || this.dropped) return;
    this.dropped = true;
    this.held = [];
    this.heldBytes = 0;
    void this.chain(() => this.drop());
  }

  /** Chains a step after the file's last one; a step's error is kept, not thrown. */
  private chain(step: () => Promise<void>): Promise<void> {
    this.busy = this.busy.then(step).catch((e: unknown) => {
      this.failure ??= e;
      return this.drop();
    });
    return this.busy;
  }

  private openIn(folder: string, mode: number): Promise<void> {
    const attempt = (retried: boolean): Promise<void> =>
      call<number>((done) => open(this.tempPath, 'wx', mode, done)).then(
        (fd) => {
          this.fd = fd;
        },
        (e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT' || retried) throw e;
          // Synchronous, as DurableFile does: a removed `.incoming/` is rare.
          makeFolder(folder);
          return attempt(true);
        },
      );
    return attempt(false).catch((e: unknown) => {
      this.failure = e;
    });
  }

  private async writeHeld(): Promise<void> {
    if (this.failure !== undefined || this.dropped || this.held.length === 0) return;
    const chunks = this.held;
    this.held = [];
    this.heldBytes = 0;
    await writevAll(this.fd!, chunks);
  }

  /** Closes and removes the temporary file, on the pool. */
  private async drop(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await new Promise((resolve) => close(fd, resolve));
    await removeName(this.tempPath);
  }
}

async function placeName(temp: string, target: string, how: 'rename' | 'link'): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await call((done) => (how === 'rename' ? rename : link)(temp, target, done));
      return true;
    } catch (e) {
      if (nameTaken(e, how, target, attempt)) return false;
    }
  }
}

/** writev(2) until every byte is written: one call may write less than it was given. */
async function writevAll(fd: number, chunks: Uint8Array[]): Promise<void> {
  let rest = chunks;
  while (rest.length > 0) {
    let written = await call<number>((done) => writev(fd, rest, done));
    let i = 0;
    while (i < rest.length && written >= rest[i]!.length) written -= rest[i++]!.length;
    rest = rest.slice(i);
    if (written > 0) rest[0] = rest[0]!.subarray(written);
  }
}

/** A Node callback call as a promise (util.promisify without its per-call wrapping). */
function call<T = void>(start: (done: (e: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((e, value) => (e ? reject(e) : resolve(value as T))));
}

/** unlink(2) of a temporary name that may be gone already (linked and removed, or never made). */
function removeName(path: string): Promise<void> {
  return new Promise((resolve) => unlink(path, () => resolve()));
}
