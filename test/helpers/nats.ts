import { startNatsServers, type NatsOptions, type NatsServers } from '../../scripts/lib/nats-servers.mjs';

/** Real nats-servers for the tests; the launcher is shared with the benchmark (scripts/lib/nats-servers.mjs). */
export { streamState, type NatsNode, type NatsOptions, type NatsServers } from '../../scripts/lib/nats-servers.mjs';

/** One nats-server with JetStream (`jetstream { store_dir }`, the config form of `-js -sd DIR`). */
export const startNatsNode = (o: NatsOptions = {}): Promise<NatsServers> => startNatsServers(1, o);

/** Three nats-servers routed to each other on loopback, JetStream clustered (R=3 possible). */
export const startNatsCluster = (o: NatsOptions = {}): Promise<NatsServers> => startNatsServers(3, o);
