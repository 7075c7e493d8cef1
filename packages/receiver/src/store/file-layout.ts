import { accessSync, constants, mkdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The hidden folders of the file store, and where what is derived from frames (thumbnails)
 * lives. Hidden at the store root, so that listings never take them for cameras.
 */

/** Frames being received, under temporary names no reader sees. */
export const INCOMING_DIR = '.incoming';
/** Thumbnails, when the store is writable by the one who makes them. */
export const THUMBS_DIR = '.thumbs';

/**
 * Thumbnails fit in this box. For 1920x1080 frames 224 px is a little under 1/8 of the width,
 * which lets libjpeg decode at 1/8 scale (shrink-on-load): about 1.4x faster than exactly 1/8.
 * The width is part of the thumbnail's folder, so that another size never serves stale files.
 */
export const THUMB_WIDTH = 224;
export const THUMB_HEIGHT = 168;

/** The folder below a cache folder that holds thumbnails under their frames' names. */
export function thumbnailFolder(cacheDir: string): string {
  return join(cacheDir, String(THUMB_WIDTH));
}

/** Where the thumbnail of a frame (a store name) lives below a cache folder, made or not. */
export function thumbnailFile(cacheDir: string, name: string): string {
  return join(thumbnailFolder(cacheDir), name);
}

/**
 * The folder for derived files: STORE/.thumbs when this user may write there, else one per
 * store in the user's cache folder (XDG_CACHE_HOME). The installed store belongs to the
 * receiver's user, and the person reviewing it is only in its group, which may read but not
 * write it. Created when it is the store's.
 */
export function cacheDirOf(root: string, env: NodeJS.ProcessEnv): string {
  const inStore = join(root, THUMBS_DIR);
  try {
    mkdirSync(inStore, { recursive: true });
    accessSync(inStore, constants.W_OK);
    return inStore;
  } catch {
    return userCacheDir(root, env);
  }
}

/** A folder in the user's cache (XDG_CACHE_HOME) for one store, named by its location. */
export function userCacheDir(location: string, env: NodeJS.ProcessEnv): string {
  // node:os only when asked: the per-connection receiver holds this module and never asks.
  const cache = env.XDG_CACHE_HOME || join(env.HOME || process.getBuiltinModule('node:os').homedir(), '.cache');
  // node:crypto only here: the per-connection path, which shares this module, must not load it.
  const { createHash } = process.getBuiltinModule('node:crypto');
  const key = createHash('sha256').update(location).digest('hex').slice(0, 12);
  return join(cache, 'surveillance', 'thumbs', key);
}

/** Frames that went: their thumbnails go too, and the folders that leaves empty. */
export function forgetThumbnails(cacheDir: string, names: readonly string[]): void {
  const folders = new Set<string>();
  for (const name of names) {
    const path = thumbnailFile(cacheDir, name);
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
