import { mkdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '@surveillance/shared';
import type { SharpConstructor } from 'sharp';
import { forgetThumbnails, THUMB_HEIGHT, THUMB_WIDTH, thumbnailFile, thumbnailFolder } from '../store/file-layout.ts';
import type { FrameIndex } from '../store/store.ts';

interface Job {
  name: string;
  /** Requests still waiting; a job nobody waits for any more is skipped when its turn comes. */
  waiters: number;
  promise: Promise<string | undefined>;
}

let tempCounter = 0;

/**
 * Thumbnails on disk under the store's cache folder (FrameIndex.cacheDir: STORE/.thumbs, or
 * the user's cache), as <width>/<frame name>, made once on first request and
 * served as files from then on. Generation runs at most `jobs` at a time, one job per name
 * however many requests ask for it; newest requests first, because when someone scrolls a
 * long day the cells now on screen matter more than the ones already scrolled past.
 */
export class ThumbnailCache {
  /** The store's cache folder: thumbnails are below it (store/file-layout.ts). */
  readonly dir: string;
  /** The folder that holds thumbnails under their frames' names, for serving them as files. */
  readonly folder: string;
  private sharp: Promise<SharpConstructor> | undefined;
  private readonly inFlight = new Map<string, Job>();
  private readonly queue: (() => void)[] = [];
  private running = 0;
  /** Thumbnails made since start, for the log and the benchmark. */
  made = 0;

  constructor(
    private readonly store: FrameIndex,
    private readonly jobs: number,
    private readonly log: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.dir = store.cacheDir(env);
    this.folder = thumbnailFolder(this.dir);
    if (!this.dir.startsWith(store.location)) log.info({ dir: this.dir }, 'the store is not writable here: thumbnails go to the cache folder');
  }

  /** Store-relative path of a frame's thumbnail, inside `dir`. */
  pathOf(name: string): string {
    return thumbnailFile(this.dir, name);
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
    forgetThumbnails(this.dir, names);
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
    const frame = await this.store.open(name);
    if (!frame) throw new Error(`frame ${name} is gone`);
    const jpeg = await frame.bytes();
    mkdirSync(dirname(path), { recursive: true });
    // Written aside and renamed, so a thumbnail on disk is always whole.
    const temp = `${path}.${process.pid}-${++tempCounter}.part`;
    try {
      await sharp(jpeg, { failOn: 'none' })
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
