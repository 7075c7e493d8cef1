import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { encodeHeader } from '@surveillance/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { exchange } from './helpers/client.ts';
import { FIXTURES, startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
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
    for (let i = 0; i < 20; i++) s.write(flood);
    // The receiver stops reading once its answers back up; wait until it has read what it will.
    await new Promise((res) => setTimeout(res, 1000));
    s.destroy();
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
});
