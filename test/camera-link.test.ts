import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as connectTcp, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader, formatKeyLine, pskClientOptions, type CameraKey } from '@surveillance/shared';
import { CameraKeys, RELIST_MS } from '../packages/receiver/src/keys/camera-keys.ts';
import { exchange } from './helpers/client.ts';
import { cleanEnv, FIXTURES, RECEIVER_BIN, SENDER_BIN, startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { ensureBuilt } from './helpers/review-cli.ts';
import { makeFrames, parseLog, spooled, startSender, storedFrames, waitFor, writeAtomically } from './helpers/sender.ts';
import { needTools } from './helpers/tools.ts';

const run = promisify(execFile);
const JPEG = readFileSync(join(FIXTURES, 'jpeg/cjpeg-baseline.jpg'));

/** A key folder with cameras `front` and `back`, and each key line as the camera box keeps it. */
function pair(dir: string, cameras: string[]): { keys: string; key: Record<string, CameraKey>; file: Record<string, string> } {
  const keys = join(dir, 'keys');
  mkdirSync(keys, { mode: 0o700 });
  const folder = new CameraKeys(keys);
  const key: Record<string, CameraKey> = {};
  const file: Record<string, string> = {};
  for (const camera of cameras) {
    key[camera] = folder.add(camera, () => randomBytes(32), new Date('2026-11-21T05:00:00Z'));
    file[camera] = join(dir, `${camera}.key`);
    writeFileSync(file[camera], formatKeyLine(key[camera]), { mode: 0o600 });
  }
  return { keys, key, file };
}

/** `surveillance-sender send` as a user runs it. */
function send(port: number, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('node', [SENDER_BIN, 'send', '--to', `127.0.0.1:${port}`, '--timeout', '5s', ...args], { env: cleanEnv(), encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking this process (which runs the eavesdropping proxy). */
async function sendAsync(port: number, args: string[]): Promise<{ status: number; stdout: string }> {
  try {
    const { stdout } = await run('node', [SENDER_BIN, 'send', '--to', `127.0.0.1:${port}`, '--timeout', '5s', ...args], { env: cleanEnv() });
    return { status: 0, stdout };
  } catch (e) {
    const err = e as { code: number; stdout: string };
    return { status: err.code, stdout: err.stdout };
  }
}

/** Everything below the store but the receiver's own notes: frames, and any temporary file. */
function written(store: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (rel === '' && (e.name === '.cameras' || e.name === '.thumbs')) continue;
      if (e.isDirectory()) walk(join(dir, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  if (existsSync(store)) walk(store, '');
  return out.sort();
}

/** A TLS-PSK client speaking the frame protocol with `key`: what a modified sender could do. */
function tlsExchange(port: number, key: CameraKey, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: '127.0.0.1', port, ...pskClientOptions(key) }, () => socket.end(bytes));
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (reply += d));
    socket.on('close', () => resolve(reply));
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
  });
}

const framed = (camera: string, id: string) => Buffer.concat([encodeHeader({ camera, id, time: new Date('2026-11-21T05:53:00.123Z'), length: JPEG.length }), JPEG]);

describe.each(['inetd', 'listener', 'standalone'] as const)('a receiver with keys, %s mode', (mode) => {
  const dir = tempDir();
  const store = join(dir.path, 'store');
  let paired: ReturnType<typeof pair>;
  let receiver: RunningReceiver;

  beforeAll(async () => {
    ensureBuilt();
    needTools('systemd-socket-activate', 'socat');
    paired = pair(dir.path, ['front', 'back']);
    receiver = await startReceiver(mode, store, ['--keys', paired.keys, '--min-free', '0']);
  });
  afterAll(async () => {
    await receiver?.stop();
    dir.remove();
  });

  it('stores what a paired sender sends, under its key camera, and notes the key seen', () => {
    const r = send(receiver.port, ['--key', paired.file.front!, join(FIXTURES, 'jpeg/cjpeg-baseline.jpg')]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/: OK front\/2026-/);
    expect(r.status).toBe(0);
    expect(storedFrames(store)).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(store, '.cameras/front.json'), 'utf8')).keyId).toBe(paired.key.front!.keyId);
  });

  it.each([
    ['a wrong key', () => ({ ...paired.key.front!, key: randomBytes(32) })],
    ['an unknown camera', () => ({ ...paired.key.front!, camera: 'ghost' })],
    ['an unknown key id of a known camera', () => ({ ...paired.key.front!, keyId: 'zzzz' })],
  ])('refuses %s at the handshake; the sender says auth; nothing is written', async (_what, make) => {
    const before = written(store);
    const bad = join(dir.path, 'bad.key');
    writeFileSync(bad, formatKeyLine(make()), { mode: 0o600 });
    const r = send(receiver.port, ['--key', bad, join(FIXTURES, 'jpeg/cjpeg-baseline.jpg')]);
    expect(r.stdout).toMatch(/: ERR auth receiver 127\.0\.0\.1:\d+: the TLS handshake failed/);
    expect(r.status).toBe(1);
    expect(written(store)).toEqual(before);
  });

  it("refuses camera A's key with a header naming camera B (auth), and stores nothing", async () => {
    const before = written(store);
    const reply = await tlsExchange(receiver.port, paired.key.front!, framed('back', 'sneaky-1'));
    expect(reply).toMatch(/^ERR sneaky-1 auth this connection is camera front's \(its key says so\): it may not store frames as camera back\n$/);
    expect(written(store)).toEqual(before);
  });

  it('refuses a framed frame in plaintext and a raw socat frame with ERR - auth, writing nothing', async () => {
    const before = written(store);
    const plain = await exchange(receiver.port, [framed('front', 'plain-1')]);
    expect(plain.lines).toEqual([expect.stringMatching(/^ERR - auth this receiver takes frames only over TLS from paired cameras/)]);
    const raw = spawnSync('socat', ['-t', '5', '-', `TCP:127.0.0.1:${receiver.port}`], { input: JPEG, encoding: 'utf8', timeout: 30_000 });
    expect(raw.stdout).toMatch(/^ERR - auth /);
    expect(written(store)).toEqual(before);
    // The receiver logged each refusal with the peer's address, and is still serving.
    await waitFor(() => parseLog(receiver.stderr()).filter((l) => l.code === 'auth' && l.peer).length >= 2, 'two refusals logged with the peer');
    expect(send(receiver.port, ['--key', paired.file.back!, join(FIXTURES, 'jpeg/cjpeg-progressive.jpg')]).status).toBe(0);
  });
});

