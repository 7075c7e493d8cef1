import { createHash } from 'node:crypto';
import { accessSync, constants, mkdirSync, renameSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from '@surveillance/shared';
import type { SharpConstructor } from 'sharp';

/** Hidden at the store root, so store listings never take it for a camera. */
export const THUMBS_DIR = '.thumbs';
/**
 * Thumbnails fit in this box. For 1920x1080 frames 224 px is a little under 1/8 of the width,
 * which lets libjpeg decode at 1/8 scale (shrink-on-load): about 1.4x faster than exactly 1/8.
 */
export const THUMB_WIDTH = 224;
export const THUMB_HEIGHT = 168;

/** Where the thumbnail of a frame (a store-relative name) lives in the store, made or not. */
export function thumbnailPath(root: string, name: string): string {
  return join(root, THUMBS_DIR, String(THUMB_WIDTH), name);
}

/**
 * The thumbnail folder: in the store when this user may write there, else in the user's cache
 * folder (XDG_CACHE_HOME), one per store. The installed store belongs to the receiver's user,
 * and the person reviewing it is only in its group, which may read but not write it.
 */
export function thumbnailDir(root: string, env: NodeJS.ProcessEnv): string {
  const inStore = thumbnailPath(root, '');
  try {
    mkdirSync(inStore, { recursive: true });
    accessSync(inStore, constants.W_OK);
    return inStore;
  } catch {
    const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
    const key = createHash('sha256').update(root).digest('hex').slice(0, 12);
    return join(cache, 'surveillance', 'thumbs', key, String(THUMB_WIDTH));
  }
}

interface Job {
  name: string;
  /** Requests still waiting; a job nobody waits for any more is skipped when its turn comes. */
  waiters: number;
  promise: Promise<string | undefined>;
}

let tempCounter = 0;

/**
 * Thumbnails on disk under STORE/.thumbs/<width>/<frame name>, made once on first request and
 * served as files from then on. Generation runs at most `jobs` at a time, one job per name
 * however many requests ask for it; newest requests first, because when someone scrolls a
 * long day the cells now on screen matter more than the ones already scrolled past.
 */
export class ThumbnailCache {
  readonly dir: string;
  private sharp: Promise<SharpConstructor> | undefined;
  private readonly inFlight = new Map<string, Job>();
  private readonly queue: (() => void)[] = [];
  private running = 0;
  /** Thumbnails made since start, for the log and the benchmark. */
  made = 0;

  constructor(
    private readonly root: string,
    private readonly jobs: number,
    private readonly log: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.dir = thumbnailDir(root, env);
    if (!this.dir.startsWith(root)) log.info({ dir: this.dir }, 'the store is not writable here: thumbnails go to the cache folder');
  }

  /** Store-relative path of a frame's thumbnail, inside `dir`. */
  pathOf(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Makes sure the thumbnail of `name` (a frame that exists) is on disk. Resolves to its path,
   * or undefined when every request for it went away (aborted `signal`) before its turn.
   */
  ensure(name: string, signal?: AbortSignal): Promise<string | undefined> {
    const path = this.pathOf(name);
    try {
      if (statSync(path).isFile()) return Promise.resolve(path);
    } catch {
      // not made yet
    }
    let job = this.inFlight.get(name);
    if (!job) {
      const created: Job = { name, waiters: 0, promise: Promise.resolve(undefined) };
      created.promise = this.slot().then(async (release) => {
        try {
          if (created.waiters === 0) return undefined;
          await this.make(name, path);
          return path;
        } finally {
          this.inFlight.delete(name);
          release();
        }
      });
      this.inFlight.set(name, created);
      job = created;
    }
    const j = job;
    j.waiters++;
    signal?.addEventListener('abort', () => j.waiters--, { once: true });
    return j.promise;
  }

  /** Frames that were pruned: their thumbnails go too, and folders left empty. */
  forget(names: readonly string[]): void {
    const folders = new Set<string>();
    for (const name of names) {
      const path = this.pathOf(name);
      try {
        unlinkSync(path);
        folders.add(dirname(path));
      } catch {
        // never made
      }
    }
    for (const folder of folders) {
      try {
        rmdirSync(folder);
      } catch {
        // still holds thumbnails of frames that remain
      }
    }
  }

  private slot(): Promise<() => void> {
    return new Promise((resolve) => {
      const start = () => {
        this.running++;
        resolve(() => {
          this.running--;
          this.queue.pop()?.();
        });
      };
      if (this.running < this.jobs) start();
      else this.queue.push(start);
    });
  }

  private async make(name: string, path: string): Promise<void> {
    this.sharp ??= import('sharp').then((m) => {
      const sharp = m.default as unknown as SharpConstructor;
      // Each frame is read once: libvips' operation cache would only hold memory.
      sharp.cache(false);
      return sharp;
    });
    const sharp = await this.sharp;
    mkdirSync(dirname(path), { recursive: true });
    // Written aside and renamed, so a thumbnail on disk is always whole.
    const temp = `${path}.${process.pid}-${++tempCounter}.part`;
    try {
      await sharp(join(this.root, name), { failOn: 'none' })
        .rotate()
        .resize({ width: THUMB_WIDTH, height: THUMB_HEIGHT, fit: 'inside', withoutEnlargement: true })
        .jpeg({ quality: 72 })
        .toFile(temp);
      renameSync(temp, path);
      this.made++;
    } catch (e) {
      try {
        unlinkSync(temp);
      } catch {
        // never written
      }
      this.log.warn({ frame: name, err: (e as Error).message }, 'thumbnail failed');
      throw e;
    }
  }
}
