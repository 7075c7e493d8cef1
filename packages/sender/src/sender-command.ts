import { envName, loadCommand as loadShared, LOG_LEVELS, usage, type Spec, type Values } from '@surveillance/shared';
import { cameraSpec } from './camera-name.ts';
import { detectorSpec } from './change-detector.ts';
import { deliverySpec } from './delivery.ts';
import { chooserSpec } from './frame-chooser.ts';
import { watcherSpec } from './frame-watcher.ts';
import { pictureSpec } from './monitor-file.ts';
import { clientSpec } from './receiver-client.ts';
import { spoolSpec } from './spool.ts';

/**
 * The sender's options, composed from the modules they belong to. Every command loads all of
 * them, so that one config file or one environment file serves `watch`, `once`, `send` and
 * `status` alike: the shared loader refuses config keys a spec does not know.
 */
export const spec = {
  ...pictureSpec,
  ...clientSpec,
  ...spoolSpec,
  ...cameraSpec,
  ...watcherSpec,
  ...chooserSpec,
  ...deliverySpec,
  ...detectorSpec,
  json: { kind: 'boolean', description: 'status: print JSON', default: false },
  'log-level': { kind: 'string', description: 'pino log level', default: 'info', choices: LOG_LEVELS },
  help: { kind: 'boolean', description: 'show this help', default: false, flagOnly: true },
} as const satisfies Spec;

export type SenderValues = Values<typeof spec>;

/** A command's options, or undefined after printing its --help. */
export function loadCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  help: string,
  takesFiles = false,
): { values: SenderValues; files: string[] } | undefined {
  const loaded = loadShared(spec, argv, env, help, { positionals: takesFiles });
  return loaded && { values: loaded.values, files: loaded.positionals };
}

/** An option a command cannot do without. */
export function required<T>(value: T | undefined, option: string, why: string): T {
  if (value === undefined) throw usage(`missing --${option} (or ${envName(option)}): ${why}`);
  return value;
}
