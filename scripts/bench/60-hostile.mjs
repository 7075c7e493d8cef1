// Hostile peers: what they cost a listener (--listen). Resident memory and open fds of the
// receiver process, idle (the baseline) and under each flood, measured in the same run; the
// ratios say how much a peer can make the receiver hold. Figures only: tests never assert on
// them (test/hostile.test.ts asserts the behaviour).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const title = 'Hostile peers: receiver memory and fds under floods (listener mode)';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'packages/receiver/bin/surveillance-receiver.cjs');
const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: tmpdir(), LANG: 'C.UTF-8' };
const PEERS = Number(process.env.BENCH_HOSTILE_PEERS ?? 60);
const FLOOD_MS = Number(process.env.BENCH_HOSTILE_MS ?? 3000);

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const fds = (pid) => readdirSync(`/proc/${pid}/fd`).length;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function receiver(store) {
  const port = await freePort();
  const child = spawn('node', [bin, '--store', store, '--listen', `127.0.0.1:${port}`, '--min-free', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  while (!/"msg":"listening"/.test(err)) await sleep(10);
  return { port, child, stderr: () => err };
}

/** Peers that each write `bytes` as fast as the socket takes them and read nothing. */
async function flood(port, bytes, ms) {
  const sockets = [];
  let stop = false;
  for (let i = 0; i < PEERS; i++) {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    s.pause(); // never read the answers
    const pump = () => {
      while (!stop && s.write(bytes));
      if (!stop) s.once('drain', pump);
    };
    s.on('connect', pump);
    sockets.push(s);
  }
  await sleep(ms);
  stop = true;
  return sockets;
}

/** Peers that connect and trickle one byte of a header every 500 ms. */
async function trickle(port, ms) {
  const sockets = [];
  for (let i = 0; i < PEERS; i++) {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    const header = Buffer.from('SVF1 camera=slow id=x time=2026-01-01T00:00:00Z length=100000\n');
    let at = 0;
    const t = setInterval(() => (at < header.length && !s.destroyed ? s.write(header.subarray(at, ++at)) : clearInterval(t)), 500);
    s.on('close', () => clearInterval(t));
    sockets.push(s);
  }
  await sleep(ms);
  return sockets;
}

export async function run() {
  const rows = [];
  for (const [name, attack] of [
    ['idle (baseline)', async () => []],
    [`${PEERS} peers flooding "SVF1 ping" without reading`, (port) => flood(port, Buffer.from('SVF1 ping\n'.repeat(100)), FLOOD_MS)],
    [`${PEERS} peers flooding garbage`, (port) => flood(port, Buffer.alloc(64 * 1024, 0x41), FLOOD_MS)],
    [`${PEERS} peers trickling a header byte every 500 ms`, (port) => trickle(port, FLOOD_MS)],
  ]) {
    const store = mkdtempSync(join(tmpdir(), 'bench-hostile-'));
    const r = await receiver(store);
    await sleep(200);
    const sockets = await attack(r.port);
    rows.push({ name, rss: rssMiB(r.child.pid), fds: fds(r.child.pid), warnings: (r.stderr().match(/MaxListenersExceededWarning/g) ?? []).length });
    for (const s of sockets) s.destroy();
    r.child.kill('SIGKILL');
    rmSync(store, { recursive: true, force: true });
  }
  const base = rows[0];
  const attacks = rows.slice(1);
  const worst = attacks.reduce((w, r) => (r.rss / base.rss > w.rss / base.rss ? r : w), attacks[0]);
  const maxFds = Math.max(...rows.map((r) => r.fds));
  const warnings = rows.reduce((n, r) => n + r.warnings, 0);
  return {
    title,
    setup: `Each flood runs ${FLOOD_MS / 1000} s against a fresh listener (\`--listen\`, default limits: 64 connections, 8 per source); figures taken at its end, RSS from /proc, fds from /proc/PID/fd.`,
    tables: [{
      columns: ['attack', 'RSS MiB', 'RSS ratio to idle', 'open fds', 'MaxListenersExceededWarning'],
      align: ['l', 'r', 'r', 'r', 'r'],
      rows: rows.map((r) => [r.name, r.rss.toFixed(1), `${(r.rss / base.rss).toFixed(2)}x`, r.fds, r.warnings]),
    }],
    targets: [
      { what: 'receiver RSS under the worst flood, ratio to idle', result: `${(worst.rss / base.rss).toFixed(2)}x (${worst.name})`, target: 'at most 2x', met: worst.rss / base.rss <= 2 },
      { what: 'open fds under any flood', result: String(maxFds), target: 'at most --max-connections (64) + 20', met: maxFds <= 84 },
      { what: 'MaxListenersExceededWarning under any flood', result: String(warnings), target: 'none', met: warnings === 0 },
    ],
  };
}
