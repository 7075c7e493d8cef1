import { logSpec, SurveillanceError, type Spec, type Values } from '@surveillance/shared';
import { DEFAULT_NAME_PATTERN } from './frame-name.ts';

const MiB = 1024 * 1024;

/** Options shared by every receiver command that touches the store. */
export const storeSpec = {
  store: {
    kind: 'path',
    description: 'folder where frames are stored',
    defaultText: '$STATE_DIRECTORY when systemd sets it',
  },
  'name-pattern': {
    kind: 'string',
    description: 'date-fns pattern (in UTC) for frame names below CAMERA/; the frame id is appended',
    default: DEFAULT_NAME_PATTERN,
  },
  ...logSpec,
  help: { kind: 'boolean', description: 'show this help', default: false, flagOnly: true },
} as const satisfies Spec;

export const receiveSpec = {
  ...storeSpec,
  listen: { kind: 'hostport', description: 'listen on HOST:PORT yourself instead of taking the connection or socket from systemd' },
  'max-frame-bytes': { kind: 'size', description: 'largest frame accepted', default: 32 * MiB, min: 1024 },
  'idle-timeout': { kind: 'duration', description: 'close a connection that sends nothing for this long', default: 10_000, min: 100 },
  'frame-timeout': { kind: 'duration', description: 'refuse a frame that takes longer than this from its first byte to its last', default: 120_000, min: 100 },
  'exit-idle': {
    kind: 'duration',
    description: 'listener on fd 3 (Accept=no): exit after this long without connections, systemd restarts it on the next; 0 never',
    default: 60_000,
  },
  'max-connections': { kind: 'int', description: 'listener modes: connections served at once', default: 64, min: 1 },
  'min-free': { kind: 'size', description: 'refuse frames when the store has less free space than this', default: 512 * MiB },
} as const satisfies Spec;

/**
 * The store folder: --store, else the first folder of systemd's StateDirectory=. A custom
 * name-pattern must also be loaded (frame-name.ts `loadNamePattern`) before names are made.
 */
export function resolveStore(values: Values<typeof storeSpec>, env: NodeJS.ProcessEnv): string {
  const store = values.store ?? env.STATE_DIRECTORY?.split(':')[0];
  if (!store) throw new SurveillanceError('usage', 'no store folder: pass --store DIR or set SURVEILLANCE_STORE');
  return store;
}
