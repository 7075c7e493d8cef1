import { SurveillanceError, type Spec } from '@surveillance/shared';
import type { FrameIndex } from '../store/store.ts';

/** Options and checks the review commands share (their start is ../command-start.ts). */

export const cameraOption = {
  camera: { kind: 'string', description: 'only this camera (a folder of the store)', flagOnly: true },
} as const satisfies Spec;

export const jsonOption = {
  json: { kind: 'boolean', description: 'machine-readable output (see --help above)', default: false, flagOnly: true },
} as const satisfies Spec;

/** Fails with not-found, listing the cameras there are, when `camera` is not in the store. */
export async function checkCamera(store: FrameIndex, camera: string | undefined): Promise<void> {
  if (camera === undefined) return;
  const cameras = await store.cameras();
  if (!cameras.includes(camera)) {
    const known = cameras.length ? `cameras: ${cameras.join(', ')}` : 'the store has no cameras yet';
    throw new SurveillanceError('not-found', `no camera ${JSON.stringify(camera)} in store ${store.location}; ${known}`);
  }
}

/** Writes to stdout. */
export function out(text: string): void {
  if (text !== '') process.stdout.write(text);
}
