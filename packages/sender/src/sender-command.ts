import { envName, loadCommand as loadShared, logSpec, usage, type Spec, type Values } from '@surveillance/shared';
import { cameraSpec } from './camera-name.ts';
import { captureTimeSpec } from './capture-time.ts';
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
  ...captureTimeSpec,
  json: { kind: 'boolean', description: 'status: print JSON', default: false },
  ...logSpec,
  help: { kind: 'boolean', description: 'show this help', default: false, flagOnly: true },
} as const satisfies Spec;

export type SenderValues = Values<typeof spec>;
type Name = keyof typeof spec & string;

const names = (...specs: Spec[]) => specs.flatMap((s) => Object.keys(s)) as Name[];
const LOG = names(logSpec);
const SPOOL = names(spoolSpec);
const DELIVERY = [...names(pictureSpec, clientSpec), ...SPOOL, ...names(cameraSpec, chooserSpec, deliverySpec, detectorSpec), ...LOG];

/** The options each command reads, the ones its --help lists. */
export const COMMAND_OPTIONS = {
  watch: [...DELIVERY, ...names(watcherSpec)],
  once: DELIVERY,
  send: [...names(clientSpec, cameraSpec, captureTimeSpec)],
  status: [...SPOOL, ...names(clientSpec), 'json'],
} as const satisfies Record<string, readonly Name[]>;

/** A command's options, or undefined after printing its --help (with the options it reads). */
export function loadCommand(
  command: keyof typeof COMMAND_OPTIONS,
  argv: string[],
  env: NodeJS.ProcessEnv,
  help: string,
): { values: SenderValues; files: string[] } | undefined {
  const loaded = loadShared(spec, argv, env, help, { positionals: command === 'send', shown: COMMAND_OPTIONS[command] });
  return loaded && { values: loaded.values, files: loaded.positionals };
}

/** An option a command cannot do without. */
export function required<T>(value: T | undefined, option: string, why: string): T {
  if (value === undefined) throw usage(`missing --${option} (or ${envName(option)}): ${why}`);
  return value;
}
