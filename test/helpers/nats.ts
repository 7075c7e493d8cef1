import { startNatsServers, type NatsOptions, type NatsServers } from '../../scripts/lib/nats-servers.mjs';
import { cli } from './review-cli.ts';

/** Real nats-servers for the tests; the launcher is shared with the benchmark (scripts/lib/nats-servers.mjs). */
export { streamState, type NatsNode, type NatsOptions, type NatsServers } from '../../scripts/lib/nats-servers.mjs';

/** One nats-server with JetStream (`jetstream { store_dir }`, the config form of `-js -sd DIR`). */
export const startNatsNode = (o: NatsOptions = {}): Promise<NatsServers> => startNatsServers(1, o);

/** Three nats-servers routed to each other on loopback, JetStream clustered (R=3 possible). */
export const startNatsCluster = (o: NatsOptions = {}): Promise<NatsServers> => startNatsServers(3, o);

/**
 * A NATS store holding the frames of a store folder, copied by `surveillance-receiver migrate`
 * on a node of its own: the tests that run the same checks on both stores start from it.
 */
export async function natsCopyOf(folder: string, bucket: string): Promise<{ store: string; stop(): Promise<void> }> {
  const nats = await startNatsNode();
  const store = nats.url(bucket);
  const r = cli(['migrate', '--from', folder, '--to', store]);
  if (r.status !== 0) {
    await nats.stop();
    throw new Error(`migrate failed: ${r.stderr}`);
  }
  return { store, stop: () => nats.stop() };
}
