// Receiver costs. Per connection (Accept=yes, one process each): the built receiver storing one
// 300 KB frame, in plaintext and with camera keys over TLS-PSK (the camera link of a paired
// receiver), against a bare `node -e 0` start and the tutorial's Python receiver under the
// same launcher (systemd-socket-activate --inetd), interleaved so that machine noise hits all
// alike. Then listener-mode throughput for 300 KB frames from one camera and from many,
// against a minimal durable Node listener (the floor).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectPsk } from '../lib/psk-client.mjs';

export const title = 'Receiver: cost per connection (inetd) and listener throughput';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'packages/receiver/bin/surveillance-receiver.cjs');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
// BENCH_RECEIVER_BEFORE=/path/to/an/older/checkout's/surveillance-receiver.cjs measures that
// build too, interleaved in the same run: the before/after of a change as a ratio, not two runs.
const before = process.env.BENCH_RECEIVER_BEFORE;
// BENCH_RECEIVER_PART=inetd or =listener runs only that half (the other takes minutes).
const part = process.env.BENCH_RECEIVER_PART;
// A controlled environment: the shells here add NODE_EXTRA_CA_CERTS (~50 ms per start).
const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: tmpdir(), LANG: 'C.UTF-8' };

/** A real ~300 KB JPEG: ffmpeg's test pattern at 1080p, topped up with an APP segment if needed. */
export function frame300k(dir) {
  const path = join(dir, 'frame.jpg');
  execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=1', '-frames:v', '1', '-q:v', '3', '-y', path]);
  let jpeg = readFileSync(path);
  while (jpeg.length < 300_000) {
    const pad = Buffer.alloc(Math.min(65533, 300_000 - jpeg.length) + 4);
    pad.writeUInt16BE(0xffee, 0);
    pad.writeUInt16BE(pad.length - 2, 2);
    jpeg = Buffer.concat([jpeg.subarray(0, 2), pad, jpeg.subarray(2)]);
  }
  return jpeg;
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function launch(args) {
  const port = await freePort();
  // systemd names the peer of an Accept=yes connection in REMOTE_ADDR; this launcher does not,
  // so it is set here as systemd would (the receiver reads its fd with node:fs then).
  const child = spawn('systemd-socket-activate', ['-E', 'REMOTE_ADDR=127.0.0.1', '--inetd', '-a', '-l', `127.0.0.1:${port}`, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  while (!/Listening on/.test(err)) await new Promise((r) => setTimeout(r, 10));
  return { port, child };
}

/** Milliseconds from connect to the receiver closing, for one frame. */
function once(port, bytes) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    s.on('connect', () => s.end(bytes));
    s.on('data', () => {});
    s.on('end', () => s.end());
    s.on('error', (e) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? undefined : reject(e)));
    s.on('close', () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
  });
}

/** The same over TLS-PSK, as a paired camera: handshake, the frame, the answer, the close. */
function onceTls(port, bytes, key) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = connectPsk(port, key);
    let answer = '';
    s.on('secureConnect', () => s.end(bytes));
    s.on('data', (d) => (answer += d));
    s.on('end', () => s.end());
    s.on('error', (e) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? undefined : reject(e)));
    s.on('close', () => (answer.startsWith('OK ') ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`TLS receiver answered ${JSON.stringify(answer)}`))));
  });
}

