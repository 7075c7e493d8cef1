import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RECEIVER_BIN = join(ROOT, 'packages/receiver/bin/surveillance-receiver.cjs');
export const SENDER_BIN = join(ROOT, 'packages/sender/bin/surveillance-sender.js');
export const FIXTURES = join(ROOT, 'test/fixtures');

/** A temporary folder removed by the returned function. */
export function tempDir(prefix = 'surveillance-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  // Retries: a process killed by the test may still be finishing a write in it.
  return { path, remove: () => rmSync(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }) };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The daemons a test file started (receivers, senders, galleries, notifiers, brokers), killed
 * after all its tests (vitest runs this root-level hook after the file's own): a test that
 * fails before it stops them would leave them running.
 */
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** `child`, killed after the test file's tests if it is still running then. */
export function killedAtExit<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** libfaketime's variables, set by scripts/test-at-hours.sh to move the clock of every process. */
const FAKE_CLOCK = /^(LD_PRELOAD|FAKETIME.*|DONT_FAKE_MONOTONIC|NO_FAKE_STAT)$/;

/**
 * Whether scripts/test-at-hours.sh moved the clock. File times stay the kernel's, so a check of
 * what a program does with the capture times a camera's files carry cannot hold then.
 */
export const clockMoved = (): boolean => process.env.FAKETIME !== undefined;

/**
 * An environment without the shell's extras (NODE_EXTRA_CA_CERTS, NODE_OPTIONS...), but with a
 * moved clock passed on: a child on the real clock would not test the hour the run claims.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clock = Object.fromEntries(Object.entries(process.env).filter(([k]) => FAKE_CLOCK.test(k)));
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...clock, ...extra };
}

/** This process's environment on the real clock: for a program that reads none of its own. */
export function realClockEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !FAKE_CLOCK.test(k)));
}

export interface RunningReceiver {
  port: number;
  store: string;
  process: ChildProcess;
  /** Everything the launcher and the receiver wrote to stderr so far. */
  stderr: () => string;
  stop: () => Promise<void>;
}

/**
 * Starts the built receiver on 127.0.0.1:PORT the way systemd would:
 * - 'inetd': `systemd-socket-activate --inetd -a` (Accept=yes, one process per connection);
 * - 'listener': `systemd-socket-activate` without --inetd (Accept=no, socket as fd 3);
 * - 'standalone': `--listen 127.0.0.1:PORT`.
 */
export async function startReceiver(
  mode: 'inetd' | 'listener' | 'standalone',
  store: string,
  args: string[] = [],
  env: Record<string, string> = {},
  /** A fixed port, e.g. to start a receiver again where a sender already sends. */
  fixedPort?: number,
): Promise<RunningReceiver> {
  const port = fixedPort ?? (await freePort());
  const receiver = ['node', RECEIVER_BIN, '--store', store, ...args];
  const childEnv = cleanEnv(env);
  const argv =
    mode === 'standalone'
      ? [...receiver, '--listen', `127.0.0.1:${port}`]
      : [
          'systemd-socket-activate',
          ...(mode === 'inetd' ? ['--inetd', '-a'] : []),
          // systemd names the peer of an Accept=yes connection in REMOTE_ADDR; this launcher does
          // not. Set as systemd would, unless the test sets it (to '' for a launcher that does not).
          ...(mode === 'inetd' && !('REMOTE_ADDR' in env) ? ['-E', 'REMOTE_ADDR=127.0.0.1'] : []),
          '-l', `127.0.0.1:${port}`,
          // The launcher passes on only what it is told to (-E NAME copies its own value): the
          // test's variables, and a moved clock, or the receiver would be on another clock than
          // the sender that talks to it.
          ...Object.keys(childEnv).flatMap((name) => ['-E', name]),
          ...receiver,
        ];
  const child = killedAtExit(spawn(argv[0]!, argv.slice(1), { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (/Listening on|"msg":"listening"/.test(stderr)) resolve();
      else if (child.exitCode !== null) reject(new Error(`receiver did not start: ${stderr}`));
      else setTimeout(check, 20);
    };
    check();
  });
  return {
    port,
    store,
    process: child,
    stderr: () => stderr,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
