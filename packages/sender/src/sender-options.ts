import { hostname } from 'node:os';
import { checkCameraName, envName, formatHelp, loadOptions, logSpec, SurveillanceError, type HostPort, type Spec, type Values } from '@surveillance/shared';
import { detectorSpec } from './change-detector.ts';

const MiB = 1024 * 1024;

/**
 * The sender's options. Every command loads the same spec (plus the detector's), so that one
 * config file or one environment file serves `watch`, `once`, `send` and `status` alike: the
 * shared loader refuses config keys a spec does not know.
 */
const senderSpec = {
  file: { kind: 'path', description: "the camera's picture, rewritten in place or renamed over by the capture program" },
  to: { kind: 'hostport', description: 'the receiver, HOST:PORT' },
  spool: { kind: 'path', description: 'folder that keeps chosen frames until the receiver has acknowledged them', defaultText: '$STATE_DIRECTORY when systemd sets it' },
  camera: { kind: 'string', description: 'camera name the frames are stored under', defaultText: 'the host name' },
  interval: { kind: 'duration', description: 'check the file at least this often, even when no file event came', default: 1000, min: 10 },
  'min-gap': { kind: 'duration', description: 'at most one frame per this long is chosen; 0 takes every change', defaultText: 'the interval' },
  heartbeat: { kind: 'duration', description: 'choose a frame at least this often while the camera writes, even when nothing changed; 0 never', default: 600_000, defaultText: '10m' },
  'stale-after': { kind: 'duration', description: 'warn (once) when the file has not been rewritten for this long', default: 60_000, min: 100 },
  'timer-only': { kind: 'boolean', description: 'no file events: check on the interval only, like the tutorial', default: false },
  poll: { kind: 'boolean', description: 'watch by polling (stat) instead of inotify, e.g. on network file systems', default: false },
  'poll-interval': { kind: 'duration', description: 'with --poll: how often to stat the file', default: 100, min: 10 },
  'spool-max-bytes': { kind: 'size', description: 'spool limit; the oldest frames are dropped beyond it', default: 256 * MiB, defaultText: '256MiB', min: 64 * 1024 },
  'spool-max-files': { kind: 'int', description: 'spool limit in frames; the oldest are dropped beyond it', default: 5000, min: 1 },
  'retry-min': { kind: 'duration', description: 'first wait before reconnecting after a failure (doubles up to --retry-max, with jitter)', default: 500, min: 10 },
  'retry-max': { kind: 'duration', description: 'longest wait between reconnection attempts', default: 60_000, min: 10 },
  timeout: { kind: 'duration', description: 'give up on a connection attempt or an answer after this long', default: 10_000, min: 50 },
  linger: { kind: 'duration', description: 'keep an idle connection open this long for the next frame; below the receiver\'s idle timeout', default: 5000 },
  json: { kind: 'boolean', description: 'status: print JSON', default: false },
  ...logSpec,
  help: { kind: 'boolean', description: 'show this help', default: false, flagOnly: true },
} as const satisfies Spec;

/** What every command loads: the sender's options and the change detector's. */
export const spec = { ...senderSpec, ...detectorSpec } as const satisfies Spec;
export type SenderValues = Values<typeof spec>;

export function usage(message: string): SurveillanceError {
  return new SurveillanceError('usage', message);
}

/** An option a command cannot do without. */
export function required<T>(value: T | undefined, option: string, why: string): T {
  if (value === undefined) throw usage(`missing --${option} (or ${envName(option)}): ${why}`);
  return value;
}

/** The spool folder: --spool, else the first folder of systemd's StateDirectory=. */
export function resolveSpool(spool: string | undefined, env: NodeJS.ProcessEnv): string {
  const dir = spool ?? env.STATE_DIRECTORY?.split(':')[0];
  if (!dir) throw usage('no spool folder: pass --spool DIR or set SURVEILLANCE_SPOOL');
  return dir;
}

/** The camera name: --camera, else the host name, which must then be a valid camera name. */
export function resolveCamera(camera: string | undefined): string {
  const name = camera ?? hostname().split('.')[0] ?? '';
  const problem = checkCameraName(name);
  if (problem) throw usage(camera === undefined ? `the host name cannot serve as camera name (${problem}); pass --camera NAME` : `option camera: ${problem}`);
  return name;
}

export function formatHostPort(to: HostPort): string {
  return to.host.includes(':') ? `[${to.host}]:${to.port}` : `${to.host}:${to.port}`;
}

/**
 * A command's options, or undefined after printing its --help. Arguments are refused unless
 * the command takes files.
 */
export function loadCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  help: string,
  takesFiles = false,
): { values: SenderValues; files: string[] } | undefined {
  const { values, positionals } = loadOptions(spec, argv, env);
  if (values.help) {
    process.stdout.write(formatHelp(help, spec));
    return undefined;
  }
  if (!takesFiles && positionals.length > 0) throw usage(`unexpected argument ${JSON.stringify(positionals[0])}; see --help`);
  return { values, files: positionals };
}
