import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { encodeHeader } from '@surveillance/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../packages/receiver/src/store/file-store.ts';
import { frameName } from '../packages/receiver/src/store/frame-name.ts';
import { exchange } from './helpers/client.ts';
import { get, startGallery, type RunningGallery } from './helpers/gallery.ts';
import { cleanEnv, FIXTURES, freePort, RECEIVER_BIN, startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { needTools } from './helpers/tools.ts';
import { storedFrames, waitFor } from './helpers/sender.ts';

/**
 * The hostile classes of issue 9, each against a real receiver process (--listen): what a
 * stranger on the network can send, and what it must get. Each test failed before its fix.
 */

const BASELINE = readFileSync(join(FIXTURES, 'jpeg/cjpeg-baseline.jpg'));
const BOMB = readFileSync(join(FIXTURES, 'bad/bomb-16383x16383.jpg'));
const framed = (jpeg: Buffer, time = new Date(), id = 'h1') => Buffer.concat([encodeHeader({ camera: 'cam', id, time, length: jpeg.length }), jpeg]);

describe('hostile peers', () => {
  const tmp = tempDir('hostile-');
  const receivers: RunningReceiver[] = [];
  const start = async (args: string[] = []) => {
    const r = await startReceiver('standalone', join(tmp.path, `store-${receivers.length}`), ['--min-free', '0', ...args]);
    receivers.push(r);
    return r;
  };
  afterAll(async () => {
    for (const r of receivers) r.process.kill('SIGKILL');
    tmp.remove();
  });

  it('refuses a decompression bomb (556 bytes claiming 16383x16383), raw or framed, and stores nothing', async () => {
    const r = await start();
    const raw = await exchange(r.port, [BOMB]);
    expect(raw.lines).toEqual(['ERR - too-large frame of 16383x16383 = 268402689 pixels is larger than the limit of 50000000 pixels']);
    const f = await exchange(r.port, [framed(BOMB)]);
    expect(f.lines).toEqual(['ERR h1 too-large frame of 16383x16383 = 268402689 pixels is larger than the limit of 50000000 pixels']);
    expect(storedFrames(r.store)).toEqual([]);
    // --max-pixels moves the limit.
    const low = await start(['--max-pixels', '76799']);
    expect((await exchange(low.port, [BASELINE])).lines[0]).toMatch(/^ERR - too-large frame of 320x240 = 76800 pixels/);
  });

  it('refuses the 17-byte non-image whose SOF is shorter than its fields', async () => {
    const r = await start();
    const bytes = Buffer.from('ffd8ffc000060800010 1ffda000200ffd9'.replace(/ /g, ''), 'hex');
    expect(bytes.length).toBe(17);
    expect((await exchange(r.port, [bytes])).lines).toEqual(['ERR - bad-jpeg not a valid JPEG at byte 9: SOF segment of length 6 is shorter than the 8 bytes of its fixed fields']);
    expect(storedFrames(r.store)).toEqual([]);
  });

  it.each([
    ['9999-12-31T23:59:59.999Z', /^ERR h1 bad-header bad frame header: capture time 9999-12-31T23:59:59\.999Z is \d+ days ahead of the receiver's clock/],
    ['0050-06-01T00:00:00.000Z', /^ERR h1 bad-header bad frame header: capture time 0050-06-01T00:00:00\.000Z is before 1970$/],
    ['2001-01-01T00:00:00.000Z', /^ERR h1 bad-header bad frame header: capture time 2001-01-01T00:00:00\.000Z is \d+ days behind the receiver's clock .* more than 400 days \(--max-frame-age\) is refused$/],
  ])('refuses the implausible capture time %s', async (time, message) => {
    const r = await start();
    const reply = await exchange(r.port, [framed(BASELINE, new Date(time))]);
    expect(reply.lines).toHaveLength(1);
    expect(reply.lines[0]).toMatch(message);
    expect(storedFrames(r.store)).toEqual([]);
  });

  it('closes a connection that sends only pings, however often', async () => {
    const r = await start(['--idle-timeout', '1s']);
    const reply = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: r.port });
      let got = '';
      let sent = 0;
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('error', () => {});
      // A ping every 200 ms: the idle timeout alone never fires. At most 100 (20 s), then give up.
      const t = setInterval(() => (sent++ < 100 && !s.destroyed ? s.write('SVF1 ping\n') : (clearInterval(t), s.destroy())), 200);
      s.on('close', () => {
        clearInterval(t);
        resolve(got);
      });
    });
    const lines = reply.split('\n').filter(Boolean);
    expect(lines.at(-1)).toBe('ERR - timeout no frame for 1s, only pings (--idle-timeout)');
    expect(lines.length).toBeLessThan(100);
  });

  it('serves a ping flood from a peer that reads nothing without a drain listener per answer', async () => {
    const r = await start();
    const s = connect({ host: '127.0.0.1', port: r.port });
    s.on('error', () => {});
    s.pause();
    const flood = Buffer.from('SVF1 ping\n'.repeat(20_000));
    await new Promise<void>((resolve) => s.on('connect', () => resolve()));
    // 20 MB of pings, as many answers: more than the kernel buffers of both ends hold (here
    // the receiver stops after some 4 MB).
    for (let i = 0; i < 100; i++) s.write(flood);
    // The receiver stops reading once its answers back up (the kernel buffers full): wait until
    // our own queue stops shrinking, however long the machine takes to get there.
    let last = -1;
    let still = 0;
    await waitFor(() => {
      still = s.writableLength === last ? still + 1 : 0;
      last = s.writableLength;
      return still >= 40; // a second without progress
    }, 'the receiver to stop reading', 120_000);
    s.destroy();
    expect(last).toBeGreaterThan(0);
    // The receiver logs the reset after anything it wrote while flooded (a warning included).
    await waitFor(() => /connection failed: \w+ ECONNRESET/.test(r.stderr()), 'the reset logged');
    expect(r.stderr()).not.toMatch(/MaxListenersExceededWarning/);
  });

  it('limits connections per source address in listener mode, and logs refusals rate-limited', async () => {
    // An idle timeout far beyond the test, so that only refusals close connections.
    const r = await start(['--max-connections-per-source', '2', '--idle-timeout', '5m']);
    let closed = 0;
    const sockets = Array.from({ length: 6 }, () => connect({ host: '127.0.0.1', port: r.port }).on('error', () => {}).once('close', () => closed++));
    await waitFor(() => closed === 4 && r.stderr().includes('refused connection from'), 'four connections refused');
    expect(sockets.filter((s) => !s.destroyed)).toHaveLength(2);
    const refusals = r.stderr().split('\n').filter((l) => l.includes('refused connection from'));
    expect(refusals).toHaveLength(1);
    // The two served still store frames (on a connection already open: a new one could race
    // the server's count of those just closed).
    const open = sockets.find((s) => !s.destroyed)!;
    const answer = new Promise<string>((resolve) => open.once('data', (d) => resolve(d.toString())));
    open.write(framed(BASELINE));
    expect(await answer).toMatch(/^OK h1 /);
    for (const s of sockets) s.destroy();
  });

  it('stops on SIGTERM while a sender keeps sending: the frame in hand is finished, then it exits; a second signal exits at once', async () => {
    const r = await start();
    const s = connect({ host: '127.0.0.1', port: r.port });
    s.on('error', () => {});
    let answers = 0;
    s.on('data', (d: Buffer) => {
      for (const b of d) if (b === 0x0a) answers++;
    });
    let n = 0;
    const t = setInterval(() => !s.destroyed && s.write(framed(BASELINE, new Date(), `k${n++}`)), 100);
    await waitFor(() => answers >= 2, 'two frames stored');
    const exited = new Promise<number | null>((resolve) => r.process.once('exit', (code) => resolve(code)));
    r.process.kill('SIGTERM');
    const code = await exited;
    clearInterval(t);
    s.destroy();
    expect(code).toBe(0);
    expect(r.stderr()).toMatch(/SIGTERM: no new connections; finishing 1 open/);

    const second = await start();
    const held = connect({ host: '127.0.0.1', port: second.port }).on('error', () => {});
    held.write(framed(BASELINE).subarray(0, 200)); // a frame in hand that never ends
    await waitFor(() => /"msg":"listening"/.test(second.stderr()), 'listening');
    await new Promise((res) => setTimeout(res, 200));
    const gone = new Promise<number | null>((resolve) => second.process.once('exit', (c) => resolve(c)));
    second.process.kill('SIGINT');
    await waitFor(() => /SIGINT: no new connections; finishing 1 open/.test(second.stderr()), 'the first signal logged');
    second.process.kill('SIGINT');
    expect(await gone).toBe(1);
    expect(second.stderr()).toMatch(/SIGINT again: exiting now, 1 connection\(s\) cut/);
    held.destroy();
  });

  it('a listener re-creates .incoming/ when it was removed, instead of failing every frame until a restart', async () => {
    const r = await start();
    expect((await exchange(r.port, [framed(BASELINE, new Date(), 'before')])).lines[0]).toMatch(/^OK before /);
    rmSync(join(r.store, '.incoming'), { recursive: true });
    expect((await exchange(r.port, [framed(BASELINE, new Date(), 'after')])).lines[0]).toMatch(/^OK after /);
    expect((await exchange(r.port, [BASELINE])).lines[0]).toMatch(/^OK r/);
    expect(storedFrames(r.store)).toHaveLength(3);
    expect(readdirSync(join(r.store, '.incoming'))).toEqual([]);
  });

  // Before, the receiver aged them by its own clock: two hours ahead, it removed the file.
  it.skipIf(!needTools('faketime'))("a receiver whose clock runs two hours ahead of the file system's leaves alone the file another receiver is writing", async () => {
    const root = join(tmp.path, 'skewed-store');
    mkdirSync(join(root, '.incoming'), { recursive: true });
    const writing = join(root, '.incoming', '4242-1-abcd.part');
    writeFileSync(writing, 'the first bytes of a frame');
    const port = await freePort();
    const child = spawn('faketime', ['-m', '-f', '+2h', 'node', RECEIVER_BIN, '--store', root, '--min-free', '0', '--listen', `127.0.0.1:${port}`], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    try {
      await waitFor(() => /"msg":"listening"/.test(stderr) || child.exitCode !== null, 'the receiver to listen');
      expect(stderr).toMatch(/"msg":"listening"/);
      // It started (and tidied), and it stores: the frame is its own, under its own clock.
      expect((await exchange(port, [BASELINE])).lines[0]).toMatch(/^OK /);
      expect(readdirSync(join(root, '.incoming'))).toEqual(['4242-1-abcd.part']);
    } finally {
      // The group: faketime runs the receiver as its child, which a kill of faketime leaves.
      process.kill(-child.pid!, 'SIGKILL');
    }
  });

  it('tidy() clears .part files older than an hour (by an injected clock), keeps fresh ones, and re-creates .incoming/', () => {
    const root = join(tmp.path, 'tidy-store');
    const store = new FileStore({ root }).prepare();
    const incoming = join(root, '.incoming');
    writeFileSync(join(incoming, '1-1-dead.part'), 'half a frame');
    // Ages from the file's own time, which the kernel set: the process clock may be another
    // (scripts/test-at-hours.sh moves only that one).
    const written = statSync(join(incoming, '1-1-dead.part')).mtimeMs;
    store.tidy(written);
    expect(readdirSync(incoming)).toEqual(['1-1-dead.part']);
    store.tidy(written + 2 * 60 * 60 * 1000);
    expect(readdirSync(incoming)).toEqual([]);
    rmSync(incoming, { recursive: true });
    store.tidy();
    expect(readdirSync(incoming)).toEqual([]);
  });
});

