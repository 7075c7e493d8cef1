import {
  closeSync,
  createReadStream,
  futimesSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fsError, fsyncFd, fsyncPath, GroupSync, SurveillanceError } from '@surveillance/shared';
import { framePath, frameSizes, latestFrame, listCameras, listDays, listFrames } from './file-index.ts';
import { cacheDirOf, forgetThumbnails, INCOMING_DIR, THUMBS_DIR } from './file-layout.ts';
import { DEFAULT_NAME_PATTERN, frameName, readFrameName } from './frame-name.ts';
import type {
  FrameData,
  FrameEntry,
  FrameMeta,
  FrameQuery,
  FrameWriter,
  RemoveOutcome,
  Store,
  StoreChanges,
  StoredFrame,
} from './store.ts';

/**
 * The store as files on one machine. A frame is written to `.incoming/` under a temporary
 * name, fsynced, then hard-linked to its final name and the folder fsynced: readers never see
 * a partial file, a crash leaves at most a hidden temporary file, and `link` (unlike `rename`)
 * refuses to replace an existing name, which is what makes a resent frame a duplicate rather
 * than a second copy. Names are `CAMERA/<pattern in UTC>_<ID>.jpg` (frame-name.ts); the index
 * side reads them back from folder listings alone (file-index.ts).
 *
 * Synchronous I/O on purpose: one process per connection gains nothing from async fs, and on
 * this pattern it measured faster (scripts/bench/10-receiver.mjs). `commit` still returns a
 * promise, as the Store interface asks (a store over the network needs it).
 */

/** A temporary file older than this belongs to a receiver that died: no live frame is so slow. */
const STALE_INCOMING_MS = 60 * 60 * 1000;

export interface FileStoreOptions {
  root: string;
  namePattern?: string;
  /** Refuse frames when the file system has less than this many bytes free. */
  minFreeBytes?: number;
}

/** A file-system error as `store-full` or `store-failed`; anything else is a bug and stays one. */
function storeError(what: string, e: unknown): Error {
  return fsError(what, e, 'store');
}

let tempCounter = 0;

/** Bytes free for an unprivileged writer on the file system that holds `path`. */
function freeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

export class FileStore implements Store {
  readonly root: string;
  readonly namePattern: string;
  readonly minFreeBytes: number;
  private readonly incoming: string;
  /** Folders known to exist, so that mkdir and its fsyncs run once per folder. */
  private readonly folders = new Set<string>();
  private readonly folderSync = new GroupSync();

  constructor(options: FileStoreOptions) {
    this.root = options.root;
    this.namePattern = options.namePattern ?? DEFAULT_NAME_PATTERN;
    this.minFreeBytes = options.minFreeBytes ?? 0;
    this.incoming = join(this.root, INCOMING_DIR);
  }

  get location(): string {
    return this.root;
  }

  /** True when the store's folder is there (reading never creates it). */
  async exists(): Promise<boolean> {
    try {
      return statSync(this.root).isDirectory();
    } catch {
      return false;
    }
  }

  /** Makes the store ready for writing: its folders, and no temporary files of dead receivers. */
  prepare(): this {
    try {
      mkdirSync(this.incoming, { recursive: true });
    } catch (e) {
      throw storeError(`cannot create the store at ${this.root}`, e);
    }
    this.tidy();
    return this;
  }

