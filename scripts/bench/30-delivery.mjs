// Sender delivery: how long from the camera's picture being written to the frame being stored
// on the receiver (over loopback, receiver under systemd-socket-activate --inetd like
// Accept=yes), and how much memory the sender keeps. The baseline is the tutorial's camera
// side, `socat` pushing the file raw to the same receiver, measured the same way in the same
// run: it has no change detection and no spool, so the ratio is the price of both.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const title = 'Sender: picture written to frame stored (loopback), and sender memory';

const root = fileURLToPath(new URL('../..', import.meta.url));
const receiverBin = ['cjs', 'js'].map((ext) => join(root, `packages/receiver/bin/surveillance-receiver.${ext}`)).find(existsSync);
const senderBin = join(root, 'packages/sender/bin/surveillance-sender.js');
// 100: with 40 the p95 of 35 steady frames was the second-worst one, so a single disk stall of
// the shared VM decided the target (185 ms in one run, 20 and 24 ms in the next two).
const FRAMES = Number(process.env.BENCH_DELIVERY_FRAMES ?? 100);
// A controlled environment: the shells here add NODE_EXTRA_CA_CERTS (~50 ms per start).
const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: tmpdir(), LANG: 'C.UTF-8' };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const ms = (x) => x.toFixed(1);
const now = () => performance.now();

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Distinct camera-like frames: ffmpeg's moving test pattern, one second apart. */
function makeFrames(dir, count, size) {
  mkdirSync(dir, { recursive: true });
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=1`, '-frames:v', String(count), '-q:v', '4', join(dir, 'f%03d.jpg')]);
  return readdirSync(dir).sort().map((n) => readFileSync(join(dir, n)));
}

/** The receiver, with a hook that sees each "stored" log line the moment it arrives. */
async function startReceiver(store, extra = []) {
  const port = await freePort();
  const child = spawn('systemd-socket-activate', ['--inetd', '-a', '-l', `127.0.0.1:${port}`, 'node', receiverBin, '--store', store, ...extra], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  const waiters = [];
  let stored = 0;
  let listening = false;
  child.stderr.setEncoding('utf8').on('data', (d) => {
    text += d;
    let lf;
    while ((lf = text.indexOf('\n')) !== -1) {
      const line = text.slice(0, lf);
      text = text.slice(lf + 1);
      if (line.startsWith('Listening on')) listening = true;
      if (line.includes('"msg":"stored"')) {
        stored++;
        const t = now();
        for (const w of waiters.splice(0)) w(t);
      }
    }
  });
  while (!listening) await sleep(10);
  return {
    port,
    child,
    get stored() {
      return stored;
    },
    /** Resolves with the time the next "stored" line arrived. */
    nextStored: () => new Promise((resolve) => waiters.push(resolve)),
  };
}

function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(status)[1]), hwm: Number(/VmHWM:\s+(\d+)/.exec(status)[1]) };
}

function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

/** How capture programs write: a temporary file renamed over the picture, or in place in stdio-sized chunks. */
const writers = {
  rename(path, bytes) {
    writeFileSync(`${path}.tmp`, bytes);
    renameSync(`${path}.tmp`, path);
  },
  inPlace(path, bytes) {
    const fd = openSync(path, 'w');
    for (let o = 0; o < bytes.length; o += 4096) writeSync(fd, bytes, o, Math.min(4096, bytes.length - o));
    closeSync(fd);
  },
};

/** One sender series: each frame written, then timed until the receiver stored it. */
async function senderSeries(dir, frames, receiver, { write, linger, key }) {
  const cam = join(dir, `cam-${write}-${linger}${key ? '-tls' : ''}`);
  mkdirSync(cam, { recursive: true });
  const file = join(cam, 'monitor.jpg');
  const sender = spawn('node', [senderBin, 'watch', '--file', file, '--to', `127.0.0.1:${receiver.port}`, '--spool', join(cam, 'spool'), '--camera', 'bench', '--interval', '1s', '--min-gap', '0', '--heartbeat', '0', '--linger', linger, ...(key ? ['--key', key] : [])], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  sender.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  while (!err.includes('"msg":"watching"')) {
    if (sender.exitCode !== null) throw new Error(`sender did not start: ${err}`);
    await sleep(10);
  }
  const latencies = [];
  let cpuAfterWarmup = 0;
  let memAfterWarmup;
  for (let i = 0; i < frames.length; i++) {
    const stored = receiver.nextStored();
    const t0 = now();
    writers[write](file, frames[i]);
    latencies.push((await stored) - t0);
    if (i === 4) {
      cpuAfterWarmup = cpuMs(sender.pid);
      memAfterWarmup = rssKiB(sender.pid);
    }
    await sleep(linger === '0' ? 150 : 60);
  }
  const cpuPerFrame = (cpuMs(sender.pid) - cpuAfterWarmup) / (frames.length - 5);
  const mem = rssKiB(sender.pid);
  sender.kill('SIGTERM');
  await new Promise((r) => sender.once('exit', r));
  // The first frames pay for loading sharp and opening the first connection: reported apart.
  return { first: latencies[0], steady: latencies.slice(5), cpuPerFrame, memAfterWarmup, mem };
}

/** The tutorial's camera side: `socat` pushing the file raw, one connection (one receiver process) per frame. */
async function socatSeries(dir, frames, receiver) {
  const latencies = [];
  for (let i = 0; i < frames.length; i++) {
    const path = join(dir, 'socat.jpg');
    writeFileSync(path, frames[i]);
    const stored = receiver.nextStored();
    const t0 = now();
    spawn('socat', ['-u', `OPEN:${path}`, `TCP:127.0.0.1:${receiver.port}`], { env, stdio: 'ignore' });
    latencies.push((await stored) - t0);
    await sleep(50);
  }
  return latencies.slice(5);
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-delivery-'));
  const receiver = await startReceiver(join(dir, 'store'));
  // A paired receiver and camera: the same path over TLS-PSK.
  const keyLine = execFileSync('node', [receiverBin, 'camera', 'add', 'bench', '--keys', join(dir, 'keys'), '--store', join(dir, 'tls')], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const key = join(dir, 'bench.key');
  writeFileSync(key, keyLine, { mode: 0o600 });
  const tlsReceiver = await startReceiver(join(dir, 'tls'), ['--keys', join(dir, 'keys')]);
  try {
    const frames = makeFrames(join(dir, 'frames'), FRAMES, '640x480');
    const kib = Math.round(frames.reduce((s, f) => s + f.length, 0) / frames.length / 1024);
    const baseline = await socatSeries(dir, frames, receiver);
    const series = [
      ['renamed over, connection kept (--linger 5s)', await senderSeries(dir, frames, receiver, { write: 'rename', linger: '5s' })],
      ['written in place, connection kept', await senderSeries(dir, frames, receiver, { write: 'inPlace', linger: '5s' })],
      ['renamed over, new connection per frame (--linger 0)', await senderSeries(dir, frames, receiver, { write: 'rename', linger: '0' })],
      ['TLS-PSK (--key), renamed over, connection kept', await senderSeries(dir, frames, tlsReceiver, { write: 'rename', linger: '5s', key })],
      ['TLS-PSK (--key), new connection per frame (--linger 0)', await senderSeries(dir, frames, tlsReceiver, { write: 'rename', linger: '0', key })],
    ];
    const base50 = pct(baseline, 0.5);
    const [, kept] = series[0];
    const p95 = pct(kept.steady, 0.95);
    const rssMiB = kept.mem.rss / 1024;
    const tlsP95 = pct(series[3][1].steady, 0.95);
    return {
      setup: `${FRAMES} distinct 640x480 frames (~${kib} KiB), each written after the previous one was stored; first 5 frames of each series are warm-up. Receiver under \`systemd-socket-activate --inetd\`.`,
      commands: ['surveillance-sender watch --file monitor.jpg --to 127.0.0.1:PORT --spool DIR --camera bench --interval 1s --min-gap 0 --heartbeat 0 --linger 5s|0', 'socat -u OPEN:FRAME.jpg TCP:127.0.0.1:PORT   (baseline)'],
      tables: [{
        columns: ['path', 'p50 ms', 'p95 ms', 'p50 vs baseline', 'sender CPU ms/frame'],
        align: ['l', 'r', 'r', 'r', 'r'],
        rows: [
          ['baseline: `socat` raw push, receiver process per frame (tutorial)', ms(base50), ms(pct(baseline, 0.95)), '1.00', '-'],
          ...series.map(([name, r]) => [`sender watch: ${name}`, ms(pct(r.steady, 0.5)), ms(pct(r.steady, 0.95)), (pct(r.steady, 0.5) / base50).toFixed(2), ms(r.cpuPerFrame)]),
        ],
      }],
      notes: [
        `First frame after start (sharp loaded, first connection): ${ms(kept.first)} ms.`,
        `Sender memory: RSS ${rssMiB.toFixed(1)} MiB after ${FRAMES} frames (${(kept.memAfterWarmup.rss / 1024).toFixed(1)} MiB after 5; peak ${(kept.mem.hwm / 1024).toFixed(1)} MiB).`,
      ],
      targets: [
        { what: '`monitor.jpg` written to frame stored, loopback, connection kept: p95', result: `${ms(p95)} ms (p50 ${ms(pct(kept.steady, 0.5))} ms; the tutorial's \`socat\` push p50 ${ms(base50)} ms)`, target: 'at most 100 ms', met: p95 <= 100 },
        { what: `sender memory (RSS) after ${FRAMES} frames`, result: `${rssMiB.toFixed(0)} MiB`, target: 'at most 100 MiB', met: rssMiB <= 100 },
        { what: '`monitor.jpg` written to frame stored over TLS-PSK (--key), connection kept: p95', result: `${ms(tlsP95)} ms (p50 ${ms(pct(series[3][1].steady, 0.5))} ms)`, target: 'at most 20 ms', met: tlsP95 <= 20 },
      ],
    };
  } finally {
    for (const r of [receiver, tlsReceiver]) {
      r.child.kill('SIGTERM');
      await new Promise((done) => r.child.once('exit', done));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
