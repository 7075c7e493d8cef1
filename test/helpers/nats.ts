import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, tempDir } from './receiver.ts';

/**
 * Real nats-server processes for the tests (Debian's package), on private loopback ports:
 * a single node with JetStream, or a 3-node cluster with routes on loopback. Each node has its
 * own config file and store folder; `kill` and `start` let a test take one node down and bring
 * it back with its data, as a machine that reboots.
 */

export interface NatsNode {
  name: string;
  port: number;
  /** The monitoring port (http: /jsz, /healthz). */
  monitor: number;
  /** Kills the node (SIGKILL: a crash, not a clean shutdown). */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store folder. */
  start(): Promise<void>;
}

export interface NatsServers {
  nodes: NatsNode[];
  /** `HOST:PORT,HOST:PORT...` of every node, for a nats:// store address. */
  hosts: string;
  /** A store address for a bucket, e.g. `nats://127.0.0.1:4222,.../frames`. */
  url(bucket: string, user?: string): string;
  /** Folder of the config files and stores, removed by stop(). */
  dir: string;
  stop(): Promise<void>;
}

export interface NatsOptions {
  /** Require this user and password from every client. */
  user?: { name: string; password: string };
  /** More of the config file, e.g. a `tls { }` block. */
  extra?: string;
}

function authBlock(o: NatsOptions): string {
  return (o.user ? `authorization { user: "${o.user.name}", password: "${o.user.password}" }\n` : '') + (o.extra ? `${o.extra}\n` : '');
}

/**
 * Waits until the node's monitoring endpoint says healthy: /healthz answers 200 only once
 * JetStream is up, and in a cluster only once there is a meta leader.
 */
async function ready(monitor: number, child: () => ChildProcess | undefined): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    const c = child();
    if (c && (c.exitCode !== null || c.signalCode !== null)) throw new Error(`nats-server exited (${c.exitCode ?? c.signalCode})`);
    try {
      const res = await fetch(`http://127.0.0.1:${monitor}/healthz`);
      last = `${res.status} ${await res.text()}`;
      if (res.ok) return;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nats-server with monitoring on ${monitor} not ready: ${last}`);
}

function startProcess(config: string, log: string[]): ChildProcess {
  const child = spawn('nats-server', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => {
    log.push(d.toString());
    if (log.length > 200) log.shift();
  });
  return child;
}

function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

async function makeNodes(count: number, o: NatsOptions): Promise<NatsServers> {
  const dir = tempDir('surveillance-nats-');
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const routePorts = await Promise.all(Array.from({ length: count }, () => freePort()));
  const monitorPorts = await Promise.all(Array.from({ length: count }, () => freePort()));
  const nodes: NatsNode[] = [];
  const children: (ChildProcess | undefined)[] = [];
  const log: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `n${i + 1}`;
    const config = join(dir.path, `${name}.conf`);
    const cluster =
      count > 1
        ? `cluster {\n  name: "surveillance"\n  listen: "127.0.0.1:${routePorts[i]}"\n  routes: [${routePorts
            .filter((_, j) => j !== i)
            .map((p) => `"nats-route://127.0.0.1:${p}"`)
            .join(', ')}]\n}\n`
        : '';
    writeFileSync(
      config,
      `server_name: "${name}"\nlisten: "127.0.0.1:${ports[i]}"\nhttp: "127.0.0.1:${monitorPorts[i]}"\n${authBlock(o)}jetstream {\n  store_dir: "${join(dir.path, name)}"\n}\n${cluster}`,
    );
    const node: NatsNode = {
      name,
      port: ports[i]!,
      monitor: monitorPorts[i]!,
      kill: async () => {
        await stopProcess(children[i], 'SIGKILL');
        children[i] = undefined;
      },
      start: async () => {
        if (children[i]) return;
        children[i] = startProcess(config, log);
        await ready(monitorPorts[i]!, () => children[i]);
      },
    };
    nodes.push(node);
  }
  for (let i = 0; i < count; i++) children[i] = startProcess(join(dir.path, `n${i + 1}.conf`), log);
  try {
    for (let i = 0; i < count; i++) await ready(monitorPorts[i]!, () => children[i]);
  } catch (e) {
    await Promise.all(children.map((c) => stopProcess(c, 'SIGKILL')));
    dir.remove();
    throw new Error(`${(e as Error).message}\n${log.join('')}`);
  }
  const hosts = ports.map((p) => `127.0.0.1:${p}`).join(',');
  return {
    nodes,
    hosts,
    url: (bucket, user) => `nats://${user ? `${user}@` : ''}${hosts}/${bucket}`,
    dir: dir.path,
    stop: async () => {
      await Promise.all(children.map((c) => stopProcess(c, 'SIGTERM')));
      dir.remove();
    },
  };
}

/** Messages and bytes of a stream, from a node's monitoring endpoint (no client needed). */
export async function streamState(node: NatsNode, stream: string): Promise<{ messages: number; bytes: number; replicas: number } | undefined> {
  const res = await fetch(`http://127.0.0.1:${node.monitor}/jsz?streams=true&config=true`);
  const jsz = (await res.json()) as { account_details?: { stream_detail?: { name: string; state: { messages: number; bytes: number }; config?: { num_replicas: number } }[] }[] };
  for (const account of jsz.account_details ?? []) {
    for (const s of account.stream_detail ?? []) {
      if (s.name === stream) return { messages: s.state.messages, bytes: s.state.bytes, replicas: s.config?.num_replicas ?? 0 };
    }
  }
  return undefined;
}

/** One nats-server with JetStream (`jetstream { store_dir }`, the config form of `-js -sd DIR`). */
export function startNatsNode(o: NatsOptions = {}): Promise<NatsServers> {
  return makeNodes(1, o);
}

/** Three nats-servers routed to each other on loopback, JetStream clustered (R=3 possible). */
export function startNatsCluster(o: NatsOptions = {}): Promise<NatsServers> {
  return makeNodes(3, o);
}
