import type { FrameIndex } from '../store/store.ts';
import type { NotifySource } from './notifier.ts';

/** The store as the notifier reads it: the FrameIndex (reasons and scores from its `marks`). */
export function storeSource(store: FrameIndex): NotifySource {
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
    marks: (frames) => store.marks(frames),
  };
}
