import type { Values } from '@surveillance/shared';
import type { Store } from '../store.ts';
import { natsSettings, type natsSpec } from './nats-options.ts';
import { openNatsStore } from './nats-store.ts';

/**
 * What openStore (store-options.ts) loads, with a dynamic import, when --store is a nats://
 * address: the NATS client is parsed only by processes that use it, never by the file store's
 * per-connection path. `write` creates the buckets when missing; `read` requires them.
 */
export async function openNats(store: string, values: Values<typeof natsSpec>, env: NodeJS.ProcessEnv, mode: 'read' | 'write'): Promise<Store> {
  return openNatsStore(natsSettings(store, values, env), { create: mode === 'write', name: `surveillance-receiver ${process.pid}` });
}
