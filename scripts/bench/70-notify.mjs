// Notifier latency: frame stored -> MQTT message. A real receiver (--listen, framed frames over
// TCP), a real mosquitto on a private loopback port, the built `surveillance-receiver notify`
// watching the store, and an mqtt.js subscriber in this process. Each sample is one event: a
// frame after more than --event-gap of quiet, so the notifier says ON; the latency is from the
// receiver's OK for that frame (sent only once the frame is durable under its name: the time it
// was stored, to within a loopback round trip) to the ON message's arrival here. Baseline in
// the same run: a publish -> message round trip through the same broker, with no notifier.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const title = 'Notifier: frame stored -> MQTT message';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = ['cjs', 'js'].map((ext) => join(root, `packages/receiver/bin/surveillance-receiver.${ext}`)).find(existsSync);
const { connectAsync } = createRequire(join(root, 'packages/receiver/package.json'))('mqtt');
const SAMPLES = Number(process.env.BENCH_NOTIFY_SAMPLES ?? 40);
const GAP_MS = 300;
const JPEG = readFileSync(join(root, 'test/fixtures/jpeg/ffmpeg-baseline.jpg'));
const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: tmpdir(), LANG: 'C.UTF-8', TZ: 'UTC' };
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

/** Starts a child and resolves once its output matches `ready`. */
async function start(cmd, args, ready) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; !ready.test(out); i++) {
    if (child.exitCode !== null || i > 1000) throw new Error(`${cmd} ${args[0]} did not start: ${out}`);
    await sleep(10);
  }
  return { child, stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM')))) };
}

async function startMosquitto(dir) {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, ...(process.getuid?.() === 0 ? ['user root'] : []), 'allow_anonymous true', 'persistence false', 'log_dest stderr', 'log_type error', ''].join('\n'));
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (i > 200 || child.exitCode !== null) throw new Error('mosquitto did not start');
    await sleep(25);
  }
  return { port, stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM')))) };
}

/** One framed frame on its own connection; resolves at the receiver's OK. */
function sendFrame(port, id) {
  const header = `SVF1 camera=bench id=${id} time=${new Date().toISOString()} length=${JPEG.length} reason=motion score=0.5\n`;
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(Buffer.concat([Buffer.from(header), JPEG])));
    let reply = '';
    s.setEncoding('utf8');
    s.on('data', (d) => {
      reply += d;
      if (reply.includes('\n')) {
        const at = now();
        s.destroy();
        reply.startsWith('OK ') ? resolve(at) : reject(new Error(`receiver: ${reply}`));
      }
    });
    s.on('error', reject);
  });
}

export async function run() {
  if (spawnSync('mosquitto', ['-h']).error) {
    return { setup: 'mosquitto is not installed: nothing measured.', targets: [{ what: 'frame stored -> MQTT ON, p95', result: 'not measured', target: 'at most 1 s', met: undefined }] };
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-notify-'));
  const store = join(dir, 'store');
  mkdirSync(store);
  const broker = await startMosquitto(dir);
  const port = await freePort();
  const receiver = await start('node', [bin, '--store', store, '--listen', `127.0.0.1:${port}`], /Listening on|"msg":"listening"/);
  const notifier = await start('node', [bin, 'notify', '--store', store, '--mqtt', `mqtt://127.0.0.1:${broker.port}`, '--event-gap', `${GAP_MS}ms`, '--cooldown', '0', '--silence', '0'], /"msg":"notifying"/);
  const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 });
  try {
    let waiter;
    client.on('message', (topic, payload) => waiter?.(topic, payload.toString(), now()));
    const next = (test) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within 10 s')), 10_000);
      waiter = (topic, text, at) => {
        if (!test(topic, text)) return;
        clearTimeout(timer);
        waiter = undefined;
        resolve(at);
      };
    });
    await client.subscribeAsync(['surveillance/bench/motion', 'bench/echo'], { qos: 0 });

    // Baseline: the broker's own publish -> message round trip.
    const echo = [];
    for (let i = 0; i < SAMPLES; i++) {
      const got = next((t) => t === 'bench/echo');
      const t0 = now();
      await client.publishAsync('bench/echo', String(i));
      echo.push((await got) - t0);
    }

    // A first event lets discovery and the camera's first notices pass before measuring.
    const latencies = [];
    for (let i = -1; i < SAMPLES; i++) {
      const on = next((t, text) => t === 'surveillance/bench/motion' && text === 'ON');
      const stored = await sendFrame(port, `n${i + 1}`);
      const at = await on;
      if (i >= 0) latencies.push(at - stored);
      await next((t, text) => t === 'surveillance/bench/motion' && text === 'OFF');
      await sleep(50);
    }
    const ms = (x) => `${x.toFixed(1)} ms`;
    const p50 = quantile(latencies, 0.5);
    const p95 = quantile(latencies, 0.95);
    return {
      setup: `${SAMPLES} events, one frame each (framed, \`reason=motion\`), sent to a real receiver (\`--listen\`) over TCP; the notifier (\`notify --mqtt ... --event-gap ${GAP_MS}ms\`) watches the store and says ON on \`surveillance/bench/motion\`. Latency: from the receiver's OK (sent once the frame is durable under its name) to the ON message at a subscriber in the bench process, through a private mosquitto on loopback. Baseline: that subscriber's own publish -> message round trip through the same broker.`,
      commands: [`surveillance-receiver --store STORE --listen 127.0.0.1:PORT`, `surveillance-receiver notify --store STORE --mqtt mqtt://127.0.0.1:BROKER --event-gap ${GAP_MS}ms --cooldown 0 --silence 0`],
      tables: [
        {
          columns: ['path', 'p50', 'p95', 'max'],
          align: ['l', 'r', 'r', 'r'],
          rows: [
            ['frame stored -> MQTT ON', ms(p50), ms(p95), ms(Math.max(...latencies))],
            ['baseline: publish -> message (broker only)', ms(quantile(echo, 0.5)), ms(quantile(echo, 0.95)), ms(Math.max(...echo))],
          ],
        },
      ],
      notes: ['Most of it is the store watcher\'s batch window (150 ms, store/file-watch.ts: one batch per window, so a burst is one notice, not many).'],
      targets: [{ what: 'frame stored -> MQTT ON, p95', result: `${ms(p95)} (p50 ${ms(p50)}; broker alone p50 ${ms(quantile(echo, 0.5))})`, target: 'at most 1 s', met: p95 <= 1000 }],
      summary: [{ what: 'frame stored -> MQTT ON, p50', result: ms(p50) }],
    };
  } finally {
    await client.endAsync();
    await notifier.stop();
    await receiver.stop();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
