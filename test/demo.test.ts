import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exchange } from './helpers/client.ts';
import { cleanEnv, clockMoved, FIXTURES, freePort, ROOT, tempDir } from './helpers/receiver.ts';
import { ensureBuilt } from './helpers/review-cli.ts';
import { storedFrames } from './helpers/sender.ts';
import { needTools } from './helpers/tools.ts';

// `pnpm start` (scripts/demo.mjs) as a user runs it: a real process with real children, real
// ports, frames that really arrive in the store (over TLS with the demo camera's key, or in
// plaintext with --open), the notifier logging the event it would send; then Ctrl-C (SIGINT),
// after which nothing it started may be left: every process whose arguments name the demo
// folder (all of them do), and every process in the process groups those were in
// (per-connection receivers included).

interface Demo {
  dir: string;
  port: number;
  child: ChildProcess;
  stdout: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

beforeAll(() => ensureBuilt());

async function startDemo(extra: string[] = []): Promise<Demo> {
  const dir = tempDir('demo-');
  const path = join(dir.path, 'demo');
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'scripts/demo.mjs'), '--dir', path, '--port', String(port), '--gallery-port', String(await freePort()), ...extra], {
    env: cleanEnv({ TZ: 'UTC' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  cleanups.push(() => {
    // A failed test must not leave a demo running either.
    const own = table().find((p) => p.pid === process.pid)?.pgid;
    for (const { pgid } of processesOf(path).filter((p) => p.pgid !== own)) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    child.kill('SIGKILL');
    dir.remove();
  });
  return { dir: path, port, child, stdout: () => out, exit };
}

/** Live processes (not zombies) whose arguments name `marker`, with their process groups. */
function processesOf(marker: string): { pid: number; pgid: number; args: string }[] {
  return table().filter((p) => p.args.includes(marker));
}

/** The process groups of the demo's children (the demo itself is in the test's group). */
function childGroups(demo: Demo): Set<number> {
  return new Set(processesOf(demo.dir).filter((p) => p.pid !== demo.child.pid).map((p) => p.pgid));
}

function table(): { pid: number; pgid: number; state: string; args: string }[] {
  return execFileSync('ps', ['-eo', 'pid=,pgid=,stat=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ pid: Number(m[1]), pgid: Number(m[2]), state: m[3]!, args: m[4]! }))
    .filter((p) => !p.state.startsWith('Z'));
}

function log(demo: Demo, program: string): string {
  try {
    return readFileSync(join(demo.dir, 'logs', `${program}.log`), 'utf8');
  } catch {
    return '';
  }
}

const jpeg = () => readFileSync(join(FIXTURES, 'jpeg/cjpeg-baseline.jpg'));

async function until<T>(what: string, probe: () => T | undefined | false, demo: Demo, ms = 45_000): Promise<T> {
  for (let waited = 0; waited < ms; waited += 100) {
    const value = probe();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; demo said:\n${demo.stdout()}`);
}

describe.skipIf(!needTools('ps'))('pnpm start: the whole pipeline on this machine', () => {
  // Not with a moved clock: the sender takes each frame's capture time from monitor.jpg's file
  // time, which the kernel sets on the real clock, and to a notifier on the moved one every
  // frame is then hours old: history, rightly not announced.
  it.skipIf(!needTools('ffmpeg', 'systemd-socket-activate') || clockMoved())(
    'frames flow over TLS from the ffmpeg camera through the sender to a per-connection receiver, the notifier logs the event; Ctrl-C stops every process and exits 0',
    async () => {
      const demo = await startDemo();
      const store = join(demo.dir, 'store');
      await until('frames in the store', () => storedFrames(store).length >= 2, demo);
      const running = processesOf(demo.dir);
      const names = running.map((p) => p.args).join('\n');
      expect(names).toContain('ffmpeg');
      expect(names).toContain('systemd-socket-activate');
      expect(names).toMatch(/surveillance-sender\.js watch .*--key \S+demo\.key/);
      expect(names).toMatch(/surveillance-receiver\.cjs --store \S+ --keys \S+keys/);
      expect(names).toMatch(/surveillance-receiver\.cjs notify/);
      expect(names).toMatch(/surveillance-receiver\.cjs serve/);

      // The camera is paired: its key line in a file only its owner reads, and on no command line.
      const keyFile = join(demo.dir, 'demo.key');
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const secret = readFileSync(keyFile, 'utf8').trim().split(/\s+/).at(-1)!;
      expect(secret.length).toBeGreaterThanOrEqual(32);
      expect(table().filter((p) => p.args.includes(secret))).toEqual([]);
      // So the frames in the store came over TLS: the demo's port refuses plaintext.
      const plain = await exchange(demo.port, [jpeg()]);
      expect(plain.lines[0]).toMatch(/^ERR - auth\b/);

      // The block a user reads: where frames go, the gallery, the key, the logs, and the live
      // line, whose events come from the notifier's log.
      expect(demo.stdout()).toContain(`frames go to  ${store}`);
      expect(demo.stdout()).toMatch(/gallery {7}http:\/\/127\.0\.0\.1:\d+\//);
      expect(demo.stdout()).toContain(`camera key    ${keyFile} (made now`);
      expect(demo.stdout()).toContain(`logs          ${join(demo.dir, 'logs')}`);
      expect(demo.stdout()).toMatch(/receiver +127\.0\.0\.1:\d+, TLS, paired camera "demo" only/);
      await until('the notifier to log the start of an event', () => /INFO +would notify: start notice=\{"kind":"start","event":\{"camera":"demo"/.test(log(demo, 'notifier')), demo);
      await until('the live line', () => /frames received: [1-9]\d*, last at [^;]+; events: [1-9]/.test(demo.stdout()), demo);

      const groups = childGroups(demo);
      expect(groups.size).toBe(5);
      demo.child.kill('SIGINT');
      expect(await demo.exit).toEqual({ code: 0, signal: null });
      expect(processesOf(demo.dir)).toEqual([]);
      expect(table().filter((p) => groups.has(p.pgid))).toEqual([]);
      expect(demo.stdout()).toMatch(/stopped; [1-9]\d* frame\(s\) and [1-9]\d* event\(s\) received/);
    },
  );

  it('without ffmpeg and socket activation, --open: the fake camera and a plaintext listener; a second Ctrl-C kills at once', async () => {
    const demo = await startDemo(['--camera', 'fake', '--receiver', 'listener', '--open']);
    const store = join(demo.dir, 'store');
    await until('frames in the store', () => storedFrames(store).length >= 1, demo);
    const running = processesOf(demo.dir).map((p) => p.args).join('\n');
    expect(running).toContain('fake-camera.mjs');
    expect(running).toMatch(/surveillance-receiver\.cjs --store \S+ --log-format pretty --listen 127\.0\.0\.1:\d+/);
    expect(running).not.toMatch(/--keys?\b/);
    expect(demo.stdout()).toContain('camera key    none (--open)');
    // The tutorial's way works: a frame in plaintext is stored.
    const plain = await exchange(demo.port, [jpeg()]);
    expect(plain.lines[0]).toMatch(/^OK /);
    const groups = childGroups(demo);
    expect(groups.size).toBe(5);
    demo.child.kill('SIGINT');
    await until('the stop to begin', () => demo.stdout().includes('stopping'), demo);
    demo.child.kill('SIGINT');
    expect(await demo.exit).toEqual({ code: 130, signal: null });
    // SIGKILL is not instant: the kernel tears the processes down a moment later.
    await until('every process gone', () => table().filter((p) => groups.has(p.pgid)).length === 0 || undefined, demo, 5000);
    expect(processesOf(demo.dir)).toEqual([]);
  });

  it('a port already in use: says which child failed, stops the others, exits 1', async () => {
    const busy = await freePort();
    const { createServer } = await import('node:net');
    const server = createServer().listen(busy, '127.0.0.1');
    cleanups.push(() => server.close());
    await new Promise((r) => server.once('listening', r));
    const demo = await startDemo(['--camera', 'fake', '--receiver', 'listener', '--port', String(busy)]);
    const { code } = await demo.exit;
    expect(code).toBe(1);
    expect(demo.stdout()).toMatch(/demo: receiver stopped by itself \(exit \d+\); its log, .*receiver\.log:\n.*the address is in use/);
    expect(processesOf(demo.dir)).toEqual([]);
  });
});
