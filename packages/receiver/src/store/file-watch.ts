import { EventEmitter } from 'node:events';
import { readdirSync, statSync, watch as fsWatch, type FSWatcher as NodeWatcher, type Stats } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { FSWatcher } from 'chokidar';
import { frameName, readFrameName } from './frame-name.ts';
import type { FrameEntry, StoreChanges } from './store.ts';

interface StoreWatchEvents {
  /** New frames, in batches. */
  added: [FrameEntry[]];
  /** Frames that went away (pruned), in batches. */
  removed: [FrameEntry[]];
  error: [Error];
}

/** Folder levels between a camera folder and its frames: 1 for `yyyy-MM-dd/...`. */
function folderLevels(pattern: string): number {
  return frameName('c', new Date(0), 'x', pattern).split('/').length - 2;
}

/**
 * Reports frames as they arrive in the file store, in batches at most `batchMs` late
 * (FileStore.watch()).
 *
 * Two watchers, because one does not scale to day folders of 20,000 frames. chokidar follows
 * the store's shape: camera folders and the folders under them, down to (not into) the folders
 * that hold frames; hidden folders (.incoming, .thumbs) are ignored. Those few small folders
 * are all it reads. The frame folders themselves get a plain fs.watch each (one inotify watch
 * per folder): chokidar would watch every file and read the whole folder again, with an lstat
 * per file, on every change, which measured about 0.4 s of CPU per new frame in a folder of
 * 20,000. Here a new frame costs one stat of that frame.
 */
export class StoreWatch extends EventEmitter<StoreWatchEvents> implements StoreChanges {
  private tree: FSWatcher | undefined;
  private readonly leaves = new Map<string, NodeWatcher>();
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private ready = false;
  private readonly leafDepth: number;

  constructor(
    private readonly root: string,
    private readonly pattern: string,
    private readonly batchMs = 150,
  ) {
    super();
    this.leafDepth = 1 + folderLevels(pattern);
  }

  /** Resolves once the existing folders are watched. */
  async start(): Promise<void> {
    const { watch } = await import('chokidar');
    const tree = watch(this.root, {
      ignoreInitial: false,
      followSymlinks: false,
      // Read down to the frame folders' parents; the frame folders are reported, not read.
      depth: this.leafDepth - 1,
      ignored: (path: string, stats?: Stats) => this.ignored(path, stats),
    });
    this.tree = tree;
    tree.on('addDir', (path) => this.addFolder(path));
    tree.on('unlinkDir', (path) => this.dropFolders(path));
    tree.on('error', (e) => this.emit('error', e as Error));
    await new Promise<void>((resolve) => tree.once('ready', () => resolve()));
    this.ready = true;
  }

  private ignored(path: string, stats?: Stats): boolean {
    const rel = relative(this.root, path);
    if (rel === '') return false;
    // Hidden at any level below the root (the root itself may well be in a hidden folder).
    if (rel.split(sep).some((part) => part.startsWith('.'))) return true;
    // Files above the frame folders are not frames; chokidar would watch each one.
    return stats?.isFile() === true;
  }

  private addFolder(path: string): void {
    const rel = relative(this.root, path);
    if (rel === '' || rel.split(sep).length !== this.leafDepth || this.leaves.has(rel)) return;
    let watcher: NodeWatcher;
    try {
      watcher = fsWatch(path, { persistent: true }, (_event, file) => {
        if (file) this.queue(`${rel.split(sep).join('/')}/${file}`);
      });
    } catch (e) {
      this.emit('error', e as Error);
      return;
    }
    watcher.on('error', () => this.dropFolders(path));
    this.leaves.set(rel, watcher);
    // A folder made after start-up may have got its first frames before it was watched.
    if (this.ready) {
      try {
        for (const file of readdirSync(path)) this.queue(`${rel.split(sep).join('/')}/${file}`);
      } catch {
        // removed again already
      }
    }
  }

  private dropFolders(path: string): void {
    const rel = relative(this.root, path);
    for (const [leaf, watcher] of this.leaves) {
      if (leaf === rel || leaf.startsWith(rel + sep)) {
        watcher.close();
        this.leaves.delete(leaf);
      }
    }
  }

  private queue(name: string): void {
    this.pending.add(name);
    // A fixed window, not a debounce that restarts: frames arriving every 100 ms must not
    // postpone the report for ever.
    this.timer ??= setTimeout(() => this.flush(), this.batchMs);
  }

  private flush(): void {
    this.timer = undefined;
    const added: FrameEntry[] = [];
    const removed: FrameEntry[] = [];
    for (const candidate of this.pending) {
      const frame = readFrameName(candidate, this.pattern);
      if (!frame) continue;
      try {
        if (statSync(join(this.root, frame.name)).isFile()) added.push(frame);
      } catch {
        removed.push(frame);
      }
    }
    this.pending.clear();
    if (added.length) this.emit('added', added);
    if (removed.length) this.emit('removed', removed);
  }

  /** Number of frame folders watched. */
  get folders(): number {
    return this.leaves.size;
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const watcher of this.leaves.values()) watcher.close();
    this.leaves.clear();
    await this.tree?.close();
  }
}
