import { execFile } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader, PING_LINE } from '@surveillance/shared';
import { exchange } from './helpers/client.ts';
import { FIXTURES, startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { needTools } from './helpers/tools.ts';

const run = promisify(execFile);
const jpeg = (name: string) => readFileSync(join(FIXTURES, 'jpeg', name));
const baseline = jpeg('cjpeg-baseline.jpg');
const progressive = jpeg('cjpeg-progressive.jpg');
const exif = jpeg('exif-thumbnail.jpg');

/** Every stored frame below the store, as store-relative paths (hidden folders excluded). */
function storedFrames(store: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      if (entry.isDirectory()) walk(join(dir, entry.name), `${rel}${entry.name}/`);
      else out.push(`${rel}${entry.name}`);
    }
  };
  if (existsSync(store)) walk(store, '');
  return out.sort();
}

const incoming = (store: string) => (existsSync(join(store, '.incoming')) ? readdirSync(join(store, '.incoming')) : []);

function framed(camera: string, id: string, body: Buffer, time = new Date('2026-11-21T05:53:00.123Z')): Buffer {
  return Buffer.concat([encodeHeader({ camera, id, time, length: body.length }), body]);
}

/** Exit statuses of the per-connection processes, as systemd-socket-activate reports them. */
function exitCodes(receiver: RunningReceiver): number[] {
  return [...receiver.stderr().matchAll(/Child \d+ died with code (\d+)/g)].map((m) => Number(m[1]));
}

