import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cleanEnv, killedAtExit, SENDER_BIN } from './receiver.ts';

/** Log lines of a child that logs pino JSON to stderr; other lines kept as { msg: line }. */
export type LogLine = Record<string, unknown> & { msg: string; level?: number };

export function parseLog(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l.replace(/^<\d>/, '')) as LogLine;
      } catch {
        return { msg: l };
      }
    });
}

export interface RunningSender {
  process: ChildProcess;
  log: () => LogLine[];
  stderr: () => string;
  /** Resolves with the first log line that matches, or rejects when the sender exits first. */
  waitForLog: (match: (l: LogLine) => boolean, what?: string) => Promise<LogLine>;
  /** Resolves with the exit code once the sender has exited by itself (for `once`). */
  exited: Promise<number | null>;
  /** SIGTERM and wait; resolves with the exit code. */
  stop: () => Promise<number | null>;
  kill: () => Promise<void>;
}

export function startSender(args: string[], env: Record<string, string> = {}): RunningSender {
  const child = killedAtExit(spawn('node', [SENDER_BIN, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const log = () => parseLog(stderr);
  return {
    process: child,
    log,
    stderr: () => stderr,
    exited,
    waitForLog: (match, what = 'a log line') =>
      waitFor(() => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`sender exited before ${what}:\n${stderr}`);
        return log().find(match);
      }, `${what}; sender said:\n${stderr}`),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Polls until `probe` returns (or resolves with) something truthy. Generous limit: only a hang should hit it. */
export async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, limitMs = 30_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() - started > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Distinct, real JPEGs from ffmpeg's test source: consecutive ones differ well above any threshold. */
export function makeFrames(dir: string, count: number, size = '320x240'): Buffer[] {
  mkdirSync(dir, { recursive: true });
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=1`, '-frames:v', String(count), '-q:v', '5', join(dir, 'f%03d.jpg')]);
  return readdirSync(dir)
    .filter((n) => /^f\d{3}\.jpg$/.test(n))
    .sort()
    .map((n) => readFileSync(join(dir, n)));
}

/** What a careful capture program does: write a temporary file, rename it over the picture. */
export function writeAtomically(path: string, bytes: Uint8Array): void {
  writeFileSync(`${path}.tmp`, bytes);
  renameSync(`${path}.tmp`, path);
}

/** Frames in a receiver's store, as paths relative to it, sorted; hidden folders skipped. */
export function storedFrames(store: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.jpg')) out.push(relative(store, p));
    }
  };
  try {
    walk(store);
  } catch {
    return [];
  }
  return out.sort();
}

/** The frame id in a stored name: `.../20261121T055300.123Z_<id>.jpg`. */
export function storedId(name: string): string {
  return /_([A-Za-z0-9-]+)\.jpg$/.exec(name)![1]!;
}

export function spooled(spool: string): string[] {
  try {
    return readdirSync(join(spool, 'queue')).sort();
  } catch {
    return [];
  }
}

export function fileSize(path: string): number {
  return statSync(path).size;
}