describe('refusals cannot fill the journal', () => {
  const dir = tempDir();
  let receiver: RunningReceiver;
  afterAll(async () => {
    await receiver?.stop();
    dir.remove();
  });

  it('a flood of 60 plaintext connections is logged 20 times, then counted', async () => {
    const paired = pair(dir.path, ['front']);
    receiver = await startReceiver('standalone', join(dir.path, 'store'), ['--keys', paired.keys, '--min-free', '0']);
    for (let i = 0; i < 60; i++) await exchange(receiver.port, [Buffer.from('GET / HTTP/1.0\r\n\r\n')]);
    await waitFor(() => parseLog(receiver.stderr()).filter((l) => l.code === 'auth').length >= 20, '20 refusals logged');
    await new Promise((r) => setTimeout(r, 300));
    const refused = parseLog(receiver.stderr()).filter((l) => l.code === 'auth' && /^refused/.test(l.msg));
    expect(refused).toHaveLength(20);
    // Still serving after the flood.
    expect(send(receiver.port, ['--key', paired.file.front!, join(FIXTURES, 'jpeg/cjpeg-baseline.jpg')]).status).toBe(0);
  });
});

describe('an eavesdropper between sender and receiver', () => {
  const dir = tempDir();
  const store = join(dir.path, 'store');
  let receiver: RunningReceiver;
  let proxy: Server;
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];

  beforeAll(async () => {
    ensureBuilt();
    const paired = pair(dir.path, ['front']);
    receiver = await startReceiver('standalone', store, ['--keys', paired.keys, '--min-free', '0']);
    // A TCP proxy that records both directions, byte for byte.
    proxy = createServer((client: Socket) => {
      const server = connectTcp({ host: '127.0.0.1', port: receiver.port });
      client.on('data', (d: Buffer) => {
        toServer.push(d);
        server.write(d);
      });
      server.on('data', (d: Buffer) => {
        toClient.push(d);
        client.write(d);
      });
      client.on('end', () => server.end());
      server.on('end', () => client.end());
      client.on('error', () => server.destroy());
      server.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const r = await sendAsync((proxy.address() as AddressInfo).port, ['--key', paired.file.front!, join(FIXTURES, 'jpeg/cjpeg-baseline.jpg')]);
    expect(r.stdout).toMatch(/: OK front\//);
    expect(r.status).toBe(0);
  });
  afterAll(async () => {
    proxy?.close();
    await receiver?.stop();
    dir.remove();
  });

  it('sees no run of 32 bytes of the frame, in either direction', () => {
    const recording = Buffer.concat([...toServer, ...toClient]);
    expect(Buffer.concat(toServer).length).toBeGreaterThan(JPEG.length);
    for (let i = 0; i + 32 <= JPEG.length; i++) {
      if (recording.includes(JPEG.subarray(i, i + 32))) throw new Error(`the recording holds the frame's bytes ${i}..${i + 32}`);
    }
    // Nor the camera's name in the header (it is inside TLS); the identity in the handshake is.
    expect(recording.includes(Buffer.from('camera=front'))).toBe(false);
  });

  it('replaying the recorded client side stores nothing new', async () => {
    const before = written(store);
    expect(storedFrames(store)).toHaveLength(1);
    const replay = await exchange(receiver.port, [Buffer.concat(toServer)]);
    expect(replay.reply).not.toMatch(/^OK|^DUP/m);
    expect(written(store)).toEqual(before);
    expect(parseLog(receiver.stderr()).some((l) => l.code === 'auth' && /handshake refused/.test(l.msg))).toBe(true);
  });
});

describe.skipIf(!needTools('ffmpeg'))('key rotation while the sender is spooling and delivering', () => {
  const dir = tempDir();
  const store = join(dir.path, 'store');
  const spool = join(dir.path, 'spool');
  const file = join(dir.path, 'cam/monitor.jpg');
  let receiver: RunningReceiver;
  afterAll(async () => {
    await receiver?.stop();
    dir.remove();
  });

  it('every frame arrives once; the old key works until the new one has connected, then is refused', async () => {
    const paired = pair(dir.path, ['yard']);
    receiver = await startReceiver('standalone', store, ['--keys', paired.keys, '--min-free', '0']);
    const frames = makeFrames(join(dir.path, 'frames'), 8);
    mkdirSync(join(dir.path, 'cam'));
    const FAST = ['--interval', '50ms', '--min-gap', '0', '--retry-min', '50ms', '--retry-max', '300ms', '--timeout', '2s', '--log-level', 'debug'];
    const watch = () => startSender(['watch', '--file', file, '--to', `127.0.0.1:${receiver.port}`, '--spool', spool, '--key', paired.file.yard!, ...FAST]);
    let sender = watch();
    const deliveredCount = () => parseLog(receiver.stderr()).filter((l) => l.msg === 'stored').length;
    for (const [i, frame] of frames.slice(0, 3).entries()) {
      writeAtomically(file, frame);
      await waitFor(() => deliveredCount() >= i + 1, `frame ${i} stored`);
    }
    // The admin rotates; the camera box still has the old key and keeps sending with it.
    const rotated = await run('node', [RECEIVER_BIN, 'camera', 'rotate', 'yard', '--keys', paired.keys, '--store', store], { env: cleanEnv() });
    writeAtomically(file, frames[3]!);
    await waitFor(() => deliveredCount() >= 4, 'frame 3 stored with the old key');
    // The sender is stopped with frames still to go: they wait in its spool.
    await sender.stop();
    writeFileSync(paired.file.yard!, rotated.stdout, { mode: 0o600 });
    chmodSync(paired.file.yard!, 0o600);
    sender = watch();
    for (const [i, frame] of frames.slice(4).entries()) {
      writeAtomically(file, frame);
      await waitFor(() => deliveredCount() >= 5 + i, `frame ${4 + i} stored with the new key`);
    }
    await sender.stop();
    const stored = storedFrames(store);
    expect(stored).toHaveLength(8);
    expect(new Set(stored.map((n) => readFileSync(join(store, n)).toString('base64'))).size).toBe(8);
    // The old key is retired now: refused at the handshake, and swept from the folder.
    const oldKey = join(dir.path, 'old.key');
    writeFileSync(oldKey, formatKeyLine(paired.key.yard!), { mode: 0o600 });
    const again = send(receiver.port, ['--key', oldKey, join(FIXTURES, 'jpeg/cjpeg-baseline.jpg')]);
    expect(again.stdout).toMatch(/ERR auth/);
    // Why it was refused is in the log, unless the refusals of the new key while the listener
    // had not yet read it again (at most every 5 s) used up the log's rate limit: then a
    // receiver of its own, one process for this connection, says it.
    const oneShot = await startReceiver('inetd', store, ['--keys', paired.keys, '--min-free', '0']);
    expect(send(oneShot.port, ['--key', oldKey, join(FIXTURES, 'jpeg/cjpeg-baseline.jpg')]).stdout).toMatch(/ERR auth/);
    await waitFor(() => parseLog(oneShot.stderr()).some((l) => l.code === 'auth' && /is retired/.test(l.msg)), 'the refusal of the retired key in the log');
    await oneShot.stop();
    const list = await run('node', [RECEIVER_BIN, 'camera', 'list', '--keys', paired.keys, '--store', store], { env: cleanEnv() });
    expect(list.stdout.trim().split('\n')).toHaveLength(2);
    expect(readdirSync(paired.keys)).toHaveLength(1);
  });
});

describe.skipIf(!needTools('ffmpeg'))('a sender whose key the receiver refuses', () => {
  const dir = tempDir();
  let receiver: RunningReceiver;
  afterAll(async () => {
    await receiver?.stop();
    dir.remove();
  });

  it('keeps every frame spooled and says auth once for the outage, however often it retries', async () => {
    const paired = pair(dir.path, ['yard']);
    const store = join(dir.path, 'store');
    receiver = await startReceiver('standalone', store, ['--keys', paired.keys, '--min-free', '0']);
    const wrong = join(dir.path, 'wrong.key');
    writeFileSync(wrong, formatKeyLine({ ...paired.key.yard!, key: randomBytes(32) }), { mode: 0o600 });
    const file = join(dir.path, 'cam/monitor.jpg');
    mkdirSync(join(dir.path, 'cam'));
    const spool = join(dir.path, 'spool');
    const sender = startSender(['watch', '--file', file, '--to', `127.0.0.1:${receiver.port}`, '--spool', spool, '--key', wrong,
      '--interval', '50ms', '--min-gap', '0', '--retry-min', '20ms', '--retry-max', '50ms', '--timeout', '2s']);
    try {
      const frames = makeFrames(join(dir.path, 'frames'), 3);
      for (const [i, frame] of frames.entries()) {
        writeAtomically(file, frame);
        await waitFor(() => spooled(spool).filter((n) => n.endsWith('.jpg')).length >= i + 1 || spooled(spool).length >= i + 1, `frame ${i} spooled`);
      }
      // Many attempts fail meanwhile (retries every 20-50 ms).
      await waitFor(() => parseLog(receiver.stderr()).filter((l) => l.code === 'auth').length >= 5, 'five refused handshakes');
      const warnings = sender.log().filter((l) => l.code === 'auth' && /cannot deliver/.test(l.msg));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toMatch(/TLS handshake failed/);
      expect(storedFrames(store)).toEqual([]);
    } finally {
      await sender.stop();
    }
    expect(spooled(spool).length).toBeGreaterThanOrEqual(3);
  });
});

describe('a long-lived listener and a camera paired while it runs', () => {
  const dir = tempDir();
  const store = join(dir.path, 'store');
  let receiver: RunningReceiver;
  afterAll(async () => {
    await receiver?.stop();
    dir.remove();
  });

  it('lets the new camera in without a restart; a flood of unknown identities does not make it read the folder each time', async () => {
    const paired = pair(dir.path, ['front']);
    receiver = await startReceiver('listener', store, ['--keys', paired.keys, '--min-free', '0', '--log-level', 'debug']);
    expect(send(receiver.port, ['--key', paired.file.front!, join(FIXTURES, 'jpeg/cjpeg-baseline.jpg')]).stdout).toMatch(/: OK front\//);

    // The admin pairs a camera now; the listener keeps running.
    const added = await run('node', [RECEIVER_BIN, 'camera', 'add', 'back', '--keys', paired.keys, '--store', store], { env: cleanEnv() });
    const backKey = join(dir.path, 'back.key');
    writeFileSync(backKey, added.stdout, { mode: 0o600 });
    // Its sender retries as a camera box does; it gets in once the folder was read again
    // (at once, or within RELIST_MS of the last reading).
    await waitFor(async () => {
      const r = await sendAsync(receiver.port, ['--key', backKey, join(FIXTURES, 'jpeg/cjpeg-baseline.jpg')]);
      if (/: OK back\//.test(r.stdout)) return true;
      expect(r.stdout).toMatch(/ERR auth/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return false;
    }, 'the camera paired while the listener runs stores a frame');
    expect(storedFrames(join(store, 'back'))).toHaveLength(1);
    expect(receiver.process.exitCode).toBeNull();

    // A flood of made-up identities: each is refused, and the folder is read again at most
    // once per RELIST_MS of the flood (plus the one reading it may start with), not once each.
    const readings = () => parseLog(receiver.stderr()).filter((l) => /key folder read again/.test(String(l.msg))).length;
    const before = readings();
    const started = performance.now();
    const FLOOD = 40;
    for (let i = 0; i < FLOOD; i++) {
      const reply = await tlsExchange(receiver.port, { camera: 'ghost', keyId: `k${i}`, key: randomBytes(32) }, framed('ghost', `g${i}`)).catch(() => '');
      expect(reply).toBe('');
    }
    const elapsed = performance.now() - started;
    // A frame from a paired camera after the flood: its log line comes after every line of it.
    expect((await sendAsync(receiver.port, ['--key', paired.file.front!, join(FIXTURES, 'jpeg/ffmpeg-baseline.jpg')])).stdout).toMatch(/: OK front\//);
    await waitFor(() => parseLog(receiver.stderr()).filter((l) => l.msg === 'stored').length >= 3, 'the last frame in the log');
    expect(readings() - before).toBeLessThanOrEqual(1 + Math.floor(elapsed / RELIST_MS));
    expect(readings() - before).toBeLessThan(FLOOD);
    expect(storedFrames(join(store, 'ghost'))).toEqual([]);
  });
});