async function waitFor(what: () => boolean, label: string): Promise<void> {
  for (let i = 0; i < 500 && !what(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!what()) throw new Error(`timed out waiting for ${label}`);
}

describe.skipIf(!needTools('systemd-socket-activate', 'socat'))('receiver, one process per connection (Accept=yes)', () => {
  const dir = tempDir();
  let receiver: RunningReceiver;
  let connections = 0;

  /** One connection; waits until its process has exited and returns the reply and exit code. */
  async function connection(parts: Uint8Array[], options?: { end?: boolean; pauseMs?: number }) {
    const n = ++connections;
    const result = await exchange(receiver.port, parts, options);
    await waitFor(() => exitCodes(receiver).length >= n, `connection ${n} to exit`);
    return { ...result, code: exitCodes(receiver)[n - 1] };
  }

  beforeAll(async () => {
    receiver = await startReceiver('inetd', dir.path, ['--max-frame-bytes', '200KiB', '--idle-timeout', '400ms', '--frame-timeout', '1.5s']);
  });
  afterAll(async () => {
    await receiver.stop();
    dir.remove();
  });

  it('stores a frame sent the tutorial way, cat frame.jpg | socat', async () => {
    const before = storedFrames(dir.path);
    const { stdout } = await run('sh', ['-c', `cat "$1" | socat - TCP:127.0.0.1:${receiver.port}`, 'sh', join(FIXTURES, 'jpeg/exif-thumbnail.jpg')]);
    connections++;
    expect(stdout).toMatch(/^OK (r[0-9a-z]+-1) 127\.0\.0\.1\/\d{4}-\d{2}-\d{2}\/\d{8}T\d{6}\.\d{3}Z_\1\.jpg\n$/);
    const added = storedFrames(dir.path).filter((f) => !before.includes(f));
    expect(added).toEqual([stdout.split(' ')[2]!.trim()]);
    expect(readFileSync(join(dir.path, added[0]!))).toEqual(exif);
  });

  it('stores each of several JPEGs sent back to back as its own file', async () => {
    const before = storedFrames(dir.path).length;
    const { stdout } = await run('sh', ['-c', `cat "$@" | socat - TCP:127.0.0.1:${receiver.port}`, 'sh',
      ...['cjpeg-baseline.jpg', 'cjpeg-progressive.jpg', 'cjpeg-arithmetic.jpg', 'large-app-segments.jpg'].map((f) => join(FIXTURES, 'jpeg', f))]);
    connections++;
    expect(stdout.split('\n').filter(Boolean).map((l) => l.split(' ')[0])).toEqual(['OK', 'OK', 'OK', 'OK']);
    expect(storedFrames(dir.path).length).toBe(before + 4);
  });

  it('stores framed frames under the camera from the header and acknowledges a resend as DUP', async () => {
    const first = await connection([framed('front-door', 'f00d-1', baseline), framed('front-door', 'f00d-2', progressive)]);
    expect(first.lines).toEqual([
      'OK f00d-1 front-door/2026-11-21/20261121T055300.123Z_f00d-1.jpg',
      'OK f00d-2 front-door/2026-11-21/20261121T055300.123Z_f00d-2.jpg',
    ]);
    expect(first.code).toBe(0);
    const again = await connection([framed('front-door', 'f00d-2', progressive)]);
    expect(again.lines).toEqual(['DUP f00d-2 front-door/2026-11-21/20261121T055300.123Z_f00d-2.jpg']);
    expect(readFileSync(join(dir.path, 'front-door/2026-11-21/20261121T055300.123Z_f00d-2.jpg'))).toEqual(progressive);
    expect(storedFrames(dir.path).filter((f) => f.startsWith('front-door/'))).toHaveLength(2);
  });

  it('answers a ping without storing anything', async () => {
    const before = storedFrames(dir.path);
    const { lines, code } = await connection([Buffer.from(`${PING_LINE}\n`)]);
    expect(lines).toEqual(['OK - pong']);
    expect(code).toBe(0);
    expect(storedFrames(dir.path)).toEqual(before);
  });

  it('keeps the valid frame when garbage follows it', async () => {
    const before = storedFrames(dir.path).length;
    const { lines, code } = await connection([baseline, Buffer.from('trailing garbage')]);
    expect(lines[0]).toMatch(/^OK /);
    expect(lines[1]).toBe('ERR - bad-magic expected a JPEG (FF D8) or a frame header (SVF1), got bytes 74 72 61 69 6c 69 6e 67');
    expect(code).toBe(1);
    expect(storedFrames(dir.path).length).toBe(before + 1);
  });

  it('serves many connections at once', async () => {
    const before = storedFrames(dir.path).length;
    const replies = await Promise.all(
      Array.from({ length: 16 }, (_, i) => exchange(receiver.port, [framed('burst', `b-${i}`, i % 2 ? baseline : progressive)])),
    );
    connections += 16;
    expect(replies.map((r) => r.lines[0]!.split(' ').slice(0, 2).join(' ')).sort()).toEqual(
      Array.from({ length: 16 }, (_, i) => `OK b-${i}`).sort(),
    );
    expect(storedFrames(dir.path).length).toBe(before + 16);
    await waitFor(() => exitCodes(receiver).length >= connections, 'all burst connections to exit');
  });

  const tlsClientHello = Buffer.from('16030100a5010000a10303', 'hex');
  const sos = baseline.indexOf(Buffer.from([0xff, 0xda]));
  const badLength = Buffer.from(baseline);
  badLength.writeUInt16BE(1, 4);
  const header = (fields: string) => Buffer.from(`SVF1 ${fields}\n`);
  // Legal APP segments, 64 KiB each, until the frame passes the 200 KiB limit.
  const app = Buffer.alloc(0x10001, 0);
  app.writeUInt16BE(0xffe1, 0);
  app.writeUInt16BE(0xffff, 2);
  const big = Buffer.concat([baseline.subarray(0, 2), app, app, app, app, baseline.subarray(2)]);

  const badInputs: Array<[string, Uint8Array[], { end?: boolean; pauseMs?: number } | undefined, string]> = [
    ['an empty connection', [], undefined, 'ERR - empty connection closed without sending a frame'],
    ['random bytes', [Buffer.from('a3c5f0019e', 'hex')], undefined, 'ERR - bad-magic expected a JPEG (FF D8) or a frame header (SVF1), got bytes a3 c5 f0 01 9e'],
    ['a PNG', [readFileSync(join(FIXTURES, 'bad/image.png'))], undefined, 'ERR - bad-magic expected a JPEG (FF D8) or a frame header (SVF1), got a PNG image (only JPEG is accepted)'],
    ['an HTTP request', [Buffer.from('GET / HTTP/1.1\r\nHost: laptop\r\n\r\n')], undefined, 'ERR - bad-magic expected a JPEG (FF D8) or a frame header (SVF1), got an HTTP request (this port is not a web server)'],
    ['a TLS ClientHello', [tlsClientHello], undefined, 'ERR - bad-magic expected a JPEG (FF D8) or a frame header (SVF1), got a TLS handshake (this port speaks plain TCP)'],
    ['a truncated JPEG', [baseline.subarray(0, sos + 100)], undefined, `ERR - truncated connection closed after ${sos + 100} bytes, before the frame was complete`],
    ['a JPEG without EOI', [baseline.subarray(0, -2)], undefined, `ERR - truncated connection closed after ${baseline.length - 2} bytes, before the frame was complete`],
    ['a segment length below 2', [badLength], undefined, 'ERR - bad-jpeg not a valid JPEG at byte 5: segment E0 has length 1, below the minimum of 2'],
    ['a segment length past the end', [Buffer.concat([baseline.subarray(0, 4), Buffer.from([0xff, 0xf0]), Buffer.alloc(100)])], undefined, 'ERR - truncated connection closed after 106 bytes, before the frame was complete'],
    ['a raw frame over the size limit', [big], undefined, 'ERR - too-large frame is larger than the limit of 204800 bytes'],
    ['a framed frame announcing more than the limit', [header('camera=c id=x time=2026-11-21T05:53:00.123Z length=300000')], undefined, 'ERR x too-large frame of 300000 bytes is larger than the limit of 204800 bytes'],
    ['a camera name that tries path traversal', [header(`camera=../../etc id=x time=2026-11-21T05:53:00.123Z length=${baseline.length}`), baseline], undefined,
      `ERR - bad-header bad frame header: camera name "../../etc" must be 1-64 letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'`],
    ['a capture time on a day that does not exist', [header('camera=c id=x time=2026-02-30T05:53:00Z length=5')], undefined,
      'ERR - bad-header bad frame header: time "2026-02-30T05:53:00Z" is not an ISO 8601 UTC time like 2026-11-21T05:53:00.123Z'],
    ['a header without its length', [header('camera=c id=x time=2026-11-21T05:53:00.123Z')], undefined, 'ERR - bad-header bad frame header: missing length='],
    ['a header that never ends', [Buffer.alloc(2000, 'S')], undefined, 'ERR - bad-header bad frame header: no line end within 1024 bytes'],
    ['a framed body that is not a JPEG', [header('camera=c id=x time=2026-11-21T05:53:00.123Z length=5'), Buffer.from('hello')], undefined,
      'ERR x bad-jpeg not a valid JPEG at byte 0: does not start with a JPEG SOI marker (FF D8), found 68'],
    ['a framed length shorter than the JPEG', [header(`camera=c id=x time=2026-11-21T05:53:00.123Z length=${baseline.length - 10}`), baseline], undefined,
      `ERR x bad-jpeg frame x: ${baseline.length - 10} bytes announced, but the JPEG has no EOI by then`],
    ['a peer that connects and sends nothing', [], { end: false }, 'ERR - timeout no data for 0.4s after connecting'],
    ['a peer that stalls mid-frame', [baseline.subarray(0, 1000)], { end: false }, 'ERR - timeout no data for 0.4s in the middle of a frame'],
    ['a peer that trickles a frame, never idle but never done', [header(`camera=c id=slow time=2026-11-21T05:53:00.123Z length=${baseline.length}`), ...Array.from({ length: 40 }, (_, i) => baseline.subarray(i * 10, i * 10 + 10))], { pauseMs: 100 },
      'ERR slow timeout frame not complete after 1.5s (--frame-timeout)'],
  ];

  it.each(badInputs)('refuses %s: ERR line, non-zero exit, nothing stored, no temp file', async (_name, parts, options, expected) => {
    const before = storedFrames(dir.path);
    const { lines, code } = await connection(parts, options);
    expect(lines).toEqual([expected]);
    expect(code).toBe(1);
    expect(storedFrames(dir.path)).toEqual(before);
    expect(incoming(dir.path)).toEqual([]);
  });

  it('logs one JSON line per stored or rejected frame on stderr, with peer, camera, bytes, file name and duration', () => {
    const lines = receiver.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const stored = lines.find((l) => l.msg === 'stored' && l.camera === 'front-door');
    expect(stored).toMatchObject({ level: 30, name: 'surveillance-receiver', peer: '127.0.0.1', camera: 'front-door', id: 'f00d-1', bytes: baseline.length, file: 'front-door/2026-11-21/20261121T055300.123Z_f00d-1.jpg' });
    expect(typeof stored.ms).toBe('number');
    expect(lines.filter((l) => l.level === 40).map((l) => l.code)).toContain('bad-magic');
  });
});

describe.skipIf(!needTools('systemd-socket-activate'))('receiver store failures', () => {
  it('refuses frames with store-full when free space is below the reserve, and stores nothing', async () => {
    const dir = tempDir();
    const receiver = await startReceiver('inetd', dir.path, ['--min-free', '1000TiB']);
    try {
      const { lines } = await exchange(receiver.port, [baseline]);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^ERR - store-full store .* has \d+(\.\d)? [KMGT]?i?B free, below the reserve of 1000TiB; frames are refused until space is freed \(surveillance-receiver prune\)$/);
      expect(storedFrames(dir.path)).toEqual([]);
    } finally {
      await receiver.stop();
      dir.remove();
    }
  });

  it('refuses frames with store-failed when the store cannot be written, and says why', async () => {
    const dir = tempDir();
    // Root ignores permission bits, so make the camera folder's place a plain file instead.
    writeFileSync(join(dir.path, '127.0.0.1'), 'not a folder');
    const receiver = await startReceiver('inetd', dir.path);
    try {
      const { lines } = await exchange(receiver.port, [baseline]);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^ERR - store-failed cannot store 127\.0\.0\.1\/.*\.jpg: .*\/127\.0\.0\.1 is a file, not a folder$/);
      await waitFor(() => exitCodes(receiver).length === 1, 'the connection to exit');
      expect(exitCodes(receiver)).toEqual([1]);
      expect(incoming(dir.path)).toEqual([]);
    } finally {
      await receiver.stop();
      dir.remove();
    }
  });

  it('answers ERR usage and exits 64 when its options are wrong (a typo in receiver.env)', async () => {
    const dir = tempDir();
    const receiver = await startReceiver('inetd', dir.path, [], { SURVEILLANCE_MAX_FRAME_BYTES: '12x' });
    try {
      const { lines } = await exchange(receiver.port, [baseline]);
      expect(lines).toEqual([
        'ERR - usage receiver cannot start: option max-frame-bytes (from $SURVEILLANCE_MAX_FRAME_BYTES): "12x" is not valid: expected a size such as 16MiB, 300KB or 1G',
      ]);
      await waitFor(() => exitCodes(receiver).length === 1, 'the connection to exit');
      expect(exitCodes(receiver)).toEqual([64]);
      expect(storedFrames(dir.path)).toEqual([]);
    } finally {
      await receiver.stop();
      dir.remove();
    }
  });

  it('answers ERR store-failed when the store folder cannot be created', async () => {
    const dir = tempDir();
    writeFileSync(join(dir.path, 'file'), '');
    chmodSync(join(dir.path, 'file'), 0o444);
    const receiver = await startReceiver('inetd', join(dir.path, 'file', 'store'));
    try {
      const { lines } = await exchange(receiver.port, [baseline]);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^ERR - store-failed receiver cannot start: cannot create the store at (.*)\/file\/store: \1\/file is a file, not a folder$/);
      await waitFor(() => /store-failed: cannot create the store/.test(receiver.stderr()), 'the error message');
      expect(receiver.stderr()).toMatch(/surveillance-receiver: store-failed: cannot create the store at (.*)\/file\/store: \1\/file is a file, not a folder\n/);
    } finally {
      await receiver.stop();
      dir.remove();
    }
  });
});

