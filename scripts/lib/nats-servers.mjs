// Real nats-server processes (Debian's package) on private loopback ports, for the tests
// (test/helpers/nats.ts) and the benchmark (scripts/bench/80-nats.mjs): a single node with
// JetStream, or a 3-node cluster with routes on loopback. Each node has its own config file
// and store folder; kill() and start() take one node down and bring it back with its data, as
// a machine that crashes and reboots.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Waits until the node's monitoring endpoint says healthy: /healthz answers 200 only once
 * JetStream is up, and in a cluster only once there is a meta leader. And that it is this
 * node answering (/varz names it): ports are picked free and then bound by nats-server, and
 * in that moment another test's server can take one; a test must not go on with that server.
 */
async function ready(monitor, child, name) {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    const c = child();
    if (c && (c.exitCode !== null || c.signalCode !== null)) throw new Error(`nats-server exited (${c.exitCode ?? c.signalCode})`);
    try {
      const res = await fetch(`http://127.0.0.1:${monitor}/healthz`);
      last = `${res.status} ${await res.text()}`;
      if (res.ok) {
        const varz = await (await fetch(`http://127.0.0.1:${monitor}/varz`)).json();
        if (varz.server_name !== name) throw new Error(`port ${monitor} is another nats-server's (${varz.server_name}), not ${name}'s`);
        return;
      }
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nats-server with monitoring on ${monitor} not ready: ${last}`);
}

function startProcess(config, log) {
  const child = spawn('nats-server', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (d) => {
    log.push(d.toString());
    if (log.length > 200) log.shift();
  });
  return child;
}

function stopProcess(child, signal) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

function extraConfig(o) {
  return (o.user ? `authorization { user: "${o.user.name}", password: "${o.user.password}" }\n` : '') + (o.extra ? `${o.extra}\n` : '');
}

/**
 * Starts `count` nodes (1, or 3 for a cluster) and waits until each is healthy. Ports are
 * picked free and bound a moment later by nats-server: when another process took one in that
 * moment (the node exits, or another server answers), it starts again on new ports.
 */
export async function startNatsServers(count, o = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(count, o);
    } catch (e) {
      if (attempt >= 5 || !/exited|another nats-server/.test(e.message)) throw e;
    }
  }
}

async function startOnce(count, o) {
  const dir = mkdtempSync(join(tmpdir(), 'surveillance-nats-'));
  // Server names unique to this call (see ready()).
  const prefix = basename(dir).replace(/^surveillance-nats-/, '');
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const routePorts = await Promise.all(Array.from({ length: count }, () => freePort()));
  const monitorPorts = await Promise.all(Array.from({ length: count }, () => freePort()));
  const children = [];
  const log = [];
  const configs = [];
  const nodes = [];
  const serverNames = [];
  for (let i = 0; i < count; i++) {
    const name = `n${i + 1}`;
    const serverName = `${prefix}-${name}`;
    serverNames.push(serverName);
    const config = join(dir, `${name}.conf`);
    const routes = routePorts.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`);
    const cluster = count > 1 ? `cluster {\n  name: "surveillance"\n  listen: "127.0.0.1:${routePorts[i]}"\n  routes: [${routes.join(', ')}]\n}\n` : '';
    writeFileSync(config, `server_name: "${serverName}"\nlisten: "127.0.0.1:${ports[i]}"\nhttp: "127.0.0.1:${monitorPorts[i]}"\n${extraConfig(o)}jetstream {\n  store_dir: "${join(dir, name)}"\n}\n${cluster}`);
    configs.push(config);
    nodes.push({
      name,
      port: ports[i],
      monitor: monitorPorts[i],
      kill: async () => {
        await stopProcess(children[i], 'SIGKILL');
        children[i] = undefined;
      },
      start: async () => {
        if (children[i]) return;
        children[i] = startProcess(config, log);
        await ready(monitorPorts[i], () => children[i], serverName);
      },
    });
  }
  for (let i = 0; i < count; i++) children[i] = startProcess(configs[i], log);
  try {
    for (let i = 0; i < count; i++) await ready(monitorPorts[i], () => children[i], serverNames[i]);
  } catch (e) {
    await Promise.all(children.map((c) => stopProcess(c, 'SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${e.message}\n${log.join('')}`);
  }
  const hosts = ports.map((p) => `127.0.0.1:${p}`).join(',');
  return {
    nodes,
    hosts,
    url: (bucket, user) => `nats://${user ? `${user}@` : ''}${hosts}/${bucket}`,
    dir,
    stop: async () => {
      await Promise.all(children.map((c) => stopProcess(c, 'SIGTERM')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Messages and bytes of a stream, from a node's monitoring endpoint (no client needed). */
export async function streamState(node, stream) {
  const res = await fetch(`http://127.0.0.1:${node.monitor}/jsz?streams=true&config=true`);
  const jsz = await res.json();
  for (const account of jsz.account_details ?? []) {
    for (const s of account.stream_detail ?? []) {
      if (s.name === stream) return { messages: s.state.messages, bytes: s.state.bytes, replicas: s.config?.num_replicas ?? 0 };
    }
  }
  return undefined;
}