/** A key folder with one camera, made by the receiver's own command; the key line parsed. */
function pairBench(dir) {
  const line = execFileSync('node', [bin, 'camera', 'add', 'bench', '--keys', join(dir, 'keys'), '--store', join(dir, 'tls')], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [, camera, keyId, key] = line.trim().split(' ');
  return { keys: join(dir, 'keys'), key: { camera, keyId, key: Buffer.from(key, 'base64url') } };
}

/**
 * CPU time in ms from /proc/PID/stat: utime+stime of the process, all its threads (fields 14
 * and 15), or of its reaped children (16 and 17).
 */
function cpuMs(pid, of = 'self') {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const at = of === 'children' ? 13 : 11;
  return ((Number(fields[at]) + Number(fields[at + 1])) * 1000) / 100;
}
const childCpuMs = (pid) => cpuMs(pid, 'children');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)];

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-receiver-'));
  try {
    const jpeg = frame300k(dir);
    if (part === 'listener') return [await throughput(dir, jpeg)];
    const paired = pairBench(dir);
    const py = join(dir, 'surveillancething.py');
    // The tutorial's receiver, with its store path filled in and a counter so names do not collide.
    writeFileSync(py, `import sys, os\nfrom time import strftime\nfn = strftime("%Y_%m_%d_%H_%M_%S") + "_" + str(os.getpid()) + ".jpg"\noutput_file = open("${dir}/py/" + fn, "wb")\noutput_file.write(sys.stdin.buffer.read())\n`);
    execFileSync('mkdir', ['-p', join(dir, 'py'), join(dir, 'sh')]);
    // The floor for any Node receiver that reads its connection as a socket: no checks, no logs.
    const minimal = join(dir, 'minimal.cjs');
    writeFileSync(minimal, `const net = require('net'), fs = require('fs');
const s = new net.Socket({ fd: 0, readable: true, writable: true, allowHalfOpen: true });
const fd = fs.openSync('${dir}/sh/' + process.pid + '.jpg', 'w');
s.on('data', (d) => fs.writeSync(fd, d));
s.on('end', () => { fs.fsyncSync(fd); fs.closeSync(fd); s.end('OK\\n'); });
`);
    // The floor for any receiver that keeps the project's promise (durable before OK): the data
    // fsynced, linked under its name, and that folder fsynced. Two fsyncs, nothing else.
    const durable = join(dir, 'durable.cjs');
    execFileSync('mkdir', ['-p', join(dir, 'durable')]);
    writeFileSync(durable, `const net = require('net'), fs = require('fs');
const s = new net.Socket({ fd: 0, readable: true, writable: true, allowHalfOpen: true });
const tmp = '${dir}/durable/.' + process.pid + '.part', name = '${dir}/durable/' + process.pid + '-' + Date.now() + '.jpg';
const fd = fs.openSync(tmp, 'w');
s.on('data', (d) => fs.writeSync(fd, d));
s.on('end', () => { fs.fsyncSync(fd); fs.closeSync(fd); fs.linkSync(tmp, name); fs.unlinkSync(tmp); const d = fs.openSync('${dir}/durable', 'r'); fs.fsyncSync(d); fs.closeSync(d); s.end('OK\\n'); });
`);
    // The same floor without node:net: the connection read and answered with node:fs on fd 0, as
    // the receiver does for a plaintext connection (src/receive/fd-socket.ts).
    const durableFs = join(dir, 'durable-fs.cjs');
    writeFileSync(durableFs, `const fs = require('fs');
const tmp = '${dir}/durable/.' + process.pid + '.part', name = '${dir}/durable/' + process.pid + '-' + Date.now() + '.jpg';
const fd = fs.openSync(tmp, 'w');
const buffer = Buffer.allocUnsafe(65536);
for (let n; (n = fs.readSync(0, buffer)) > 0; ) fs.writeSync(fd, buffer, 0, n);
fs.fsyncSync(fd); fs.closeSync(fd); fs.linkSync(tmp, name); fs.unlinkSync(tmp); const d = fs.openSync('${dir}/durable', 'r'); fs.fsyncSync(d); fs.closeSync(d); fs.writeSync(1, 'OK\\n');
`);
    // The floor for any Node receiver over TLS-PSK: node:tls loaded, the same handshake and cipher,
    // then the same durable write. No key lookup, no checks, no logs.
    const durableTls = join(dir, 'durable-tls.cjs');
    writeFileSync(durableTls, `const net = require('net'), tls = require('tls'), fs = require('fs');
const key = Buffer.from('${paired.key.key.toString('base64')}', 'base64');
const raw = new net.Socket({ fd: 0, readable: true, writable: true, allowHalfOpen: true });
const s = new tls.TLSSocket(raw, { isServer: true, ciphers: 'ECDHE-PSK-CHACHA20-POLY1305', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ca: [], pskIdentityHint: 'surveillance', pskCallback: () => key });
const tmp = '${dir}/durable/.' + process.pid + '.part', name = '${dir}/durable/' + process.pid + '-' + Date.now() + '.jpg';
const fd = fs.openSync(tmp, 'w');
s.on('data', (d) => fs.writeSync(fd, d));
s.on('end', () => { fs.fsyncSync(fd); fs.closeSync(fd); fs.linkSync(tmp, name); fs.unlinkSync(tmp); const d = fs.openSync('${dir}/durable', 'r'); fs.fsyncSync(d); fs.closeSync(d); s.end('OK stored\\n'); });
`);
    const contenders = [
      ['bare `node -e 0` (baseline)', ['node', '-e', '0']],
      ['minimal Node socket receiver, no checks or logs', ['node', minimal]],
      ['minimal durable Node receiver: data fsync, link, folder fsync', ['node', durable]],
      ['same, without node:net (node:fs on fd 0)', ['node', durableFs]],
      ['surveillance-receiver (inetd), plaintext', ['node', bin, '--store', join(dir, 'store'), '--min-free', '0']],
      ['surveillance-receiver (inetd), camera keys, TLS-PSK', ['node', bin, '--store', join(dir, 'tls'), '--min-free', '0', '--keys', paired.keys], paired.key],
      ['minimal durable Node receiver over TLS-PSK (the same handshake, no checks)', ['node', durableTls], paired.key],
      ...(before
        ? [
            ['surveillance-receiver, before (BENCH_RECEIVER_BEFORE)', ['node', before, '--store', join(dir, 'store-before'), '--min-free', '0']],
            ['surveillance-receiver, before (BENCH_RECEIVER_BEFORE), camera keys, TLS-PSK', ['node', before, '--store', join(dir, 'tls-before'), '--min-free', '0', '--keys', paired.keys], paired.key],
          ]
        : []),
      ["tutorial's Python receiver", ['/usr/bin/python3', py]],
      ["`sh -c 'cat > file'`", ['sh', '-c', `cat > ${dir}/sh/$$.jpg`]],
    ];
    const launched = [];
    for (const [name, args, key] of contenders) launched.push({ name, key, ...(await launch(args)), times: [] });
    const one = (l) => (l.key ? onceTls(l.port, jpeg, l.key) : once(l.port, jpeg));
    for (const l of launched) await one(l); // warm the page cache
    for (const l of launched) l.cpu0 = childCpuMs(l.child.pid);
    for (let i = 0; i < ROUNDS; i++) for (const l of launched) l.times.push(await one(l));
    // The launcher reaps every per-connection process, so its children's CPU time is theirs.
    await new Promise((r) => setTimeout(r, 300));
    for (const l of launched) l.cpu = (childCpuMs(l.child.pid) - l.cpu0) / ROUNDS;
    for (const l of launched) l.child.kill();

    const base = median(launched[0].times);
    const baseCpu = launched[0].cpu;
    const byName = (start) => launched.find((l) => l.name.startsWith(start));
    const [minimalRun, durableRun, durableFsRun, ours, tlsOurs, tlsFloor, python] = ['minimal Node', 'minimal durable Node receiver:', 'same, without node:net', 'surveillance-receiver (inetd), plaintext', 'surveillance-receiver (inetd), camera keys', 'minimal durable Node receiver over TLS', "tutorial's"].map(byName);
    const tlsWall = median(tlsOurs.times) / base;
    const tlsCpu = tlsOurs.cpu / baseCpu;
    const wall = median(ours.times) / base;
    const cpu = ours.cpu / baseCpu;
    const perConnection = {
      title: 'Receiver: cost per connection (inetd)',
      setup: `${ROUNDS} connections each, one ${(jpeg.length / 1024).toFixed(0)} KiB JPEG per connection, interleaved; every program under the same launcher, \`systemd-socket-activate --inetd -a\` (as Accept=yes). ms: from connect until the receiver closed the connection (the client's wait). CPU: user+system time of the per-connection processes, from the launcher's reaped-children counters.`,
      commands: contenders.map(([, args]) => args.join(' ')),
      tables: [{
        columns: ['receiver', 'median ms', 'p90 ms', 'ratio to `node -e 0`', 'CPU ms per connection', 'CPU ratio'],
        align: ['l', 'r', 'r', 'r', 'r', 'r'],
        rows: launched.map((l) => [l.name, median(l.times).toFixed(1), p90(l.times).toFixed(1), `${(median(l.times) / base).toFixed(2)}x`, l.cpu.toFixed(1), `${(l.cpu / baseCpu).toFixed(2)}x`]),
      }],
      targets: [{
        what: 'per-connection receiver, one 293 KiB frame: wall / CPU, ratio to a bare `node -e 0`',
        result: `${wall.toFixed(2)}x / ${cpu.toFixed(2)}x (${median(ours.times).toFixed(1)} ms; \`node -e 0\` ${base.toFixed(1)} ms)`,
        target: 'at most 1.25x',
        met: wall <= 1.25,
      }, {
        what: 'the same with camera keys (TLS-PSK handshake included): wall / CPU, ratio to a bare `node -e 0`',
        result: `${tlsWall.toFixed(2)}x / ${tlsCpu.toFixed(2)}x (${median(tlsOurs.times).toFixed(1)} ms)`,
        target: 'at most 1.5x',
        met: tlsWall <= 1.5,
      }, {
        // Added beside the 1.5x, not instead of it: a minimal durable receiver with the
        // same handshake was itself 1.43-1.68x `node -e 0` across runs here, so that target is
        // Node's TLS cost on this machine, not ours. This one is what our code adds to it.
        what: 'with camera keys, ratio to a minimal durable Node receiver over TLS-PSK (the same handshake, no checks): wall / CPU',
        result: `${(median(tlsOurs.times) / median(tlsFloor.times)).toFixed(2)}x / ${(tlsOurs.cpu / tlsFloor.cpu).toFixed(2)}x (that floor ${(median(tlsFloor.times) / base).toFixed(2)}x / ${(tlsFloor.cpu / baseCpu).toFixed(2)}x \`node -e 0\`)`,
        target: 'at most 1.25x',
        met: median(tlsOurs.times) / median(tlsFloor.times) <= 1.25,
      }],
      summary: [
        { what: 'same, ratio to the durable floor (a minimal Node receiver that fsyncs the data and its folder entry)', result: `${(median(ours.times) / median(durableRun.times)).toFixed(2)}x / ${(ours.cpu / durableRun.cpu).toFixed(2)}x` },
        { what: 'same, ratio to that floor without node:net (node:fs on fd 0, as the receiver reads it)', result: `${(median(ours.times) / median(durableFsRun.times)).toFixed(2)}x / ${(ours.cpu / durableFsRun.cpu).toFixed(2)}x` },
        { what: 'the floor: a minimal Node receiver on its socket (no checks, no logs), ratio to `node -e 0`', result: `${(median(minimalRun.times) / base).toFixed(2)}x / ${(minimalRun.cpu / baseCpu).toFixed(2)}x` },
        { what: "the tutorial's Python receiver, same launcher", result: `${(median(python.times) / base).toFixed(2)}x / ${(python.cpu / baseCpu).toFixed(2)}x` },
      ],
    };
    return part === 'inetd' ? [perConnection] : [perConnection, await throughput(dir, jpeg)];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The floor for any listener that keeps the project's promise: a minimal Node program doing a
 * frame's I/O as well as Node can, and nothing else (no checks, logs, index line or mtime).
 * Framed units only; per frame: open a temporary file on the thread pool, write the bytes,
 * fsync it on the pool, link it into the camera's folder, fsync that folder (one fsync covers
 * the links made before it starts), then OK.
 */