describe.skipIf(!needTools('systemd-socket-activate'))('receiver as a listener', () => {
  it('takes the listening socket as fd 3 (Accept=no), serves connections, and exits when idle', async () => {
    const dir = tempDir();
    const receiver = await startReceiver('listener', dir.path, ['--exit-idle', '1s']);
    try {
      const replies = await Promise.all([0, 1, 2].map((i) => exchange(receiver.port, [framed('yard', `y-${i}`, baseline)])));
      expect(replies.map((r) => r.lines[0]!.split(' ')[0])).toEqual(['OK', 'OK', 'OK']);
      expect(storedFrames(dir.path)).toHaveLength(3);
      const code = await new Promise((resolve) => receiver.process.once('exit', resolve));
      expect(code).toBe(0);
      expect(receiver.stderr()).toMatch(/"msg":"idle for 1s: no new connections; finishing 0 open"/);
    } finally {
      await receiver.stop();
      dir.remove();
    }
  });

  it('stops reading from a peer that does not read its answers, instead of queueing them', async () => {
    const dir = tempDir();
    // Pings only: a loaded machine takes more than the default 10 s of --idle-timeout to answer
    // them all, and the receiver rightly closes a peer that sends nothing but pings for that long.
    const receiver = await startReceiver('standalone', dir.path, ['--idle-timeout', '10m']);
    try {
      const pings = Buffer.from(`${PING_LINE}\n`.repeat(100_000));
      const { connect } = await import('node:net');
      const socket = connect({ host: '127.0.0.1', port: receiver.port });
      await new Promise((r) => socket.once('connect', r));
      // Without backpressure the receiver would read all 128 MB (and queue 100 MB of answers);
      // with it, both sides' buffers fill and our writes stop draining.
      let written = 0;
      let stalled = false;
      while (written < 128 * 1024 * 1024 && !stalled) {
        if (!socket.write(pings)) {
          stalled = !(await Promise.race([
            new Promise((r) => socket.once('drain', () => r(true))),
            new Promise((r) => setTimeout(() => r(false), 2000)),
          ]));
        }
        written += pings.length;
      }
      expect(stalled).toBe(true);
      // Reading again lets it go on: every answer is there, in order.
      socket.end();
      let reply = '';
      socket.setEncoding('utf8').on('data', (d: string) => (reply += d));
      await new Promise((r) => socket.once('close', r));
      expect(reply.length / 'OK - pong\n'.length).toBe(written / `${PING_LINE}\n`.length);
    } finally {
      await receiver.stop();
      dir.remove();
    }
  });

  it('stores frames from many cameras at once, each whole, and one frame sent twice at once once (OK, then DUP)', async () => {
    const dir = tempDir();
    const receiver = await startReceiver('standalone', dir.path, ['--max-connections-per-source', '16']);
    try {
      // 8 cameras, 5 frames each, pipelined on one connection per camera; and on 4 more
      // connections the same frame (one name) at the same moment: link(2) lets one through.
      const bodies = [baseline, progressive, exif];
      const cameras = Array.from({ length: 8 }, (_, c) =>
        exchange(receiver.port, [Buffer.concat(Array.from({ length: 5 }, (_, i) => framed(`cam${c}`, `f-${i}`, bodies[(c + i) % 3]!)))]),
      );
      const same = Array.from({ length: 4 }, () => exchange(receiver.port, [framed('twice', 'same-1', progressive)]));
      const replies = await Promise.all(cameras);
      for (const [c, r] of replies.entries()) {
        expect(r.lines).toEqual(Array.from({ length: 5 }, (_, i) => `OK f-${i} cam${c}/2026-11-21/20261121T055300.123Z_f-${i}.jpg`));
        for (let i = 0; i < 5; i++) {
          expect(readFileSync(join(dir.path, `cam${c}/2026-11-21/20261121T055300.123Z_f-${i}.jpg`)).equals(bodies[(c + i) % 3]!)).toBe(true);
        }
      }
      const answers = (await Promise.all(same)).map((r) => r.lines[0]!.split(' ')[0]).sort();
      expect(answers).toEqual(['DUP', 'DUP', 'DUP', 'OK']);
      expect(readFileSync(join(dir.path, 'twice/2026-11-21/20261121T055300.123Z_same-1.jpg')).equals(progressive)).toBe(true);
      expect(storedFrames(dir.path)).toHaveLength(8 * 5 + 1);
      expect(incoming(dir.path)).toEqual([]);
    } finally {
      await receiver.stop();
      dir.remove();
    }
  });

  it('runs standalone with --listen and stops cleanly on SIGTERM', async () => {
    const dir = tempDir();
    const receiver = await startReceiver('standalone', dir.path);
    const { lines } = await exchange(receiver.port, [baseline, progressive]);
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['OK', 'OK']);
    receiver.process.kill('SIGTERM');
    const code = await new Promise((resolve) => receiver.process.once('exit', resolve));
    expect(code).toBe(0);
    dir.remove();
  });
});
