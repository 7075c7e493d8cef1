#!/usr/bin/env node
// `pnpm start`: the whole pipeline on this machine, everything under one git-ignored folder
// (./demo by default): a camera writing monitor.jpg, the sender watching it, a receiver storing
// what the sender delivers (over TLS with the demo camera's key, unless --open), the notifier
// logging the events it would send, and the gallery showing it all. One short block says where
// things are, then a live line counts the frames and events received, read from the receiver's
// and the notifier's logs. Ctrl-C stops every process it started (each runs in its own process
// group, so that whatever a child started goes too) within a few seconds and exits 0; a second
// Ctrl-C kills them all at once.
//
// Plain Node ESM on the built programs (`pnpm start` builds first): no TypeScript at run time.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const USAGE = `Usage: node scripts/demo.mjs [options]     (pnpm start builds, then runs this)

Runs a camera, the sender, a receiver, the notifier and the gallery on this machine until
Ctrl-C. The camera is paired first (surveillance-receiver camera add demo): its key stays in
DIR/keys/ and DIR/demo.key, and frames travel over TLS.

Options:
  --dir DIR            folder for everything: store, spool, monitor.jpg, logs (default: ./demo)
  --port N             receiver port on 127.0.0.1 (default: 4444)
  --gallery-port N     gallery port on 127.0.0.1 (default: 8080)
  --camera auto|ffmpeg|fake
                       ffmpeg's test source when ffmpeg is installed, else scripts/fake-camera.mjs
  --receiver auto|socket-activate|listener
                       one receiver process per connection under systemd-socket-activate when
                       it is installed (as systemd's surveillance.socket does), else one listener
  --open               no key: frames in plaintext, as in the tutorial (socat works too)
  --help               this text
`;

const EX_USAGE = 64;
/** camera remove of a camera not paired. */
const EX_NOINPUT = 66;
const root = fileURLToPath(new URL('..', import.meta.url));
const receiverBin = join(root, 'packages/receiver/bin/surveillance-receiver.cjs');
const senderBin = join(root, 'packages/sender/bin/surveillance-sender.js');
/** After the first Ctrl-C, how long the children get before they are killed. */
const STOP_DEADLINE_MS = 5000;
/** The sender finishes the frame on the wire before the receiver is stopped, at most this long. */
const SENDER_FIRST_MS = 2500;
/** The logs in demo/logs/ are for a person to read (no colour: they are files). */
const LOG = ['--log-format', 'pretty'];

function fail(message) {
  process.stderr.write(`demo: usage: ${message}\n`);
  process.exit(EX_USAGE);
}

function options(argv) {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: argv,
      strict: true,
      options: {
        dir: { type: 'string', default: join(root, 'demo') },
        port: { type: 'string', default: '4444' },
        'gallery-port': { type: 'string', default: '8080' },
        camera: { type: 'string', default: 'auto' },
        receiver: { type: 'string', default: 'auto' },
        open: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    fail(`${e.message.replace(/\. To specify a positional argument.*$/s, '')}; see --help`);
  }
  if (v.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const port = (name) => {
    const n = Number(v[name]);
    if (!/^\d+$/.test(v[name]) || n < 1 || n > 65535) fail(`--${name} ${JSON.stringify(v[name])}: expected a port from 1 to 65535`);
    return n;
  };
  const choice = (name, values) => {
    if (!values.includes(v[name])) fail(`--${name} ${JSON.stringify(v[name])}: choose one of ${values.join(', ')}`);
    return v[name];
  };
  return {
    dir: resolve(v.dir),
    port: port('port'),
    galleryPort: port('gallery-port'),
    camera: choice('camera', ['auto', 'ffmpeg', 'fake']),
    receiver: choice('receiver', ['auto', 'socket-activate', 'listener']),
    open: v.open,
  };
}

function onPath(program) {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, program)));
}

/** The children, in the order they start: camera, receiver, sender, notifier, gallery. */
function plan(o) {
  const store = join(o.dir, 'store');
  const monitor = join(o.dir, 'monitor.jpg');
  const keys = join(o.dir, 'keys');
  const keyFile = join(o.dir, 'demo.key');
  const useFfmpeg = o.camera === 'ffmpeg' || (o.camera === 'auto' && onPath('ffmpeg'));
  const useActivate = o.receiver === 'socket-activate' || (o.receiver === 'auto' && onPath('systemd-socket-activate'));
  const receiverArgs = ['--store', store, ...(o.open ? [] : ['--keys', keys]), ...LOG];
  const link = o.open ? 'plaintext (--open)' : 'TLS, paired camera "demo" only';
  const children = [
    {
      name: 'camera',
      what: useFfmpeg ? "ffmpeg's test source" : 'scripts/fake-camera.mjs',
      // As units/surveillance-capture.service does: each frame to a temporary file, renamed over
      // monitor.jpg, so that the sender never reads half a frame.
      command: useFfmpeg
        ? ['ffmpeg', '-nostdin', '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=2',
            '-q:v', '5', '-f', 'image2', '-update', '1', '-atomic_writing', '1', '-y', monitor]
        : [process.execPath, join(root, 'scripts/fake-camera.mjs'), '--out', monitor, '--fps', '2', '--atomic'],
    },
    {
      name: 'receiver',
      what: useActivate
        ? `127.0.0.1:${o.port}, ${link}, one process per connection (systemd-socket-activate)`
        : `127.0.0.1:${o.port}, ${link}, one listener process`,
      // systemd-socket-activate gives its children only the variables named with -E: all of
      // ours, as every other program here has them (TZ, LANG, NO_COLOR, and a clock moved by
      // libfaketime, which the sender shares).
      command: useActivate
        ? ['systemd-socket-activate', '--inetd', '-a', '-l', `127.0.0.1:${o.port}`,
            ...Object.keys(process.env).flatMap((k) => ['-E', k]),
            process.execPath, receiverBin, ...receiverArgs]
        : [process.execPath, receiverBin, ...receiverArgs, '--listen', `127.0.0.1:${o.port}`],
    },
    {
      name: 'sender',
      command: [process.execPath, senderBin, 'watch', '--file', monitor, '--to', `127.0.0.1:${o.port}`,
        '--spool', join(o.dir, 'spool'), '--camera', 'demo', ...(o.open ? [] : ['--key', keyFile]), ...LOG],
    },
    {
      // No target: it logs each notice it would send. Its --event-gap stays the default, the one
      // the gallery and `events` use, so that the events it counts are the ones they show (the
      // demo's cameras move all the time: a shorter gap would show no more events, only
      // disagree with the gallery after a pause).
      name: 'notifier',
      command: [process.execPath, receiverBin, 'notify', '--store', store,
        '--gallery-url', `http://127.0.0.1:${o.galleryPort}/`, ...LOG],
    },
    {
      name: 'gallery',
      command: [process.execPath, receiverBin, 'serve', '--store', store, '--listen', `127.0.0.1:${o.galleryPort}`, ...LOG],
    },
  ];
  return { store, monitor, keys, keyFile, children };
}

