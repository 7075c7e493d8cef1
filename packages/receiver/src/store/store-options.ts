import { resolve } from 'node:path';
import { logSpec, resolveStateFolder, SurveillanceError, type Spec, type Values } from '@surveillance/shared';
import { FileStore } from './file-store.ts';
import { DEFAULT_NAME_PATTERN, loadNamePattern } from './frame-name.ts';
import { isNatsAddress } from './nats/nats-address.ts';
import { natsSpec } from './nats/nats-options.ts';
import type { Store } from './store.ts';

const MiB = 1024 * 1024;

/** Options shared by every receiver command that touches the store. */
export const storeSpec = {
  store: {
    kind: 'path',
    description: 'folder where frames are stored, or nats://[USER@]HOST:PORT[,HOST:PORT...]/BUCKET for NATS JetStream',
    defaultText: '$STATE_DIRECTORY when systemd sets it',
  },
  'name-pattern': {
    kind: 'string',
    description: 'date-fns pattern (in UTC) for frame names below CAMERA/; the frame id is appended',
    default: DEFAULT_NAME_PATTERN,
  },
  ...logSpec,
  help: { kind: 'boolean', description: 'show this help', default: false, flagOnly: true },
  ...natsSpec,
} as const satisfies Spec;

/** Options of the writing side (receive). */
export const writeSpec = {
  'min-free': { kind: 'size', description: 'refuse frames when the store has less free space than this', default: 512 * MiB },
} as const satisfies Spec;

/**
 * The one place that decides which store a command gets: a folder, or a NATS JetStream
 * store for a `nats://` or `tls://` address. `minFree` given: opened for writing (folders made, leftovers of dead receivers
 * cleared); absent: for reading only, and the store must exist.
 */
/** Stores opened by this process, closed by closeStores() when its command is done. */
const opened = new Set<Store>();

/**
 * Closes every store openStore gave out. A NATS store holds a connection that keeps the
 * process alive; cli.ts calls this once the command has finished, whatever its outcome.
 */
export async function closeStores(): Promise<void> {
  const stores = [...opened];
  opened.clear();
  await Promise.all(stores.map((s) => s.close()));
}

export async function openStore(
  values: Values<typeof storeSpec> & { readonly 'min-free'?: number },
  env: NodeJS.ProcessEnv,
  mode: 'read' | 'write',
): Promise<Store> {
  // --store, else the first folder of systemd's StateDirectory=.
  const given = resolveStateFolder(values.store, 'store', env);
  if (isNatsAddress(given)) {
    if (values['name-pattern'] !== DEFAULT_NAME_PATTERN) throw new SurveillanceError('usage', `--name-pattern is for a store in folders; a NATS store names frames the default way (${DEFAULT_NAME_PATTERN})`);
    // The NATS client only in processes that use it (an ES module output, see scripts/build.mjs).
    const { openNats } = await import('./nats/open-nats.ts');
    const store = await openNats(given, values, env, mode);
    opened.add(store);
    return store;
  }
  // Absolute, so that printed paths can be pasted anywhere.
  const root = resolve(given);
  await loadNamePattern(values['name-pattern']);
  const store = new FileStore({ root, namePattern: values['name-pattern'], minFreeBytes: values['min-free'] });
  if (mode === 'write') return store.prepare();
  if (!(await store.exists())) throw new SurveillanceError('not-found', `store ${root} does not exist or is not a folder`);
  return store;
}
