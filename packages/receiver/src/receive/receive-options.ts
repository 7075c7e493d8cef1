import { DEFAULT_CAPTURE_WINDOW, DEFAULT_MAX_PIXELS, type Spec } from '@surveillance/shared';
import { storeSpec, writeSpec } from '../store/store-options.ts';

const MiB = 1024 * 1024;

/** Options of `receive`, the connection path (the store's own come from store-options.ts). */
export const receiveSpec = {
  ...storeSpec,
  keys: {
    kind: 'path',
    description: 'key folder (surveillance-receiver camera add): take frames only over TLS from the cameras in it',
    defaultText: '$CREDENTIALS_DIRECTORY under systemd (LoadCredential=camera-keys:...); none: open, plaintext',
  },
  listen: { kind: 'hostport', description: 'listen on HOST:PORT yourself instead of taking the connection or socket from systemd' },
  'max-frame-bytes': { kind: 'size', description: 'largest frame accepted', default: 32 * MiB, min: 1024 },
  'max-pixels': {
    kind: 'int',
    description: 'refuse a JPEG whose SOF claims more pixels than this (width x height): a few bytes can claim 16383x16383 and make every decoder allocate for it',
    default: DEFAULT_MAX_PIXELS,
    min: 1,
  },
  'max-clock-skew': {
    kind: 'duration',
    description: "refuse a capture time further ahead of the receiver's clock than this",
    default: DEFAULT_CAPTURE_WINDOW.maxAheadMs,
  },
  'max-frame-age': {
    kind: 'duration',
    description: "refuse a capture time further behind the receiver's clock than this (a spool offline that long)",
    default: DEFAULT_CAPTURE_WINDOW.maxAgeMs,
  },
  'idle-timeout': { kind: 'duration', description: 'close a connection that sends nothing for this long', default: 10_000, min: 100 },
  'frame-timeout': { kind: 'duration', description: 'refuse a frame that takes longer than this from its first byte to its last', default: 120_000, min: 100 },
  'exit-idle': {
    kind: 'duration',
    description: 'listener on fd 3 (Accept=no): exit after this long without connections, systemd restarts it on the next; 0 never',
    default: 60_000,
  },
  'max-connections': { kind: 'int', description: 'listener modes: connections served at once', default: 64, min: 1 },
  'max-connections-per-source': {
    kind: 'int',
    description: 'listener modes: connections served at once from one address (as MaxConnectionsPerSource= of the socket unit)',
    default: 8,
    min: 1,
  },
  ...writeSpec,
} as const satisfies Spec;
