import type { Spec } from '@surveillance/shared';
import { storeSpec, writeSpec } from '../store/store-options.ts';

const MiB = 1024 * 1024;

/** Options of `receive`, the connection path (the store's own come from store-options.ts). */
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
  ...writeSpec,
} as const satisfies Spec;
