import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatHelp, loadOptions, SurveillanceError, type Spec, type Values, ignoreClosedStdout } from '@surveillance/shared';
import { loadNamePattern } from '../frame-name.ts';
import { resolveStore, storeSpec } from '../receive-options.ts';
import { listCameras } from './store-index.ts';

/**
 * The start every review command shares: options through the one funnel (so --store,
 * SURVEILLANCE_STORE and the config file work as for receiving), --help, no stray arguments,
 * and a store that exists.
 */

export const cameraOption = {
  camera: { kind: 'string', description: 'only this camera (a folder of the store)', flagOnly: true },
} as const satisfies Spec;

export const jsonOption = {
  json: { kind: 'boolean', description: 'machine-readable output (see --help above)', default: false, flagOnly: true },
} as const satisfies Spec;

export interface ReviewStart<S extends Spec> {
  values: Values<S>;
  root: string;
  pattern: string;
}

/** Parses options; returns undefined when --help was printed. */
export async function startReview<S extends Spec>(
  usage: string,
  spec: S,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<ReviewStart<S> | undefined> {
  ignoreClosedStdout();
  const { values, positionals } = loadOptions(spec, argv, env);
  const common = values as unknown as Values<typeof storeSpec>;
  if (common.help) {
    process.stdout.write(formatHelp(usage, spec));
    return undefined;
  }
  if (positionals.length > 0) throw new SurveillanceError('usage', `unexpected argument ${JSON.stringify(positionals[0])}; see --help`);
  // Absolute, so that printed paths can be pasted anywhere.
  const root = resolve(resolveStore(common, env));
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new SurveillanceError('not-found', `store ${root} does not exist or is not a folder`);
  await loadNamePattern(common['name-pattern']);
  return { values, root, pattern: common['name-pattern'] };
}

/** Fails with not-found, listing the cameras there are, when `camera` is not in the store. */
export function checkCamera(root: string, camera: string | undefined): void {
  if (camera === undefined) return;
  const cameras = listCameras(root);
  if (!cameras.includes(camera)) {
    const known = cameras.length ? `cameras: ${cameras.join(', ')}` : 'the store has no cameras yet';
    throw new SurveillanceError('not-found', `no camera ${JSON.stringify(camera)} in store ${root}; ${known}`);
  }
}

/** Writes to stdout. */
export function out(text: string): void {
  if (text !== '') process.stdout.write(text);
}