const FLOOR_LISTENER = `const net = require('net'), fs = require('fs'), path = require('path');
const arg = (n) => process.argv[process.argv.indexOf(n) + 1];
const store = arg('--store'), [host, port] = arg('--listen').split(':'), tmpDir = path.join(store, '.incoming');
fs.mkdirSync(tmpDir, { recursive: true });
const p = (f) => new Promise((res, rej) => f((e, v) => (e ? rej(e) : res(v))));
const waiting = new Map(), running = new Map();
function folderSync(dir) {
  if (waiting.has(dir)) return waiting.get(dir);
  const next = (running.get(dir) ?? Promise.resolve()).then(() => {
    waiting.delete(dir);
    const run = p((cb) => fs.open(dir, 'r', cb)).then((fd) => p((cb) => fs.fsync(fd, cb)).finally(() => fs.close(fd, () => {})));
    running.set(dir, run);
    return run;
  });
  waiting.set(dir, next);
  return next;
}
let n = 0;
net.createServer((s) => {
  let buf = Buffer.alloc(0), need = -1, fd, opening, held, name, dir;
  const onData = (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length) {
      if (need < 0) {
        const lf = buf.indexOf(10);
        if (lf < 0) return;
        const line = buf.subarray(0, lf).toString();
        buf = buf.subarray(lf + 1);
        need = Number(/length=(\\d+)/.exec(line)[1]);
        dir = path.join(store, /camera=(\\S+)/.exec(line)[1]);
        name = path.join(dir, /id=(\\S+)/.exec(line)[1] + '.jpg');
        const tmp = path.join(tmpDir, process.pid + '-' + n++ + '.part');
        fd = undefined;
        held = [];
        opening = p((cb) => fs.open(tmp, 'wx', cb)).then((f) => { fd = f; for (const c of held) fs.writeSync(f, c); return tmp; });
        continue;
      }
      const part = buf.subarray(0, need);
      buf = buf.subarray(part.length);
      need -= part.length;
      if (fd === undefined) held.push(part);
      else fs.writeSync(fd, part);
      if (need > 0) continue;
      need = -1;
      s.pause();
      const rest = buf, target = name, folder = dir;
      buf = Buffer.alloc(0);
      opening.then(async (tmp) => {
        await p((cb) => fs.fsync(fd, cb));
        await p((cb) => fs.close(fd, cb));
        await p((cb) => fs.link(tmp, target, cb)).catch((e) => {
          if (e.code !== 'ENOENT') throw e;
          fs.mkdirSync(folder, { recursive: true });
          return p((cb) => fs.link(tmp, target, cb));
        });
        await Promise.all([p((cb) => fs.unlink(tmp, cb)), folderSync(folder)]);
        s.write('OK -\\n');
        s.resume();
        if (rest.length) onData(rest);
      });
      return;
    }
  };
  s.on('data', onData);
  s.on('end', () => s.end());
  s.on('error', () => {});
}).listen(Number(port), host);
process.on('SIGTERM', () => process.exit(0));
`;