/**
 * Pairs the demo camera unless it already is: `camera add` prints the key line once, on stdout,
 * which goes straight into demo.key (mode 600; a temporary name until complete), never through
 * argv or this process. A key folder without demo.key (deleted by hand) is paired afresh.
 */
function pair(keys, keyFile, store) {
  if (existsSync(keyFile) && existsSync(keys)) return 'kept';
  const camera = (args, stdout = 'ignore') => spawnSync(process.execPath, [receiverBin, 'camera', ...args, '--keys', keys, '--store', store],
    { stdio: ['ignore', stdout, 'pipe'], encoding: 'utf8' });
  const trouble = (what, r) => {
    process.stderr.write(`demo: cannot pair the demo camera (${what}): ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}\n`);
    process.exit(1);
  };
  if (existsSync(keys)) {
    const r = camera(['remove', 'demo']);
    if (r.status !== 0 && r.status !== EX_NOINPUT) trouble('camera remove demo', r);
  }
  const partial = `${keyFile}.partial`;
  rmSync(partial, { force: true });
  const fd = openSync(partial, 'wx', 0o600);
  const r = camera(['add', 'demo'], fd);
  closeSync(fd);
  if (r.status !== 0) {
    rmSync(partial, { force: true });
    trouble('camera add demo', r);
  }
  renameSync(partial, keyFile);
  return 'made';
}

/**
 * The lines appended to a log since it was opened, read from where the last call stopped: the
 * live line costs one read of the new bytes, however long the demo runs.
 */
function tail(path) {
  const fd = openSync(path, 'r');
  let position = fstatSync(fd).size;
  let rest = '';
  const chunk = Buffer.alloc(64 * 1024);
  return () => {
    let lines = [];
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, position);
      if (n === 0) break;
      position += n;
      const text = rest + chunk.toString('utf8', 0, n);
      const cut = text.lastIndexOf('\n') + 1;
      lines = lines.concat(text.slice(0, cut).split('\n').slice(0, -1));
      rest = text.slice(cut);
    }
    return lines;
  };
}

