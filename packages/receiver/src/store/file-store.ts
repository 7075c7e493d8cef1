import {
  closeSync,
  constants,
  createReadStream,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  statfsSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { DurableFile, formatBytes, formatSizeOption, fsError, GroupSync, isErrnoError, SurveillanceError } from '@surveillance/shared';
import { frameLines, framePath, frameSizes, latestFrame, listCameras, listDays, listFrames } from './file-index.ts';
import { cacheDirOf, forgetThumbnails, INCOMING_DIR, THUMBS_DIR } from './file-layout.ts';
import { appendIndex, forgetIndexDays, IndexTail } from './event-index.ts';
import { eventsOf } from './event-query.ts';
import type { EventFrame, FrameEvent } from './events.ts';
import { DEFAULT_NAME_PATTERN, frameName, readFrameName } from './frame-name.ts';
import type {
  EventQuery,
  FrameData,
  FrameEntry,
  FrameMeta,
  FrameQuery,
  FrameWriter,
  LineSpec,
  RemoveOutcome,
  Store,
  StoreChanges,
  StoredFrame,
} from './store.ts';
import type { AsyncDurableFile } from '@surveillance/shared';

/**
 * The store as files on one machine. A frame is written to `.incoming/` under a temporary
 * name, fsynced, then hard-linked to its final name and the folder fsynced (DurableFile,
 * shared/durable-file.ts): readers never see a partial file, a crash leaves at most a hidden
 * temporary file, and `link` (unlike `rename`) refuses to replace an existing name, which is
 * what makes a resent frame a duplicate rather than a second copy. Names are `CAMERA/<pattern in UTC>_<ID>.jpg` (frame-name.ts); the index
 * side reads them back from folder listings alone (file-index.ts).
 *
 * Synchronous I/O on purpose: one process per connection gains nothing from async fs, and on
 * this pattern it measured faster (scripts/bench/10-receiver.mjs). A listener (manyWriters)
 * writes frames through AsyncDurableFile instead: the same steps on the thread pool. `commit`
 * returns a promise, as the Store interface asks (a store over the network needs it).
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
const storeError = (what: string, e: unknown) => fsError(what, e, 'store');

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
  /** Set by manyWriters(): the thread-pool files, and the folder fsyncs the frames share. */
  private many: { files: typeof AsyncDurableFile; folderSync: GroupSync } | undefined;
  /** The event index as read so far (marks), made when first asked. */
  private tail: IndexTail | undefined;

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
    this.tidy();
    return this;
  }

  /**
   * Housekeeping, at start and again and again in a long-running receiver (receive/listener.ts):
   * `.incoming/` made again if someone removed it, and temporary files of receivers that died
   * removed.
   *
   * A file's age is taken on the file system's clock, not this process's: `now` is the last
   * change of `.incoming/` (a file made or removed there), which no file in it predates. With
   * the process clock, one running ahead of the file system's by an hour (a store on NFS whose
   * server runs behind, a clock set wrong) took the file another receiver was writing at that
   * moment for a dead one's and removed it, and that frame failed. A dead receiver's file goes
   * once the folder has changed an hour after it. `now` is injectable for tests.
   */
  tidy(now?: number): void {
    let names: string[];
    let at: number;
    try {
      mkdirSync(this.incoming, { recursive: true });
      names = readdirSync(this.incoming);
      if (names.length === 0) return;
      at = now ?? statSync(this.incoming).ctimeMs;
    } catch (e) {
      throw storeError(`cannot create the store at ${this.root}`, e);
    }
    for (const name of names) {
      const path = join(this.incoming, name);
      try {
        // ctime, not mtime: a frame being committed has its mtime set to its capture time,
        // which may be long ago (a spool emptied after a night offline).
        if (at - statSync(path).ctimeMs > STALE_INCOMING_MS) unlinkSync(path);
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
          // The reserve as the user types it (--min-free), the rest rounded for reading.
          `store ${this.root} has ${formatBytes(free)} free, ${free < this.minFreeBytes ? 'below' : `and a frame of ${formatBytes(expectedBytes)} would go below`} the reserve of ${formatSizeOption(this.minFreeBytes)}; frames are refused until space is freed (surveillance-receiver prune)`,
        );
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        // Many writers: every file call on the thread pool (AsyncDurableFile makes a missing
        // `.incoming/` itself); one process per connection: synchronous, cheaper for it.
        if (this.many) return new FileFrameWriter(this, this.many.files.start(this.incoming, { mode: 0o640 }), this.many.folderSync);
        return new FileFrameWriter(this, DurableFile.create(this.incoming, { mode: 0o640 }));
      } catch (e) {
        // `.incoming/` removed under a long-running receiver: made again (with the rest of
        // the housekeeping), once, rather than every frame failing until a restart.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) throw storeError(`cannot create a file in ${this.incoming}`, e);
        this.tidy();
      }
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

  async lines(query: FrameQuery & { camera: string; last?: number }, spec: LineSpec): Promise<number | undefined> {
    return frameLines(this.root, { ...query, pattern: this.namePattern }, spec);
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
      // Only a regular file inside the store is a frame: a symlink named like one (to
      // /etc/shadow, or pictures elsewhere) is not followed, nor a linked folder on the way.
      stats = lstatSync(path);
      if (stats.isFile() && realpathSync(path) !== join(realpathSync(this.root), name)) return undefined;
    } catch (e) {
      if (isGone(e)) return undefined;
      throw storeError(`cannot read ${name}`, e);
    }
    if (!stats.isFile()) return undefined;
    return {
      size: stats.size,
      time: stats.mtime,
      // O_NOFOLLOW: a frame swapped for a symlink after the check is refused, not followed.
      stream: () => createReadStream(path, { fd: openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW) }),
      bytes: async () => {
        let fd: number | undefined;
        try {
          fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
          return readFileSync(fd);
        } catch (e) {
          throw storeError(`cannot read ${name}`, e);
        } finally {
          if (fd !== undefined) closeSync(fd);
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
    // And the event index's day files of days left with no frame.
    await forgetIndexDays(this.root, frames, (q) => this.frames(q));
    return outcome;
  }

  /**
   * A listener writes frames from many connections at once: every file call of a frame runs on
   * the thread pool (AsyncDurableFile), so that one frame's wait for the disk does not stop the
   * others and their fsyncs run at once, and their folder entries are made durable together,
   * one folder fsync for all the links made before it starts. One process per connection keeps
   * the plain synchronous calls, which cost it less.
   */
  manyWriters(files: typeof AsyncDurableFile): void {
    this.many ??= { files, folderSync: new GroupSync() };
  }

  async marks(frames: readonly FrameEntry[]): Promise<EventFrame[]> {
    this.tail ??= new IndexTail(this.root);
    const tail = this.tail;
    return tail.markAll(frames);
  }

  async events(query: EventQuery): Promise<FrameEvent[]> {
    return eventsOf(this, query);
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

  /**
   * @internal The frame's event index line, just before the frame is linked under its name:
   * whoever sees the frame (the notifier) finds its line. A failure (a full disk) costs the
   * frame its reason and score, never the frame: it is stored all the same and counts as motion.
   */
  indexFrame(meta: FrameMeta): string | undefined {
    try {
      appendIndex(this.root, meta);
      return undefined;
    } catch (e) {
      if (!isErrnoError(e)) throw e;
      return `event index not written (the frame counts as motion): ${e.code} ${e.message}`;
    }
  }

  /** @internal The final path of a frame, store-relative and absolute. */
  nameOf(meta: FrameMeta): { name: string; path: string } {
    const name = frameName(meta.camera, meta.time, meta.id, this.namePattern);
    return { name, path: join(this.root, name) };
  }
}

class FileFrameWriter implements FrameWriter {
  constructor(
    private readonly store: FileStore,
    private readonly file: DurableFile | AsyncDurableFile,
    /** Many writers: the folder fsyncs shared by the frames linked together. */
    private readonly folderSync?: GroupSync,
  ) {}

  get bytes(): number {
    return this.file.bytes;
  }

  write(chunk: Uint8Array): void {
    try {
      this.file.write(chunk); // drops the file on an error
    } catch (e) {
      throw storeError('cannot write the frame', e);
    }
  }

  /**
   * Makes the frame durable under its final name, with its capture time as mtime. link, not
   * rename: an existing name means the frame was stored before, answered DUP. The folder is
   * synced for a DUP too (see DurableFile.commit), and a folder `prune` removed is made again.
   */
  async commit(meta: FrameMeta): Promise<StoredFrame> {
    const { name, path } = this.store.nameOf(meta);
    // The index line first: a frame seen under its name has its line (a line whose frame never
    // appears, after a failed commit, names nothing and is ignored).
    const warning = this.store.indexFrame(meta);
    let duplicate: boolean;
    try {
      // Synced for a DUP too (see DurableFile.commit); with many writers, the frames linked
      // together share the folder fsync.
      const group = this.folderSync;
      const syncFolder = group && ((folder: string) => group.sync(folder));
      duplicate = !(await this.file.commit(path, { how: 'link', mtime: meta.time, syncFolder }));
    } catch (e) {
      throw storeError(`cannot store ${name}`, e);
    }
    return warning ? { name, duplicate, warning } : { name, duplicate };
  }

  /** Drops the frame: nothing of it stays on disk. Safe to call more than once. */
  abort(): void {
    this.file.abort();
  }
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
