import { spawn, type ChildProcess } from 'node:child_process';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Series } from './store-fixture.ts';
import { cleanEnv, freePort, killedAtExit, realClockEnv, RECEIVER_BIN } from './receiver.ts';

export interface RunningGallery {
  url: string;
  port: number;
  process: ChildProcess;
  stderr: () => string;
  /** SIGTERM, then the exit code (or signal name). */
  stop: () => Promise<number | string>;
}

/** Berlin time: the server's zone in these tests, on purpose not the test machine's or the browser's. */
export const SERVER_TZ = 'Europe/Berlin';

/**
 * Two cameras over two local (Berlin) days, November (no clock change): `front` every 150 s,
 * 576 frames a day, more than one page of the API (500); `garden` every 10 minutes with a quiet
 * night.
 */
export const GALLERY_SERIES: Series[] = [
  { camera: 'front', from: new Date('2026-11-19T23:00:00Z'), to: new Date('2026-11-21T23:00:00Z'), everyMs: 150_000 },
  {
    camera: 'garden',
    from: new Date('2026-11-20T05:00:00.500Z'),
    to: new Date('2026-11-21T20:00:00Z'),
    everyMs: 600_000,
    silent: [[new Date('2026-11-20T21:00:00Z'), new Date('2026-11-21T05:00:00Z')]],
  },
];

/** yyyy-MM-dd of an instant in the server's zone (en-CA formats dates that way). */
export const serverDay = (time: Date) => new Intl.DateTimeFormat('en-CA', { timeZone: SERVER_TZ }).format(time);

/** Starts the built CLI's `serve` as a real process and waits for the address it prints. */
export async function startGallery(
  store: string,
  args: string[] = [],
  env: Record<string, string> = {},
  /** A command that runs the gallery's command line (given as its last arguments), e.g. to sandbox it. */
  wrapper: string[] = [],
): Promise<RunningGallery> {
  const port = await freePort();
  const command = [...wrapper, 'node', RECEIVER_BIN, 'serve', '--store', store, '--listen', `127.0.0.1:${port}`, ...args];
  const child = killedAtExit(
    spawn(command[0]!, command.slice(1), {
      env: cleanEnv({ TZ: SERVER_TZ, ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = / at (https?:\/\/\S+)\n/.exec(stdout);
      if (m) resolve(m[1]!);
      else if (child.exitCode !== null) reject(new Error(`gallery did not start (exit ${child.exitCode}): ${stderr}`));
      else setTimeout(check, 20);
    };
    check();
  });
  return {
    url,
    port,
    process: child,
    stderr: () => stderr,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  json: () => any;
}

/**
 * One HTTP request with the path sent exactly as given (fetch would normalise `..` and
 * percent-escapes away, which is what a traversal test must not let happen).
 */
export function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export interface EventStream {
  response: IncomingMessage;
  /** Resolves with the data of the next event of that name (events already received count). */
  next: (event: string) => Promise<any>;
  close: () => void;
}

/** A server-sent-events reader, as EventSource would read /api/feed. */
export function openEvents(port: number, headers: Record<string, string> = {}): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/feed', headers: { host: `127.0.0.1:${port}`, accept: 'text/event-stream', ...headers } });
    req.on('error', reject);
    req.on('response', (response) => {
      const received: { event: string; data: string }[] = [];
      const waiting: { event: string; resolve: (d: any) => void }[] = [];
      let buffer = '';
      const deliver = () => {
        for (const w of [...waiting]) {
          const i = received.findIndex((r) => r.event === w.event);
          if (i >= 0) {
            w.resolve(JSON.parse(received.splice(i, 1)[0]!.data));
            waiting.splice(waiting.indexOf(w), 1);
          }
        }
      };
      response.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data !== undefined) received.push({ event, data });
        }
        deliver();
      });
      resolve({
        response,
        next: (event) =>
          new Promise((r) => {
            waiting.push({ event, resolve: r });
            deliver();
          }),
        close: () => req.destroy(),
      });
    });
    req.end();
  });
}

/** Debian's Chromium, as CI installs it; flags that keep it from phoning home or needing a GPU. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Chromium on the real clock even when scripts/test-at-hours.sh moves the others': under
 * libfaketime it starts too slowly to test, and the page reads no clock (times come from the server).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, env: realClockEnv() });
}

/**
 * A page of the gallery as a person in New York sees it: the browser is in another zone than
 * the server on purpose, since the page must show the server's local times, which are the days
 * it lists. Page errors, console errors and failed requests are collected in `errors`.
 */
export async function galleryPage(browser: Browser, errors: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'America/New_York', locale: 'en-US' });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()));
  page.on('response', (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
  return page;
}
