import { closeSync, fsync, openSync } from 'node:fs';

/**
 * Group commit for folder entries. A frame is durable under its name once the folder that
 * holds the new link has been fsynced *after* the link was made. When frames from many cameras
 * arrive together, each link need not pay its own folder fsync: one fsync that starts after
 * several links covers them all.
 *
 * Per folder there is at most one fsync running and at most one waiting. A caller whose link
 * is already made joins the waiting one (it has not started, so it will cover the link), or
 * queues one behind the running one (which may have started before the link, so it does not
 * count). The waiting fsync starts on the next turn of the event loop's microtasks, so links
 * made in the same tick share it. Each caller's promise settles only after an fsync that began
 * after its link: the OK it guards is never early. An fsync error rejects every caller it
 * covered, each of which then answers its own frame with the error.
 *
 * fsync runs on libuv's thread pool (not fsyncSync), so that one connection's wait for the
 * disk does not stop the others from reading and writing their frames.
 */
export class GroupSync {
  private readonly waiting = new Map<string, Promise<void>>();
  private readonly running = new Map<string, Promise<void>>();
  /** fsyncs started, for the benchmark and tests: fewer than sync() calls when grouping works. */
  started = 0;

  /** Resolves once `folder` was fsynced after this call: call it after the link is made. */
  sync(folder: string): Promise<void> {
    const queued = this.waiting.get(folder);
    if (queued) return queued;
    const before = this.running.get(folder) ?? Promise.resolve();
    const next = before
      .catch(() => undefined) // the earlier fsync's error was its callers'
      .then(() => {
        // From here on a new link needs a later fsync: this one may start before it is made.
        this.waiting.delete(folder);
        this.started++;
        const run = fsyncFolder(folder);
        this.running.set(folder, run);
        return run.finally(() => {
          if (this.running.get(folder) === run) this.running.delete(folder);
        });
      });
    this.waiting.set(folder, next);
    return next;
  }
}

/**
 * fsync of a folder (or any path): the fsync on the thread pool, the open and close on the
 * event loop. Only the fsync waits for the disk: the folder was just linked into, so its
 * lookup is cached, and a close makes nothing more durable. A trip to the pool for each would
 * cost more than the call: a pool thread woken, then the loop (16 cameras, strace -f -c per
 * frame: 31.1 futex calls with all three on the pool, 23.6 without). Settles once the fsync has.
 */
export function fsyncFolder(path: string): Promise<void> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return Promise.reject(e);
  }
  return new Promise((resolve, reject) => {
    fsync(fd, (syncError) => {
      closeQuietly(fd);
      if (syncError) reject(syncError);
      else resolve();
    });
  });
}

/** A close whose error changes nothing: the fsync before it said whether the data is safe. */
function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // EBADF cannot happen here, and EIO from a folder's close has nothing left to lose.
  }
}

/** fsync of an open file on the thread pool. */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}
