import {
  closeSync,
  fsyncSync,
  futimesSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fsyncPath, SurveillanceError } from '@surveillance/shared';
import { DEFAULT_NAME_PATTERN, frameName } from './frame-name.ts';

/**
 * The store on disk. A frame is written to `.incoming/` under a temporary name, fsynced, then
 * hard-linked to its final name and the folder fsynced: readers never see a partial file, a
 * crash leaves at most a hidden temporary file, and `link` (unlike `rename`) refuses to replace
 * an existing name, which is what makes a resent frame a duplicate rather than a second copy.
 *
 * Synchronous I/O on purpose: one process per connection gains nothing from async fs, and on
 * this pattern it measured faster (scripts/bench/10-receiver.mjs).
 */

export const INCOMING_DIR = '.incoming';
/** A temporary file older than this belongs to a receiver that died: no live frame is so slow. */
const STALE_INCOMING_MS = 60 * 60 * 1000;

export interface FrameStoreOptions {
  root: string;
  namePattern?: string;
  /** Refuse frames when the file system has less than this many bytes free. */
  minFreeBytes?: number;
}

export interface StoredFrame {
  /** Path relative to the store root. */
  name: string;
  duplicate: boolean;
}

export interface FrameMeta {
  camera: string;
  time: Date;
  id: string;
}

function storeError(what: string, e: unknown): SurveillanceError {
  const err = e as NodeJS.ErrnoException;
  const code = err.code === 'ENOSPC' || err.code === 'EDQUOT' ? 'store-full' : 'store-failed';
  return new SurveillanceError(code, `${what}: ${err.code ?? ''} ${err.message}`.trim(), { cause: e });
}

let tempCounter = 0;

/** Bytes free for an unprivileged writer on the file system that holds `path`. */
export function freeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

export class FrameStore {
  readonly root: string;
  readonly namePattern: string;
  readonly minFreeBytes: number;
  private readonly incoming: string;
  /** Folders known to exist, so that mkdir and its fsyncs run once per folder. */
  private readonly folders = new Set<string>();

  constructor(options: FrameStoreOptions) {
    this.root = options.root;
    this.namePattern = options.namePattern ?? DEFAULT_NAME_PATTERN;
    this.minFreeBytes = options.minFreeBytes ?? 0;
    this.incoming = join(this.root, INCOMING_DIR);
  }

  /** Creates the store's folders and clears temporary files left by receivers that died. */
  open(): this {
    let names: string[];
    try {
      mkdirSync(this.incoming, { recursive: true });
      names = readdirSync(this.incoming);
    } catch (e) {
      throw storeError(`cannot create the store at ${this.root}`, e);
    }
    const now = Date.now();
    for (const name of names) {
      const path = join(this.incoming, name);
      try {
        // ctime, not mtime: a frame being committed has its mtime set to its capture time,
        // which may be long ago (a spool emptied after a night offline).
        if (now - statSync(path).ctimeMs > STALE_INCOMING_MS) unlinkSync(path);
      } catch {
        // Another receiver finished or removed it first.
      }
    }
    return this;
  }

  freeBytes(): number {
    return freeBytes(this.root);
  }

  /**
   * Starts a frame; throws store-full when the frame (as far as its size is known in advance)
   * would take the store below the reserve, so that nothing is half-written.
   */
  begin(expectedBytes = 0): FrameWriter {
    if (this.minFreeBytes > 0) {
      const free = this.freeBytes();
      if (free - expectedBytes < this.minFreeBytes) {
        throw new SurveillanceError(
          'store-full',
          `store ${this.root} has ${mib(free)} free, ${free < this.minFreeBytes ? 'below' : `and a frame of ${mib(expectedBytes)} would go below`} the reserve of ${mib(this.minFreeBytes)}; frames are refused until space is freed (surveillance-receiver prune)`,
        );
      }
    }
    const path = join(this.incoming, `${process.pid}-${++tempCounter}-${Math.random().toString(36).slice(2, 8)}.part`);
    try {
      return new FrameWriter(this, path, openSync(path, 'wx', 0o640));
    } catch (e) {
      throw storeError(`cannot create a file in ${this.incoming}`, e);
    }
  }

  /** @internal Links a finished temporary file to its final name. */
  place(tempPath: string, meta: FrameMeta): StoredFrame {
    const name = frameName(meta.camera, meta.time, meta.id, this.namePattern);
    const path = join(this.root, name);
    const folder = dirname(path);
    try {
      const duplicate = !this.link(tempPath, path, folder);
      // Synced for a DUP too: the receiver that linked the first copy may not have synced the
      // folder yet, and a DUP lets the sender delete its copy as much as an OK does.
      fsyncPath(folder);
      return { name, duplicate };
    } catch (e) {
      throw storeError(`cannot store ${name}`, e);
    } finally {
      try {
        unlinkSync(tempPath);
      } catch {
        // Already gone: the frame is (or is not) at its name, which is what counts.
      }
    }
  }

  /** Links `temp` to `path`; false when the name exists (a duplicate). */
  private link(temp: string, path: string, folder: string): boolean {
    this.ensureFolder(folder);
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(temp, path);
        return true;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return false;
        if (code !== 'ENOENT' || attempt > 0) throw e;
        // `prune` removed the folder after we made it (a long-running receiver remembers
        // folders): make it again, once.
        this.folders.delete(folder);
        this.ensureFolder(folder);
      }
    }
  }

  private ensureFolder(folder: string): void {
    if (this.folders.has(folder)) return;
    const created = mkdirSync(folder, { recursive: true });
    if (created !== undefined) {
      // Make every new folder's entry durable, from the deepest up to the one that existed.
      for (let dir = folder; dir.length >= created.length; dir = dirname(dir)) fsyncPath(dirname(dir));
    }
    this.folders.add(folder);
  }
}

export class FrameWriter {
  private closed = false;
  bytes = 0;

  constructor(
    private readonly store: FrameStore,
    private readonly path: string,
    private fd: number,
  ) {}

  write(chunk: Uint8Array): void {
    try {
      let off = 0;
      while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
      this.bytes += chunk.length;
    } catch (e) {
      this.abort();
      throw storeError('cannot write the frame', e);
    }
  }

  /** Makes the frame durable under its final name; the frame's mtime is its capture time. */
  commit(meta: FrameMeta): StoredFrame {
    try {
      futimesSync(this.fd, meta.time, meta.time);
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.closed = true;
    } catch (e) {
      this.abort();
      throw storeError('cannot flush the frame to disk', e);
    }
    return this.store.place(this.path, meta);
  }

  /** Drops the frame: nothing of it stays on disk. Safe to call more than once. */
  abort(): void {
    if (!this.closed) {
      this.closed = true;
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
    }
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}