/** One listener, `cameras` connections at once, each sending its share of `frames` pipelined. */
async function ingest(args, dir, jpeg, cameras, frames) {
  const port = await freePort();
  const store = mkdtempSync(join(dir, 'listen-'));
  const child = spawn('node', [...args, '--store', store, '--min-free', '0', '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', '--max-connections', '256', '--max-connections-per-source', '256'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  await listening(port, child);
  const { encodeHeader } = await import('./framing.mjs');
  const per = Math.ceil(frames / cameras);
  // Made before the clock starts; the same JPEG buffer is written for every frame, not copied:
  // the client shares the machine's two cores with the listener, and 120 MB of Buffer.concat
  // (into fresh memory, slow on a VM) was a third of the time measured.
  const headers = Array.from({ length: cameras }, (_, c) => Array.from({ length: per }, (_, i) => encodeHeader(`cam${c}`, `t-${i}`, jpeg.length)));
  const cpu0 = cpuMs(child.pid);
  const t0 = process.hrtime.bigint();
  const exited = new Promise((r) => child.once('exit', r));
  let results, cpu;
  try {
  results = await Promise.all(Array.from({ length: cameras }, (_, c) => new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    let text = '';
    s.on('data', (d) => {
      text += d;
      if (text.split('\n').length > per) s.end();
    });
    s.on('close', () => resolve(text.split('\n').filter(Boolean)));
    s.on('error', reject);
    s.on('connect', () => {
      s.cork();
      for (const header of headers[c]) {
        s.write(header);
        s.write(jpeg);
      }
      s.uncork();
    });
  })));
  cpu = cpuMs(child.pid) - cpu0;
  } finally {
    // Also when a connection failed: the listener must be gone before its store is removed.
    child.kill('SIGTERM');
    await exited;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const acks = results.flat();
  return { ok: acks.filter((l) => l.startsWith('OK ')).length, total: per * cameras, seconds, rate: (per * cameras) / seconds, mb: (per * cameras * jpeg.length) / 1e6 / seconds, cpuPerFrame: cpu / (per * cameras) };
}

/**
 * Until the listener listens on 127.0.0.1:port, read from /proc/net/tcp rather than by
 * connecting (a probe would be one more connection for it to log): a fixed wait was too short
 * on a loaded machine, and the run failed with ECONNREFUSED.
 */
async function listening(port, child) {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (let waited = 0; ; waited += 20) {
    const rows = readFileSync('/proc/net/tcp', 'utf8').split('\n').map((line) => line.trim().split(/\s+/));
    if (rows.some((f) => f[1] === local && f[3] === '0A')) return;
    if (child.exitCode !== null || waited > 30_000) throw new Error(`listener ${child.spawnargs.join(' ')} is not listening on port ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Listener mode: 300 KB frames from one camera, then from many at once; fsync before every OK. */
async function throughput(dir, jpeg) {
  const FRAMES = Number(process.env.BENCH_FRAMES ?? 800);
  const CAMERAS = Number(process.env.BENCH_CAMERAS ?? 16);
  const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
  const floor = join(dir, 'floor-listener.cjs');
  writeFileSync(floor, FLOOR_LISTENER);
  const contenders = [
    { name: 'surveillance-receiver --listen', args: [bin], ours: true },
    ...(before ? [{ name: 'surveillance-receiver --listen, before (BENCH_RECEIVER_BEFORE)', args: [before] }] : []),
    { name: 'floor: minimal durable Node listener (thread-pool fsync, link, grouped folder fsync)', args: [floor], floor: true },
  ];
  for (const c of contenders) c.runs = { one: [], many: [] };
  // Alternated, so that the machine's noise (other work, memory the VM hands out) hits all alike.
  for (let r = 0; r < REPEATS; r++) {
    for (const c of contenders) c.runs.one.push(await ingest(c.args, dir, jpeg, 1, FRAMES / 4));
    for (const c of contenders) c.runs.many.push(await ingest(c.args, dir, jpeg, CAMERAS, FRAMES));
  }
  const mid = (xs) => [...xs].sort((a, b) => a.rate - b.rate)[Math.floor(xs.length / 2)];
  const ours = contenders.find((c) => c.ours);
  const base = contenders.find((c) => c.floor);
  const one = mid(ours.runs.one);
  const many = mid(ours.runs.many);
  const allOk = contenders.every((c) => [...c.runs.one, ...c.runs.many].every((x) => x.ok === x.total));
  const ratio = (c, n) => `${(mid(c.runs[n]).rate / mid(base.runs[n]).rate).toFixed(2)}x`;
  // CPU per frame (user+system, every thread of the listener) is steadier than the rate on a
  // shared machine: it does not count the time the listener waited for a core.
  const cpuMedian = (c, n) => median(c.runs[n].map((x) => x.cpuPerFrame));
  return {
    title: 'Receiver: listener throughput',
    setup: `Listener mode (\`--listen\`), framed frames of ${(jpeg.length / 1024).toFixed(0)} KiB sent pipelined: one camera (one connection, ${FRAMES / 4} frames), then ${CAMERAS} cameras at once (one connection each, ${FRAMES} frames in all). Every OK is sent only after the frame's data and its folder entry are durable (fsync of the file, then of its folder; frames that arrive together share the folder fsync). The floor is a minimal Node listener doing the same file I/O and nothing else. Median of ${REPEATS} runs, alternated; the client runs on the same two cores.`,
    commands: [`node surveillance-receiver.cjs --store DIR --min-free 0 --listen 127.0.0.1:PORT --log-level warn --max-connections 256`, 'node floor-listener.cjs --store DIR --listen 127.0.0.1:PORT (in scripts/bench/10-receiver.mjs)'],
    tables: [{
      columns: ['listener', 'cameras at once', 'frames acknowledged OK', 'seconds', 'frames/s', 'MB/s', 'ratio to the floor', 'CPU ms per frame', 'runs (frames/s)'],
      align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
      rows: contenders.flatMap((c) => [['1', 'one'], [String(CAMERAS), 'many']].map(([n, key]) => {
        const x = mid(c.runs[key]);
        return [c.name, n, `${x.ok}/${x.total}`, x.seconds.toFixed(2), x.rate.toFixed(0), x.mb.toFixed(0), ratio(c, key), cpuMedian(c, key).toFixed(2), c.runs[key].map((y) => y.rate.toFixed(0)).join(', ')];
      })),
    }],
    notes: [
      `The floor is what this machine does with Node under the same promise, with the client on the same cores: where it is below 1,000 frames/s, so is any receiver here. Its runs spread widely on a shared VM (memory the VM hands out on first touch, ext4 skipping the inodes of files deleted in the last minutes), which is why the rows are alternated and compared as ratios.`,
    ],
    targets: [{
      what: `listener ingest of 300 KB frames from ${CAMERAS} cameras at once, durable before OK`,
      result: `${many.rate.toFixed(0)} frames/s, ${many.mb.toFixed(0)} MB/s (one camera: ${one.rate.toFixed(0)} frames/s)`,
      target: 'at least 1,000 frames/s',
      met: allOk && many.rate >= 1000,
    }],
    summary: [{ what: `listener ingest, ${CAMERAS} cameras, ratio to the floor (a minimal durable Node listener, same client)`, result: `${ratio(ours, 'many')} (floor ${mid(base.runs.many).rate.toFixed(0)} frames/s; one camera ${ratio(ours, 'one')}); CPU per frame ${(cpuMedian(ours, 'many') / cpuMedian(base, 'many')).toFixed(2)}x the floor's` }],
  };
}