describe('hostile visitors of the gallery', () => {
  const tmp = tempDir('hostile-gallery-');
  const store = join(tmp.path, 'store');
  const time = new Date(Date.now() - 60_000);
  const name = (id: string) => frameName('cam', time, id);
  const place = (id: string, bytes: Buffer) => {
    const path = join(store, name(id));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
    return name(id);
  };
  let gallery: RunningGallery;
  beforeAll(async () => {
    mkdirSync(store, { recursive: true });
    place('good', BASELINE);
    // Stored before the pixel limit existed (or by hand): the bomb is already on disk.
    place('bomb', BOMB);
    // Symlinks named like frames: to a secret, and to a picture outside the store.
    mkdirSync(dirname(join(store, name('shadow'))), { recursive: true });
    symlinkSync('/etc/shadow', join(store, name('shadow')));
    writeFileSync(join(tmp.path, 'outside.jpg'), BASELINE);
    symlinkSync(join(tmp.path, 'outside.jpg'), join(store, name('outside')));
    gallery = await startGallery(store);
  });
  afterAll(async () => {
    await gallery?.stop();
    tmp.remove();
  });

  it('does not follow a symlink named like a frame (to /etc/shadow, to a file outside the store): 404 for the frame and its thumbnail', async () => {
    expect((await get(gallery.port, `/frames/${name('good')}`)).status).toBe(200);
    for (const id of ['shadow', 'outside']) {
      for (const route of ['frames', 'thumbs']) {
        const reply = await get(gallery.port, `/${route}/${name(id)}`);
        expect(reply.status, `${route} ${id}`).toBe(404);
        expect(reply.json().error).toBe('not-found');
      }
    }
  });

  it('never decodes a decompression bomb already in the store: its thumbnail and the frame are refused with 422 and the reason, from its header', async () => {
    const message = `${name('bomb')}: frame of 16383x16383 = 268402689 pixels is larger than the limit of 50000000 pixels: not decoded, here or in the browser (a decompression bomb takes gigabytes); the file stays in the store`;
    for (const route of ['frames', 'thumbs']) {
      const reply = await get(gallery.port, `/${route}/${name('bomb')}`);
      expect(reply.status, route).toBe(422);
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      expect(reply.json()).toEqual({ error: 'too-large', message });
    }
    // A frame within the limit still gets its thumbnail, and nothing tried to decode the bomb.
    const thumb = await get(gallery.port, `/thumbs/${name('good')}`);
    expect(thumb.status).toBe(200);
    expect(thumb.headers['content-type']).toBe('image/jpeg');
    expect(gallery.stderr()).not.toMatch(/thumbnail failed/);
  });

  it('caps event streams: a few per address, 64 in all; the next gets 503 with a JSON error, and a closed stream frees its place', async () => {
    const open = (from: string) =>
      new Promise<{ status: number; body: Promise<string>; close: () => void }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: gallery.port, localAddress: from, path: '/api/feed', headers: { accept: 'text/event-stream' } });
        req.on('error', reject);
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          const body = new Promise<string>((done) => {
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
            res.on('error', () => done(''));
          });
          resolve({ status: res.statusCode!, body, close: () => req.destroy() });
        });
        req.end();
      });
    const streams = [];
    for (let i = 0; i < 8; i++) streams.push(await open('127.0.0.1'));
    expect(streams.map((s) => s.status)).toEqual(Array(8).fill(200));
    const ninth = await open('127.0.0.1');
    expect(ninth.status).toBe(503);
    expect(JSON.parse(await ninth.body)).toEqual({ error: 'too-large', message: '8 event streams are open from 127.0.0.1, the most from one address; close a page or try again later' });
    // 64 in all, from eight addresses.
    for (let a = 2; a <= 8; a++) for (let i = 0; i < 8; i++) streams.push(await open(`127.0.0.${a}`));
    expect(streams.filter((s) => s.status === 200)).toHaveLength(64);
    const over = await open('127.0.0.9');
    expect(over.status).toBe(503);
    expect(JSON.parse(await over.body).message).toBe('64 event streams are open, the most the gallery serves; close a page or try again later');
    // A page closed: its place is free again.
    streams.pop()!.close();
    await waitFor(async () => {
      const s = await open('127.0.0.9');
      if (s.status === 200) streams.push(s);
      return s.status === 200;
    }, 'a free place after a stream closed');
    for (const s of streams) s.close();
  });
});