function lastLines(path, n) {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** True while any process of the group is alive. */
function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const o = options(process.argv.slice(2));
  const { store, monitor, keys, keyFile, children } = plan(o);
  const logs = join(o.dir, 'logs');
  mkdirSync(logs, { recursive: true });
  mkdirSync(store, { recursive: true });
  const key = o.open ? undefined : pair(keys, keyFile, store);
  const shown = (p) => (relative(process.cwd(), p).startsWith('..') ? p : `./${relative(process.cwd(), p)}`);
  const tty = process.stdout.isTTY === true;

  let stopping = false;
  let failed;
  for (const c of children) {
    c.log = join(logs, `${c.name}.log`);
    const fd = openSync(c.log, 'a');
    c.tail = tail(c.log);
    // detached: a process group of its own, which Ctrl-C on the terminal does not reach; the demo
    // decides the order of the stop, and signals the whole group so nothing is left behind.
    c.child = spawn(c.command[0], c.command.slice(1), { cwd: o.dir, detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    c.exited = new Promise((r) => c.child.once('close', r));
    c.child.once('error', (e) => {
      failed ??= `${c.name} could not start: ${c.command[0]}: ${e.code ?? e.message}`;
      void stop();
    });
    c.child.once('exit', (code, signal) => {
      if (stopping) return;
      failed ??= `${c.name} stopped by itself (${signal ?? `exit ${code}`}); its log, ${shown(c.log)}:\n${lastLines(c.log, 5)}`;
      void stop();
    });
  }

  const by = Object.fromEntries(children.map((c) => [c.name, c]));
  process.stdout.write(
    [
      'surveillance demo: a camera, the sender, a receiver, the notifier and the gallery, on this machine',
      `  frames go to  ${shown(store)}   (everything else in ${shown(o.dir)}: monitor.jpg, spool, keys, logs)`,
      `  gallery       http://127.0.0.1:${o.galleryPort}/`,
      `  camera        ${by.camera.what} -> ${shown(monitor)}, watched by surveillance-sender`,
      `  receiver      ${by.receiver.what}`,
      key
        ? `  camera key    ${shown(keyFile)} (${key === 'made' ? 'made now' : 'from the last run'}; the receiver's in ${shown(keys)}; --open: none)`
        : '  camera key    none (--open): anyone who can reach the port may store frames',
      `  logs          ${shown(logs)}: one per program; notifier.log says what it would notify`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );

  // Counted from the logs, as they grow: the frames the receiver stored and the events the
  // notifier saw start and end, in this run.
  const seen = { frames: 0, last: 0, started: 0, ended: 0 };
  const status = () => {
    for (const line of by.receiver.tail()) {
      if (/\bINFO +stored\b/.test(line)) {
        seen.frames++;
        seen.last = Date.now();
      }
    }
    for (const line of by.notifier.tail()) {
      if (/would notify: start\b/.test(line)) seen.started++;
      else if (/would notify: end\b/.test(line)) seen.ended++;
    }
    const last = seen.last ? `, last at ${new Date(seen.last).toLocaleTimeString()}` : '';
    const open = seen.started - seen.ended;
    return `frames received: ${seen.frames}${last}; events: ${seen.started}${open > 0 ? ` (${open} going on)` : ''}`;
  };
  let lastPrinted = 0;
  const ticker = setInterval(() => {
    if (stopping) return;
    if (tty) process.stdout.write(`\r\x1b[K${status()}`);
    else if (Date.now() - lastPrinted >= 5000) {
      lastPrinted = Date.now();
      process.stdout.write(`${status()}\n`);
    }
  }, tty ? 500 : 1000);

  let finish;
  const done = new Promise((r) => (finish = r));
  async function stop() {
    if (stopping) return;
    stopping = true;
    clearInterval(ticker);
    if (tty) process.stdout.write('\r\x1b[K');
    process.stdout.write(failed ? `demo: ${failed}\nstopping...\n` : 'stopping (Ctrl-C again to kill at once)...\n');
    const deadline = setTimeout(() => {
      for (const c of children) if (c.child.pid) signalGroup(c.child.pid, 'SIGKILL');
    }, STOP_DEADLINE_MS);
    // The receiver last: the sender first gets the answer for a frame on its way.
    const first = children.filter((c) => c.name !== 'receiver');
    for (const c of first) if (c.child.pid) signalGroup(c.child.pid, 'SIGTERM');
    await Promise.race([by.sender.exited, sleep(SENDER_FIRST_MS)]);
    if (by.receiver.child.pid) signalGroup(by.receiver.child.pid, 'SIGTERM');
    await Promise.all(children.map((c) => c.exited));
    // A child's own children (per-connection receivers) may outlive it by a moment.
    while (children.some((c) => c.child.pid && groupAlive(c.child.pid))) await sleep(50);
    clearTimeout(deadline);
    status();
    process.stdout.write(`stopped; ${seen.frames} frame(s) and ${seen.started} event(s) received; the store: ${shown(store)}\n`);
    finish(failed ? 1 : 0);
  }

  let interrupts = 0;
  const interrupt = () => {
    interrupts++;
    if (interrupts === 1) {
      void stop();
      return;
    }
    for (const c of children) if (c.child.pid) signalGroup(c.child.pid, 'SIGKILL');
    process.stdout.write('killed\n');
    process.exit(130);
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  process.on('SIGHUP', interrupt);
  return done;
}

process.exitCode = await main();