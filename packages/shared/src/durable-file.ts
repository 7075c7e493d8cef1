import { closeSync, fsyncSync, futimesSync, linkSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * A file that appears under its name whole and durable, or not at all: bytes go to a temporary
 * file, are fsynced, the file gets its name by rename(2) or link(2), and the folder that holds
 * the name is fsynced. Until that last fsync a crash could lose the name even though the data
 * is on disk, so callers answer OK, or delete the sender's copy, only after commit() returned.
 *
 * Synchronous I/O on purpose: one process per connection gains nothing from async fs, and on
 * this pattern it measured faster (scripts/bench/10-receiver.mjs). A process writing many
 * files at once uses AsyncDurableFile (durable-file-async.ts), the same on the thread pool. Errors are Node's own errno
 * errors, for the caller to turn into its error code with fsError (fs-error.ts): the same
 * ENOSPC is `store-full` to the receiver and `cannot-write` to an export.
 */

/** write(2) until every byte is written: one call may write less than it was given. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}

/** fsync(2) of a path, a folder above all: a new name in it is durable only once it is synced. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * A temporary name that says whose it is: `PREFIX<pid>-<random>.part`. The pid lets start-up
 * clean-up tell a dead writer's leftovers from a live one's (see tempOwner); the random part
 * keeps a new file from meeting a leftover of a process that had the same pid before a reboot.
 */
export function tempName(prefix = ''): string {
  // Math.random, not node:crypto: the name needs no secrecy (the file is created with O_EXCL),
  // and the per-connection receiver should not load crypto for it.
  const random = Math.floor(Math.random() * 2 ** 48).toString(16).padStart(12, '0');
  return `${prefix}${process.pid}-${random}.part`;
}

/** The pid in a name made by tempName (without a prefix), or undefined. */
export function tempOwner(name: string): number | undefined {
  const m = /^(\d+)-[0-9a-f]+\.part$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export interface DurableFileOptions {
  /** Prefix of the temporary name, e.g. `.out.jpg.` for a hidden file beside its target. */
  prefix?: string;
  /** Permission bits of the new file (before the umask). */
  mode?: number;
}

export interface CommitOptions {
  /** rename replaces an existing target; link refuses it, which makes a resent frame a DUP. */
  how: 'rename' | 'link';
  /** The file's modification time, e.g. a frame's capture time. */
  mtime?: Date;
  /**
   * false: no fsync at all, for notes whose loss costs nothing (still never half-written).
   * 'data': the file's data only; the caller fsyncs the folder (several links at once, GroupSync).
   */
  sync?: boolean | 'data';
}

export class DurableFile {
  /** Bytes written so far. */
  bytes = 0;
  private fd: number | undefined;

  private constructor(
    readonly tempPath: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /**
   * Creates the temporary file in `folder` at once, so that an unwritable place fails before
   * any work. The folder should be on the file system of the target (rename and link do not
   * cross file systems): the target's own folder, or a hidden one beside it.
   */
  static create(folder: string, options: DurableFileOptions = {}): DurableFile {
    const path = join(folder, tempName(options.prefix));
    return new DurableFile(path, openSync(path, 'wx', options.mode ?? 0o640));
  }

  /** Appends; on an error the file is dropped and the error thrown. */
  write(chunk: Uint8Array): void {
    try {
      writeAll(this.fd!, chunk);
      this.bytes += chunk.length;
    } catch (e) {
      this.abort();
      throw e;
    }
  }

  /**
   * Gives the file its name, durably. Returns false (and drops the file) when `how` is link and
   * the name exists already. A missing folder of the target is made, and its new entries
   * synced, when the first attempt says ENOENT: the usual case (the folder exists) pays nothing.
   * The temporary file is gone afterwards, whatever happened.
   */
  commit(target: string, options: CommitOptions): boolean {
    const sync = options.sync ?? true;
    const folder = dirname(target);
    try {
      if (options.mtime) futimesSync(this.fd!, options.mtime, options.mtime);
      if (sync) fsyncSync(this.fd!);
      closeSync(this.fd!);
      this.fd = undefined;
      const placed = placeName(this.tempPath, target, options.how);
      // Synced for an existing name too: the writer that made it may not have synced the folder
      // yet, and "it is there" lets a sender delete its copy as much as "stored" does.
      if (sync === true) fsyncPath(folder);
      return placed;
    } finally {
      this.abort();
    }
  }

  /** Drops everything written; safe to call more than once, and after commit. */
  abort(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
    try {
      unlinkSync(this.tempPath);
    } catch {
      // already gone (renamed, or never there)
    }
  }
}

function placeName(temp: string, target: string, how: 'rename' | 'link'): boolean {
  for (let attempt = 0; ; attempt++) {
    try {
      if (how === 'rename') renameSync(temp, target);
      else linkSync(temp, target);
      return true;
    } catch (e) {
      if (nameTaken(e, how, target, attempt)) return false;
    }
  }
}

/**
 * @internal A failed rename or link of `attempt` (0, 1): true when the name is taken (link's
 * EEXIST); false when the caller should try again, the target's folder having been made after
 * a first ENOENT; otherwise it throws the error.
 */
export function nameTaken(e: unknown, how: 'rename' | 'link', target: string, attempt: number): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EEXIST' && how === 'link') return true;
  if (code !== 'ENOENT' || attempt > 0) throw e;
  makeFolder(dirname(target));
  return false;
}

/** mkdir -p, then fsync of every new entry, from the deepest up to the folder that existed. */
export function makeFolder(folder: string): void {
  const created = mkdirSync(folder, { recursive: true });
  if (created === undefined) return;
  for (let dir = folder; dir.length >= created.length; dir = dirname(dir)) fsyncPath(dirname(dir));
}

/**
 * Writes `bytes` to `path` whole and durably, through a temporary file in `tempFolder`
 * (default: beside the target, hidden). Errors are Node's errno errors (see fsError).
 */
export function writeFileDurably(
  path: string,
  bytes: Uint8Array | string,
  options: DurableFileOptions & { tempFolder?: string; sync?: boolean } = {},
): void {
  const file = DurableFile.create(options.tempFolder ?? dirname(path), { prefix: options.tempFolder ? options.prefix : '.', mode: options.mode });
  file.write(typeof bytes === 'string' ? Buffer.from(bytes) : bytes); // drops the file on an error
  file.commit(path, { how: 'rename', sync: options.sync });
}
