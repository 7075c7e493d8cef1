import { SurveillanceError, writeStdout, type Spec } from '@surveillance/shared';
import type { FrameIndex } from '../store/store.ts';

/** Options and checks the review commands share (their start is ../command-start.ts). */

export const cameraOption = {
  camera: { kind: 'string', description: 'only this camera (a folder of the store)', flagOnly: true },
} as const satisfies Spec;

export const jsonOption = {
  json: { kind: 'boolean', description: 'machine-readable output (see --help above)', default: false, flagOnly: true },
} as const satisfies Spec;

/** The gap rule of events (store/events.ts): the notifier, `events` and `export --event` share it. */
export const eventGapOption = {
  'event-gap': { kind: 'duration', description: 'quiet that ends an event and must come before a new one', default: 30_000, defaultText: '30s', min: 100 },
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

/** Writes to stdout (without process.stdout: writeStdout says why). */
export const out = writeStdout;