  /** Removes temporary files left by receivers that died, and forgets folders made before. */
  tidy(): void {
    this.folders.clear();
    let names: string[];
    try {
      names = readdirSync(this.incoming);
    } catch (e) {
      throw storeError(`cannot read ${this.incoming}`, e);
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
  }

  async close(): Promise<void> {
    // Nothing held open between frames.
  }

  async freeBytes(): Promise<number> {
    return freeBytes(this.root);
  }

  /**
   * Starts a frame; throws store-full when the frame (as far as its size is known in advance)
   * would take the store below the reserve, so that nothing is half-written.
   */
  begin(expectedBytes = 0): FrameWriter {
    if (this.minFreeBytes > 0) {
      const free = freeBytes(this.root);
      if (free - expectedBytes < this.minFreeBytes) {
        throw new SurveillanceError(
          'store-full',
          `store ${this.root} has ${mib(free)} free, ${free < this.minFreeBytes ? 'below' : `and a frame of ${mib(expectedBytes)} would go below`} the reserve of ${mib(this.minFreeBytes)}; frames are refused until space is freed (surveillance-receiver prune)`,
        );
      }
    }
    const path = join(this.incoming, `${process.pid}-${++tempCounter}-${Math.random().toString(36).slice(2, 8)}.part`);
    try {
      return new FileFrameWriter(this, path, openSync(path, 'wx', 0o640));
    } catch (e) {
      throw storeError(`cannot create a file in ${this.incoming}`, e);
    }
  }

  // The index side (FrameIndex), over file-index.ts.

  async cameras(): Promise<string[]> {
    return listCameras(this.root);
  }

  async days(camera: string): Promise<string[]> {
    return listDays(this.root, camera, this.namePattern);
  }

  async frames(query: FrameQuery = {}): Promise<FrameEntry[]> {
    return listFrames(this.root, { ...query, pattern: this.namePattern });
  }

  async latest(camera?: string): Promise<FrameEntry | undefined> {
    return latestFrame(this.root, camera, this.namePattern);
  }

  async sizes(frames: readonly FrameEntry[]): Promise<number[]> {
    return frameSizes(this.root, frames);
  }

  parseName(text: string): FrameEntry | undefined {
    return readFrameName(text, this.namePattern);
  }

  locate(name: string): string {
    return framePath(this.root, { name });
  }

  async open(name: string): Promise<FrameData | undefined> {
    // Only a name this store could have made becomes a path (never `..` or a hidden folder).
    if (readFrameName(name, this.namePattern)?.name !== name) return undefined;
    const path = framePath(this.root, { name });
    let stats;
    try {
      stats = statSync(path);
    } catch (e) {
      if (isGone(e)) return undefined;
      throw storeError(`cannot read ${name}`, e);
    }
    if (!stats.isFile()) return undefined;
    return {
      size: stats.size,
      time: stats.mtime,
      stream: () => createReadStream(path),
      bytes: async () => {
        try {
          return readFileSync(path);
        } catch (e) {
          throw storeError(`cannot read ${name}`, e);
        }
      },
    };
  }

  async remove(frames: readonly FrameEntry[], options: { dryRun?: boolean } = {}): Promise<RemoveOutcome> {
    const folders = emptiedFolders(this.root, frames);
    if (options.dryRun) return { removed: frames.length, emptied: folders.length, failed: [] };
    const outcome: RemoveOutcome = { removed: 0, emptied: 0, failed: [] };
    const gone: string[] = [];
    for (const frame of frames) {
      try {
        unlinkSync(framePath(this.root, frame));
      } catch (e) {
        // Gone already (another prune, a person): the goal is met.
        if (!isGone(e)) {
          outcome.failed.push({ name: frame.name, reason: (e as NodeJS.ErrnoException).code ?? (e as Error).message });
          continue;
        }
      }
      outcome.removed++;
      gone.push(frame.name);
    }
    for (const folder of folders) {
      try {
        // rmdir, not rm -r: a frame the receiver just linked into the folder keeps it.
        rmdirSync(join(this.root, folder));
        outcome.emptied++;
      } catch {
        // not empty after all, or gone: both fine
      }
    }
    // The gallery's thumbnails go with their frames (only those in the store: a reviewer's own
    // cache folder is theirs to clear).
    forgetThumbnails(join(this.root, THUMBS_DIR), gone);
    return outcome;
  }

  cacheDir(env: NodeJS.ProcessEnv): string {
    return cacheDirOf(this.root, env);
  }

  async watch(): Promise<StoreChanges> {
    // chokidar and the watcher only for those who watch (the gallery), never per connection.
    const { StoreWatch } = await import('./file-watch.ts');
    const watcher = new StoreWatch(this.root, this.namePattern);
    await watcher.start();
    return watcher;
  }

  /** @internal Links a finished temporary file to its final name. */
  async place(tempPath: string, meta: FrameMeta): Promise<StoredFrame> {
    const name = frameName(meta.camera, meta.time, meta.id, this.namePattern);
    const path = join(this.root, name);
    const folder = dirname(path);
    try {
      const duplicate = !this.link(tempPath, path, folder);
      // Synced for a DUP too: the receiver that linked the first copy may not have synced the
      // folder yet, and a DUP lets the sender delete its copy as much as an OK does. Frames that
      // arrive together (a listener with many cameras) share one folder fsync (group-sync.ts).
      await this.folderSync.sync(folder);
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

class FileFrameWriter implements FrameWriter {
  private closed = false;
  bytes = 0;

  constructor(
    private readonly store: FileStore,
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
  async commit(meta: FrameMeta): Promise<StoredFrame> {
    try {
      futimesSync(this.fd, meta.time, meta.time);
      await fsyncFd(this.fd);
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

function isGone(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Folders below the camera folders that removing `frames` empties, deepest first (a camera
 * folder stays). Entries are counted on disk, so a stray file keeps its folder.
 */
function emptiedFolders(root: string, frames: readonly FrameEntry[]): string[] {
  const perFolder = new Map<string, number>();
  for (const f of frames) {
    const folder = dirname(f.name);
    perFolder.set(folder, (perFolder.get(folder) ?? 0) + 1);
  }
  const countIn = (folder: string) => {
    try {
      return readdirSync(join(root, folder)).length;
    } catch {
      return -1;
    }
  };
  // Deepest first, so that a folder is judged after all its sub-folders were.
  const candidates = new Set<string>();
  for (const folder of perFolder.keys()) for (let d = folder; d.includes('/'); d = dirname(d)) candidates.add(d);
  const depth = (f: string) => f.split('/').length;
  const gone = new Map(perFolder);
  const emptied: string[] = [];
  for (const folder of [...candidates].sort((a, b) => depth(b) - depth(a))) {
    if (countIn(folder) !== gone.get(folder)) continue;
    emptied.push(folder);
    gone.set(dirname(folder), (gone.get(dirname(folder)) ?? 0) + 1);
  }
  return emptied;
}
