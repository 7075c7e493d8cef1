import { readFile } from 'node:fs/promises';
import { StoreWatch } from '../gallery/store-watch.ts';
import { framePath, latestFrame, listCameras, listFrames } from '../review/store-index.ts';
import { IndexTail } from '../store/event-index.ts';
import type { NotifySource } from './notifier.ts';

/**
 * The file store as the notifier reads it. Until the FileStore (store/file-store.ts) is in,
 * this adapts today's store-index and StoreWatch; afterwards it is the FrameIndex plus IndexTail.
 */
export function fileStoreSource(root: string, pattern: string): NotifySource {
  const tail = new IndexTail(root);
  return {
    cameras: async () => listCameras(root),
    latest: async (camera) => latestFrame(root, camera, pattern),
    frames: async (q) => listFrames(root, { ...q, pattern }),
    bytes: async (name) => {
      try {
        return await readFile(framePath(root, { name }));
      } catch {
        return undefined; // pruned meanwhile: the notice goes without a picture
      }
    },
    watch: async () => {
      const watch = new StoreWatch(root, pattern, 50);
      await watch.start();
      return watch;
    },
    mark: (frame) => tail.mark(frame),
  };
}
