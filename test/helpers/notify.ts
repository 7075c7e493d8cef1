import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { frameName } from '../../packages/receiver/src/store/frame-name.ts';
import { appendIndex } from '../../packages/receiver/src/store/event-index.ts';
import type { FrameReason } from '../../packages/receiver/src/store/store.ts';
import { createRequire } from 'node:module';
import { FIXTURES, freePort, killedAtExit, RECEIVER_BIN, ROOT } from './receiver.ts';

// The receiver's own dependency (the test is a client, as Home Assistant would be).
type Mqtt = typeof import('../../packages/receiver/node_modules/mqtt/build/index.js');
type MqttClient = import('../../packages/receiver/node_modules/mqtt/build/index.js').MqttClient;
const { connectAsync } = createRequire(join(ROOT, 'packages/receiver/package.json'))('mqtt') as Mqtt;

export interface Message {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

/** A subscriber (user watcher, password watcher-pw) that keeps every message, and waits for one matching a test. */
export async function subscriber(port: number, topics: string[]) {
  const client: MqttClient = await connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'watcher', password: 'watcher-pw', reconnectPeriod: 0 });
  const messages: Message[] = [];
  const waiters: (() => void)[] = [];
  client.on('message', (topic: string, payload: Buffer, packet: { retain: boolean }) => {
    messages.push({ topic, payload, retain: packet.retain });
    for (const w of waiters.splice(0)) w();
  });
  await client.subscribeAsync(topics, { qos: 1 });
  const waitFor = (test: (m: Message) => boolean, what: string, timeoutMs = 30_000): Promise<Message> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no MQTT message: ${what}; got ${messages.map((m) => `${m.topic}=${m.payload.length}B`).join(', ')}`)), timeoutMs);
      const check = () => {
        const m = messages.find(test);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        } else waiters.push(check);
      };
      check();
    });
  return { client, messages, waitFor };
}

export const JPEGS = ['ffmpeg-baseline.jpg', 'cjpeg-baseline.jpg', 'cjpeg-progressive.jpg'].map((f) => readFileSync(join(FIXTURES, 'jpeg', f)));

let seq = 0;
/**
 * Stores a frame the way the receiver does: its event index line first, then the JPEG under
 * its name (temporary file + rename), capture time `time`.
 */
export function storeFrame(store: string, camera: string, time: Date, jpeg: Buffer, reason?: FrameReason, score?: number): string {
  const id = `t${process.pid}-${seq++}`;
  appendIndex(store, { camera, time, id, reason, score });
  const name = frameName(camera, time, id);
  const path = join(store, name);
  mkdirSync(dirname(path), { recursive: true });
  const temp = join(store, `.incoming-${id}`);
  writeFileSync(temp, jpeg);
  renameSync(temp, path);
  return name;
}

export interface Mosquitto {
  port: number;
  stop(): Promise<void>;
}

/** A private mosquitto on a free loopback port with a password file (not the Debian service). */
export async function startMosquitto(dir: string, users: Record<string, string>): Promise<Mosquitto> {
  const port = await freePort();
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, '');
  for (const [user, password] of Object.entries(users)) {
    const r = spawnSync('mosquitto_passwd', ['-b', passwd, user, password], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mosquitto_passwd: ${r.stderr}`);
  }
  const conf = join(dir, 'mosquitto.conf');
  // Run as root, mosquitto would switch to its own user, which cannot read our private folder.
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, ...(process.getuid?.() === 0 ? ['user root'] : []), 'allow_anonymous false', `password_file ${passwd}`, 'persistence false', 'log_dest stderr', 'log_type error', ''].join('\n'));
  const child = killedAtExit(spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // Ready when it accepts a connection.
  const { connect } = await import('node:net');
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (i > 200 || child.exitCode !== null) throw new Error(`mosquitto did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface RunningNotifier {
  process: ChildProcess;
  log: () => string;
  /** Resolves when the log has a line matching `re`. */
  waitLog(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the built `surveillance-receiver notify`. */
export function startNotifier(args: string[], env: NodeJS.ProcessEnv): RunningNotifier {
  const child = killedAtExit(spawn(process.execPath, [RECEIVER_BIN, 'notify', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let text = '';
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer) => {
    text += d.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  child.on('exit', () => {
    text += `\n[exited ${child.exitCode ?? child.signalCode}]\n`;
    for (const w of waiters.splice(0)) w();
  });
  return {
    process: child,
    log: () => text,
    waitLog: (re, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no log line matching ${re} within ${timeoutMs} ms; log:\n${text}`)), timeoutMs);
        const check = () => {
          const m = re.exec(text);
          if (m) {
            clearTimeout(timer);
            resolve(m[0]);
          } else if (/\[exited /.test(text)) {
            clearTimeout(timer);
            reject(new Error(`notifier exited before a log line matching ${re}; log:\n${text}`));
          } else waiters.push(check);
        };
        check();
      }),
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}
