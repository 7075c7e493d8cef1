// Receiver costs. Per connection (Accept=yes, one process each): the built receiver storing one
// 300 KB frame, in plaintext and with camera keys over TLS-PSK (the camera link of a paired
// receiver), against a bare `node -e 0` start and the tutorial's Python receiver under the
// same launcher (systemd-socket-activate --inetd), interleaved so that machine noise hits all
// alike. Then listener-mode throughput for 300 KB frames on one connection.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const title = 'Receiver: cost per connection (inetd) and listener throughput';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'packages/receiver/bin/surveillance-receiver.cjs');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
// BENCH_RECEIVER_BEFORE=/path/to/an/older/checkout's/surveillance-receiver.cjs measures that
// build too, interleaved in the same run: the before/after of a change as a ratio, not two runs.
const before = process.env.BENCH_RECEIVER_BEFORE;
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
    const s = connectTls({
      port,
      host: '127.0.0.1',
      ciphers: 'ECDHE-PSK-CHACHA20-POLY1305',
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      ca: [],
      checkServerIdentity: () => undefined,
      pskCallback: () => ({ psk: key.key, identity: `${key.camera}.${key.keyId}` }),
    });
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

/** utime+stime of a process's reaped children, in ms (fields 16 and 17 of /proc/PID/stat). */
function childCpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)];

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-receiver-'));
  try {
    const jpeg = frame300k(dir);
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
      ...(before ? [['surveillance-receiver, before (BENCH_RECEIVER_BEFORE)', ['node', before, '--store', join(dir, 'store-before'), '--min-free', '0']]] : []),
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
      }],
      summary: [
        { what: 'same, ratio to the durable floor (a minimal Node receiver that fsyncs the data and its folder entry)', result: `${(median(ours.times) / median(durableRun.times)).toFixed(2)}x / ${(ours.cpu / durableRun.cpu).toFixed(2)}x` },
        { what: 'same, ratio to that floor without node:net (node:fs on fd 0, as the receiver reads it)', result: `${(median(ours.times) / median(durableFsRun.times)).toFixed(2)}x / ${(ours.cpu / durableFsRun.cpu).toFixed(2)}x` },
        { what: 'with camera keys, ratio to a minimal durable Node receiver over TLS-PSK (the same handshake); that floor to `node -e 0`', result: `${(median(tlsOurs.times) / median(tlsFloor.times)).toFixed(2)}x / ${(tlsOurs.cpu / tlsFloor.cpu).toFixed(2)}x; ${(median(tlsFloor.times) / base).toFixed(2)}x / ${(tlsFloor.cpu / baseCpu).toFixed(2)}x` },
        { what: 'the floor: a minimal Node receiver on its socket (no checks, no logs), ratio to `node -e 0`', result: `${(median(minimalRun.times) / base).toFixed(2)}x / ${(minimalRun.cpu / baseCpu).toFixed(2)}x` },
        { what: "the tutorial's Python receiver, same launcher", result: `${(median(python.times) / base).toFixed(2)}x / ${(python.cpu / baseCpu).toFixed(2)}x` },
      ],
    };
    return [perConnection, await throughput(dir, jpeg)];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One listener, `cameras` connections at once, each sending its share of `frames` pipelined. */
async function ingest(bin, dir, jpeg, cameras, frames) {
  const port = await freePort();
  const store = mkdtempSync(join(dir, 'listen-'));
  const child = spawn('node', [bin, '--store', store, '--min-free', '0', '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', '--max-connections', '256', '--max-connections-per-source', '256'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  await new Promise((r) => setTimeout(r, 400));
  const { encodeHeader } = await import('./framing.mjs');
  const per = Math.ceil(frames / cameras);
  const t0 = process.hrtime.bigint();
  const exited = new Promise((r) => child.once('exit', r));
  let results;
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
    s.on('connect', () => { for (let i = 0; i < per; i++) s.write(Buffer.concat([encodeHeader(`cam${c}`, `t-${i}`, jpeg.length), jpeg])); });
  })));
  } finally {
    // Also when a connection failed: the listener must be gone before its store is removed.
    child.kill('SIGTERM');
    await exited;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const acks = results.flat();
  return { ok: acks.filter((l) => l.startsWith('OK ')).length, total: per * cameras, seconds, rate: (per * cameras) / seconds, mb: (per * cameras * jpeg.length) / 1e6 / seconds };
}

/** Listener mode: 300 KB frames from one camera, then from many at once; fsync before every OK. */
async function throughput(dir, jpeg) {
  const FRAMES = Number(process.env.BENCH_FRAMES ?? 400);
  const CAMERAS = Number(process.env.BENCH_CAMERAS ?? 16);
  const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
  const runs = { one: [], many: [], beforeOne: [], beforeMany: [] };
  for (let r = 0; r < REPEATS; r++) {
    runs.one.push(await ingest(bin, dir, jpeg, 1, FRAMES / 4));
    runs.many.push(await ingest(bin, dir, jpeg, CAMERAS, FRAMES));
    if (before) runs.beforeOne.push(await ingest(before, dir, jpeg, 1, FRAMES / 4));
    if (before) runs.beforeMany.push(await ingest(before, dir, jpeg, CAMERAS, FRAMES));
  }
  const mid = (xs) => [...xs].sort((a, b) => a.rate - b.rate)[Math.floor(xs.length / 2)];
  const one = mid(runs.one);
  const many = mid(runs.many);
  const allOk = [...runs.one, ...runs.many].every((x) => x.ok === x.total);
  return {
    title: 'Receiver: listener throughput',
    setup: `Listener mode (\`--listen\`), framed frames of ${(jpeg.length / 1024).toFixed(0)} KiB sent pipelined: one camera (one connection, ${FRAMES / 4} frames), then ${CAMERAS} cameras at once (one connection each, ${FRAMES} frames in all). Every OK is sent only after the frame's data and its folder entry are durable (fsync of the file, then of its folder; frames that arrive together share the folder fsync). Median of ${REPEATS} runs, alternated.`,
    commands: [`node surveillance-receiver.cjs --store DIR --min-free 0 --listen 127.0.0.1:PORT --log-level warn --max-connections 256`],
    tables: [{
      columns: ['cameras at once', 'frames acknowledged OK', 'seconds', 'frames/s', 'MB/s', 'runs (frames/s)'],
      align: ['r', 'r', 'r', 'r', 'r', 'l'],
      rows: [
        ['1', runs.one],
        [String(CAMERAS), runs.many],
        ...(before ? [['1, before (BENCH_RECEIVER_BEFORE)', runs.beforeOne], [`${CAMERAS}, before`, runs.beforeMany]] : []),
      ].map(([n, xs]) => {
        const x = mid(xs);
        return [n, `${x.ok}/${x.total}`, x.seconds.toFixed(2), x.rate.toFixed(0), x.mb.toFixed(0), xs.map((y) => y.rate.toFixed(0)).join(', ')];
      }),
    }],
    targets: [{
      what: `listener ingest of 300 KB frames from ${CAMERAS} cameras at once, durable before OK`,
      result: `${many.rate.toFixed(0)} frames/s, ${many.mb.toFixed(0)} MB/s (one camera: ${one.rate.toFixed(0)} frames/s)`,
      target: 'at least 1,000 frames/s',
      met: allOk && many.rate >= 1000,
    }],
  };
}
