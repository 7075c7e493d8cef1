import { IndexTail } from '../store/event-index.ts';
import type { FrameIndex } from '../store/store.ts';
import type { NotifySource } from './notifier.ts';

/**
 * The store as the notifier reads it: the FrameIndex, plus the event index's reasons and
 * scores. The event index is the file store's (STORE/.index); `location` is its folder.
 */
export function storeSource(store: FrameIndex): NotifySource {
  const tail = new IndexTail(store.location);
  return {
    cameras: () => store.cameras(),
    latest: (camera) => store.latest(camera),
    frames: (q) => store.frames(q),
    bytes: async (name) => {
      try {
        return await (await store.open(name))?.bytes();
      } catch {
        return undefined; // pruned meanwhile: the notice goes without a picture
      }
    },
    watch: () => store.watch(),
    mark: (frame) => tail.mark(frame),
  };
}
