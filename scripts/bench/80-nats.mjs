// The NATS JetStream store against the file store: 300 KB frames through the built receiver,
// into the file store, a single nats-server and a 3-node cluster (R=3), in listener mode
// (--listen, one process for all connections) and per connection (systemd-socket-activate
// --inetd, one process per connection, which must connect to NATS each time). Then the read
// side: `events` over a day of many frames, against `list` of the same day (the listing alone).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNatsServers } from '../lib/nats-servers.mjs';
import { frame300k } from './10-receiver.mjs';
import { encodeHeader } from './framing.mjs';

export const title = 'NATS store: frames/s and latency per frame, against the file store';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'packages/receiver/bin/surveillance-receiver.cjs');
const FRAMES = Number(process.env.BENCH_NATS_FRAMES ?? 150);
const CONNECTIONS = Number(process.env.BENCH_NATS_CONNECTIONS ?? 30);
const DAY_FRAMES = Number(process.env.BENCH_NATS_DAY_FRAMES ?? 3000);
const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: tmpdir(), LANG: 'C.UTF-8' };

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(child, pattern) {
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const deadline = Date.now() + 20_000;
  while (!pattern.test(err)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`receiver did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)];

/** Listener mode: frames one at a time on one connection, each waiting for its OK. */
async function listener(storeArgs, jpeg, tag) {
  const port = await freePort();
  const child = spawn('node', [bin, ...storeArgs, '--listen', `127.0.0.1:${port}`, '--log-level', 'info'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await waitFor(child, /listening|127\.0\.0\.1/i);
    const s = connect({ port, host: '127.0.0.1' });
    await new Promise((r) => s.once('connect', r));
    let buffered = '';
    const waiters = [];
    s.on('data', (d) => {
      buffered += d;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        waiters.shift()?.(line);
      }
    });
    const times = [];
    let ok = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < FRAMES; i++) {
      const t = process.hrtime.bigint();
      const answer = new Promise((r) => waiters.push(r));
      s.write(Buffer.concat([encodeHeader('bench', `${tag}-${i}`, jpeg.length), jpeg]));
      if ((await answer).startsWith('OK ')) ok++;
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    s.end();
    return { ok, n: FRAMES, fps: FRAMES / seconds, median: median(times), p90: p90(times) };
  } finally {
    child.kill('SIGTERM');
  }
}

/** Per connection: one raw JPEG per connection, one receiver process each. */
async function perConnection(storeArgs, jpeg) {
  const port = await freePort();
  const child = spawn('systemd-socket-activate', ['--inetd', '-a', '-l', `127.0.0.1:${port}`, 'node', bin, ...storeArgs], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await waitFor(child, /Listening on/);
    const times = [];
    let ok = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CONNECTIONS; i++) {
      const { ms, answer } = await new Promise((resolve, reject) => {
        const t = process.hrtime.bigint();
        const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
        let text = '';
        s.on('connect', () => s.end(jpeg));
        s.on('data', (d) => (text += d));
        s.on('end', () => s.end());
        s.on('error', (e) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? undefined : reject(e)));
        s.on('close', () => resolve({ ms: Number(process.hrtime.bigint() - t) / 1e6, answer: text }));
      });
      if (answer.startsWith('OK ')) ok++;
      times.push(ms);
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return { ok, n: CONNECTIONS, fps: CONNECTIONS / seconds, median: median(times), p90: p90(times) };
  } finally {
    child.kill('SIGTERM');
  }
}

/** Median wall time of a review command, in ms (3 runs). */
function command(args) {
  const times = [];
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    execFileSync('node', [bin, ...args], { env: { ...env, TZ: 'UTC' }, stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 1 << 28 });
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(times);
}

/**
 * `events` needs each frame's reason and score: the NATS store takes them from the values of
 * the day's listing (one ordered consumer over the day's subjects) instead of one KV get per
 * frame. `list` is the listing alone; the file store, reading the same day, is the baseline.
 */
async function eventsOfADay(dir, nats) {
  const folder = join(dir, 'day');
  const small = readFileSync(join(root, 'test/fixtures/jpeg/cjpeg-baseline.jpg'));
  mkdirSync(join(folder, 'bench', '2026-11-21'), { recursive: true });
  const step = Math.floor(86_400_000 / DAY_FRAMES);
  for (let i = 0; i < DAY_FRAMES; i++) {
    const stamp = new Date(Date.UTC(2026, 10, 21) + i * step).toISOString().replace(/[-:]/g, '');
    writeFileSync(join(folder, 'bench', '2026-11-21', `${stamp}_d${i}.jpg`), small);
  }
  const url = nats.url('day');
  execFileSync('node', [bin, 'migrate', '--from', folder, '--to', url], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const day = ['--day', '2026-11-21', '--json'];
  // Messages the node received from clients during a command: requests, independent of load.
  const received = async () => (await (await fetch(`http://127.0.0.1:${nats.nodes[0].monitor}/varz`)).json()).in_msgs;
  const counted = async (args) => {
    const before = await received();
    const ms = command(args);
    return { ms, requests: ((await received()) - before) / 3 };
  };
  const rows = [];
  for (const [name, store] of [['file store', folder], ['NATS, one node', url]]) {
    const list = await counted(['list', '--store', store, ...day]);
    const events = await counted(['events', '--store', store, ...day, '--event-gap', '5m']);
    rows.push({ name, list, events });
  }
  const [base] = rows;
  const onNats = rows[1];
  return {
    title: 'NATS store: listing and events of a day',
    setup: `\`list --json\` (the listing alone) and \`events\` (the listing, reasons and scores) of one camera's day of ${DAY_FRAMES} frames (median of 3 runs, ms per command, process start included). Messages: what the client sent the node per command (connect, JetStream API requests, KV gets, flow-control replies), a count the machine's load cannot change.`,
    tables: [{
      columns: ['store', 'list ms', 'events ms', 'list, ratio to file store', 'events, ratio to file store', 'messages to nats-server: list', 'events'],
      align: ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
      rows: rows.map((r) => {
        const n = r.name === base.name ? ['-', '-'] : [r.list.requests.toFixed(0), r.events.requests.toFixed(0)];
        return [r.name, r.list.ms.toFixed(0), r.events.ms.toFixed(0), `${(r.list.ms / base.list.ms).toFixed(2)}x`, `${(r.events.ms / base.events.ms).toFixed(2)}x`, n[0], n[1]];
      }),
    }],
    targets: [{
      what: `messages to nats-server for \`events\` of a day of ${DAY_FRAMES} frames (a day's keys read in one pass, not one get per frame)`,
      result: onNats.events.requests.toFixed(0),
      target: 'at most 50, whatever the number of frames',
      met: onNats.events.requests <= 50,
    }],
  };
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-nats-'));
  const single = await startNatsServers(1);
  const cluster = await startNatsServers(3);
  try {
    const jpeg = frame300k(dir);
    const stores = [
      ['file store (baseline)', () => ['--store', join(dir, 'files'), '--min-free', '0']],
      ['NATS, one node (R=1)', (b) => ['--store', single.url(b)]],
      ['NATS, 3-node cluster (R=3)', (b) => ['--store', cluster.url(b), '--nats-replicas', '3']],
    ];
    const rows = [];
    for (const [name, args] of stores) {
      rows.push([name, 'listener (--listen)', await listener(args('listen'), jpeg, `l-${rows.length}`)]);
      rows.push([name, 'per connection (inetd)', await perConnection(args('inetd'), jpeg)]);
    }
    const ingest = {
      title,
      setup: `${(jpeg.length / 1024).toFixed(0)} KiB JPEGs on loopback: listener mode ${FRAMES} framed frames on one connection, each waiting for its answer; per connection ${CONNECTIONS} connections of one frame. ms per frame: from the first byte sent to the answer (listener), or from connect to close (per connection, which includes the process start and, for NATS, the connection to the cluster).`,
      tables: [{
        columns: ['store', 'mode', 'OK', 'frames/s', 'median ms per frame', 'p90 ms', 'frames/s ratio to file store, same mode'],
        align: ['l', 'l', 'r', 'r', 'r', 'r', 'r'],
        rows: rows.map(([name, mode, r]) => {
          const base = rows.find((x) => x[1] === mode)[2];
          return [name, mode, `${r.ok}/${r.n}`, r.fps.toFixed(1), r.median.toFixed(1), r.p90.toFixed(1), `${(r.fps / base.fps).toFixed(2)}x`];
        }),
      }],
      targets: [{
        what: 'every frame answered OK, in every store and mode (OK only after JetStream acknowledged at the configured replication)',
        result: rows.map(([name, mode, r]) => `${r.ok}/${r.n}`).join(', '),
        target: 'all',
        met: rows.every(([, , r]) => r.ok === r.n),
      }],
      summary: rows.filter(([, mode]) => mode.startsWith('listener')).map(([name, , r]) => ({ what: `NATS bench, listener mode: ${name}`, result: `${r.fps.toFixed(1)} frames/s, median ${r.median.toFixed(1)} ms` })),
    };
    return [ingest, await eventsOfADay(dir, single)];
  } finally {
    await Promise.all([single.stop(), cluster.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}
