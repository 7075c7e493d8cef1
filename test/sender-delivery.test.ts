import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, freePort, SENDER_BIN, startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { makeFrames, parseLog, spooled, startSender, storedFrames, storedId, waitFor, writeAtomically, type RunningSender } from './helpers/sender.ts';
import { needTools } from './helpers/tools.ts';

/**
 * Delivery through trouble: the real sender, the real receiver under systemd-socket-activate
 * (one process per connection, like Accept=yes), real TCP on loopback.
 */

const FAST = ['--interval', '50ms', '--retry-min', '50ms', '--retry-max', '300ms', '--timeout', '2s', '--camera', 'yard', '--log-level', 'debug'];

function stored(receiver: RunningReceiver, msg = 'stored'): string[] {
  return parseLog(receiver.stderr())
    .filter((l) => l.msg === msg)
    .map((l) => String(l.id));
}

/** Spool ids, oldest first (the order the spool promises to deliver in). */
function spooledIds(spool: string): string[] {
  return spooled(spool).map((n) => n.split('_')[1]!);
}

describe.skipIf(!needTools('systemd-socket-activate', 'ffmpeg'))('sender delivery', () => {
  const tmp = tempDir('sender-delivery-');
  let frames: Buffer[];
  const started: { stop: () => Promise<unknown> }[] = [];
  const track = <T extends { stop: () => Promise<unknown> }>(x: T): T => (started.push(x), x);

  beforeAll(() => {
    frames = makeFrames(join(tmp.path, 'frames'), 8);
  });
  afterAll(async () => {
    for (const s of started) await s.stop();
    tmp.remove();
  });

  /** A watch sender on its own camera folder and spool; `show(i)` puts frame i in the picture and waits until it is spooled. */
  function watcher(name: string, port: number, extra: string[] = []) {
    const dir = join(tmp.path, name);
    const file = join(dir, 'monitor.jpg');
    const spool = join(dir, 'spool');
    const store = join(dir, 'store');
    mkdirSync(dir, { recursive: true });
    let shown = 0;
    let sender: RunningSender;
    const start = () => (sender = track(startSender(['watch', '--file', file, '--to', `127.0.0.1:${port}`, '--spool', spool, ...FAST, ...extra])));
    start();
    return {
      file,
      spool,
      store,
      get sender() {
        return sender;
      },
      restart: start,
      show: async (i: number) => {
        writeAtomically(file, frames[i]!);
        shown++;
        const want = shown;
        await sender.waitForLog(() => sender.log().filter((l) => l.msg === 'frame spooled').length >= want, `frame ${i} to be spooled`);
      },
    };
  }

  it('keeps frames while the receiver is down and delivers each exactly once, in order, when it is back', async () => {
    const port = await freePort();
    const w = watcher('down-then-up', port);
    for (let i = 0; i < 5; i++) await w.show(i);
    expect(spooled(w.spool)).toHaveLength(5);
    const order = spooledIds(w.spool);
    // The outage is logged once, however often the sender retries.
    await w.sender.waitForLog((l) => l.msg === 'still cannot deliver: receiver 127.0.0.1:' + port + ': connection refused (is the receiver or its socket unit running?)', 'a retry');
    expect(w.sender.log().filter((l) => l.level === 40 && String(l.msg).startsWith('cannot deliver:'))).toHaveLength(1);

    const receiver = track(await startReceiver('inetd', w.store, [], {}, port));
    await waitFor(() => spooled(w.spool).length === 0, 'the spool to empty');
    expect(stored(receiver)).toEqual(order);
    expect(storedFrames(w.store).map(storedId)).toEqual([...order].sort());
    await w.sender.waitForLog((l) => l.msg === `receiver 127.0.0.1:${port} takes frames again`, 'the recovery line');
    expect(await w.sender.stop()).toBe(0);
  });

  it('does not call a frame that vanished from the spool a recovery: the outage goes on, logged once', async () => {
    const port = await freePort();
    const w = watcher('vanished', port);
    await w.show(0);
    await w.show(1);
    await w.sender.waitForLog((l) => l.level === 40 && String(l.msg).startsWith('cannot deliver:'), 'the outage warning');
    const [oldest] = spooled(w.spool);
    rmSync(join(w.spool, 'queue', oldest!));
    const mark = w.sender.log().length;
    // The next attempts skip the vanished frame and try the other one, still refused.
    await waitFor(() => w.sender.log().slice(mark).filter((l) => /^(still )?cannot deliver:/.test(String(l.msg))).length >= 2, 'two more attempts');
    expect(w.sender.log().filter((l) => /takes frames again/.test(String(l.msg)))).toEqual([]);
    expect(w.sender.log().filter((l) => l.level === 40 && String(l.msg).startsWith('cannot deliver:'))).toHaveLength(1);
    expect(spooled(w.spool)).toHaveLength(1);
    await w.sender.stop();
  });

  /**
   * A proxy to the receiver that hands the first answer line to `hold` instead of passing it on
   * (`pass()` passes it on after all); resolves with its port.
   */
  async function proxyHoldingFirstAnswer(receiverPort: number, hold: (pass: () => void, client: Socket) => void): Promise<number> {
    let held = false;
    const proxy: Server = createServer((client: Socket) => {
      const upstream = connect(receiverPort, '127.0.0.1');
      client.pipe(upstream);
      upstream.on('data', (d: Buffer) => {
        const forward = () => void (client.destroyed || client.write(d));
        if (!held && d.includes(0x0a)) {
          held = true;
          hold(forward, client);
          return;
        }
        forward();
      });
      upstream.on('end', () => client.end());
      for (const s of [client, upstream]) s.on('error', () => {});
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    track({ stop: () => new Promise<void>((r) => proxy.close(() => r())) });
    return (proxy.address() as { port: number }).port;
  }

  it('lets the frame on its way get its answer when stopped (SIGTERM), instead of cutting it off', async () => {
    const store = join(tmp.path, 'stopped-store');
    const receiver = track(await startReceiver('inetd', store));
    let sender: RunningSender | undefined;
    const port = await proxyHoldingFirstAnswer(receiver.port, (pass) => {
      sender!.process.kill('SIGTERM');
      // Long enough for the sender to act on the signal before the answer reaches it.
      setTimeout(pass, 300);
    });
    const w = watcher('stopped', port);
    sender = w.sender;
    await w.show(0);
    expect(await sender.exited).toBe(0);
    expect(sender.log().map((l) => l.msg)).toEqual(expect.arrayContaining(['delivered']));
    expect(spooled(w.spool)).toEqual([]);
    expect(storedFrames(store)).toHaveLength(1);
  });

  it('loses and doubles nothing when the sender is killed between the receiver storing a frame and the sender reading the answer', async () => {
    const store = join(tmp.path, 'killed-store');
    const receiver = track(await startReceiver('inetd', store));
    // The sender is killed the moment the first answer comes back, before it is passed on.
    let victim: RunningSender | undefined;
    let killed = false;
    const port = await proxyHoldingFirstAnswer(receiver.port, (_pass, client) => {
      killed = true;
      void victim!.kill().then(() => client.destroy());
    });

    // Spool three frames with the receiver out of reach, then let the sender deliver through the proxy.
    const closed = await freePort();
    const w = watcher('killed', closed);
    for (let i = 0; i < 3; i++) await w.show(i);
    await w.sender.stop();
    const order = spooledIds(w.spool);

    victim = track(startSender(['watch', '--file', w.file, '--to', `127.0.0.1:${port}`, '--spool', w.spool, ...FAST]));
    await waitFor(() => killed && victim!.process.signalCode === 'SIGKILL', 'the sender to be killed');
    expect(stored(receiver)).toEqual(order.slice(0, 1)); // stored, but the sender never heard
    expect(spooled(w.spool)).toHaveLength(3);

    const again = track(startSender(['watch', '--file', w.file, '--to', `127.0.0.1:${port}`, '--spool', w.spool, ...FAST]));
    await waitFor(() => spooled(w.spool).length === 0, 'the spool to empty');
    expect(stored(receiver, 'duplicate')).toEqual(order.slice(0, 1));
    expect(stored(receiver)).toEqual(order);
    expect(storedFrames(store).map(storedId)).toEqual([...order].sort());
    expect(again.log().filter((l) => l.msg === 'frame spooled')).toEqual([]); // the picture had not changed
    await again.stop();
  });

  it('moves a frame the receiver refuses for good (too-large) aside, and the queue goes on', async () => {
    const store = join(tmp.path, 'too-large-store');
    const receiver = track(await startReceiver('inetd', store, ['--max-frame-bytes', '1024']));
    const w = watcher('too-large', receiver.port);
    await w.show(0);
    await w.show(1);
    // The frame is moved aside before its warning is logged, and the log comes through a pipe:
    // wait for both, or the second line may still be on its way.
    const warnings = () => w.sender.log().filter((l) => l.level === 40);
    await waitFor(() => readdirSync(join(w.spool, 'rejected')).length === 2 && warnings().length === 2, 'both frames to be moved aside');
    expect(spooled(w.spool)).toEqual([]);
    expect(warnings().map((l) => l.code)).toEqual(['too-large', 'too-large']);
    expect(String(warnings()[0]!.msg)).toMatch(/^receiver refused frame \S+ for good \(too-large: frame of \d+ bytes is larger than the limit of 1024 bytes\); moved it aside so that the queue goes on$/);
    expect(storedFrames(store)).toEqual([]);
    await w.sender.stop();
  });

  it('keeps spooling and backs off while the receiver answers store-full, then delivers', async () => {
    const store = join(tmp.path, 'full-store');
    let receiver = await startReceiver('inetd', store, ['--min-free', '1000TiB']);
    const w = watcher('store-full', receiver.port);
    await w.show(0);
    await w.sender.waitForLog((l) => l.code === 'store-full' && l.level === 40, 'the store-full warning');
    await w.show(1);
    await w.sender.waitForLog((l) => l.code === 'store-full' && String(l.msg).startsWith('still cannot deliver: receiver refused frame'), 'a retry');
    expect(spooled(w.spool)).toHaveLength(2);
    const order = spooledIds(w.spool);
    await receiver.stop();
    receiver = track(await startReceiver('inetd', store, [], {}, receiver.port));
    await waitFor(() => spooled(w.spool).length === 0, 'the spool to empty');
    expect(stored(receiver)).toEqual(order);
    await w.sender.stop();
  });

  it.each([
    ['refuses connections', 'connection refused (is the receiver or its socket unit running?)'],
    ['accepts but never answers', 'no answer within 0.3s'],
  ])('keeps frames within the spool limits while the receiver %s', async (kind, why) => {
    let port = await freePort();
    if (kind.startsWith('accepts')) {
      const silent = createServer((s) => s.resume());
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      track({ stop: () => new Promise<void>((r) => silent.close(() => r())) });
      port = (silent.address() as { port: number }).port;
    }
    const w = watcher(`unreachable-${port}`, port, ['--spool-max-files', '2', '--timeout', '300ms']);
    for (let i = 0; i < 4; i++) await w.show(i);
    await w.sender.waitForLog((l) => l.msg === `still cannot deliver: receiver 127.0.0.1:${port}: ${why}`, 'a retry');
    const outage = w.sender.log().filter((l) => l.level === 40 && String(l.msg).startsWith('cannot deliver:'));
    expect(outage.map((l) => String(l.msg).replace(/; \d+ frame/, '; N frame'))).toEqual([
      `cannot deliver: receiver 127.0.0.1:${port}: ${why}; N frame(s) stay spooled, retrying with backoff`,
    ]);
    // Two frames dropped, one warning: at one frame a second, a day's outage is one line, not 86,400.
    expect(w.sender.log().filter((l) => String(l.msg).startsWith('spool full')).map((l) => l.level)).toEqual([40]);
    const status = spawnSync('node', [SENDER_BIN, 'status', '--spool', w.spool, '--spool-max-files', '2', '--json'], { env: cleanEnv(), encoding: 'utf8' });
    expect(JSON.parse(status.stdout).backlog).toMatchObject({ files: 2, rejected: 0 });
    await w.sender.stop();
  });
});

describe.skipIf(!needTools('systemd-socket-activate', 'ffmpeg'))('sender once (for a systemd timer)', () => {
  const tmp = tempDir('sender-once-');
  let receiver: RunningReceiver;
  let frames: Buffer[];
  const file = join(tmp.path, 'monitor.jpg');
  const spool = join(tmp.path, 'spool');
  const store = join(tmp.path, 'store');
  const once = (port: number) =>
    spawnSync('node', [SENDER_BIN, 'once', '--file', file, '--to', `127.0.0.1:${port}`, '--spool', spool, '--camera', 'gate'], { env: cleanEnv(), encoding: 'utf8' });

  beforeAll(async () => {
    frames = makeFrames(join(tmp.path, 'frames'), 3);
    receiver = await startReceiver('inetd', store);
  });
  afterAll(async () => {
    await receiver.stop();
    tmp.remove();
  });

  it('sends the first picture, nothing while it stays the same, and the next change', () => {
    writeAtomically(file, frames[0]!);
    expect(once(receiver.port).status).toBe(0);
    expect(storedFrames(store)).toHaveLength(1);
    expect(once(receiver.port).status).toBe(0);
    expect(storedFrames(store)).toHaveLength(1);
    writeAtomically(file, frames[1]!);
    expect(once(receiver.port).status).toBe(0);
    expect(storedFrames(store)).toHaveLength(2);
    expect(storedFrames(store).every((f) => f.startsWith('gate/'))).toBe(true);
  });

  it('exits 69 with the frame spooled while the receiver is down, and the next run delivers the backlog', async () => {
    writeAtomically(file, frames[2]!);
    const closed = await freePort();
    const down = once(closed);
    expect(down.status).toBe(69);
    expect(down.stderr).toContain(`surveillance-sender: unreachable: receiver 127.0.0.1:${closed}: connection refused`);
    expect(spooled(spool)).toHaveLength(1);
    const up = once(receiver.port);
    expect(up.status).toBe(0);
    expect(spooled(spool)).toEqual([]);
    expect(storedFrames(store)).toHaveLength(3);
  });

  it('keeps the frame spooled when an answer names no frame (a stray "OK - pong")', async () => {
    const stray = createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.write('OK - pong\n'));
      s.resume();
    });
    await new Promise<void>((r) => stray.listen(0, '127.0.0.1', r));
    const own = join(tmp.path, 'stray-spool');
    const picture = join(tmp.path, 'stray.jpg');
    writeAtomically(picture, frames[0]!);
    try {
      // Not spawnSync: the stray server answers from this process's event loop.
      const r = startSender(['once', '--file', picture, '--to', `127.0.0.1:${(stray.address() as { port: number }).port}`, '--spool', own, '--camera', 'gate']);
      const status = await r.exited;
      const [name] = spooled(own);
      expect(r.stderr()).toContain(`surveillance-sender: bad-reply: receiver answered for frame - while frame ${name!.split('_')[1]} was waiting`);
      expect(status).toBe(1);
      expect(spooled(own)).toHaveLength(1);
    } finally {
      await new Promise<void>((r) => stray.close(() => r()));
    }
  });

  it('warns once that the picture is missing, still delivers the backlog and exits 0, and says when it is back', async () => {
    const own = join(tmp.path, 'missing-spool');
    const picture = join(tmp.path, 'missing.jpg');
    const run = (port: number) =>
      spawnSync('node', [SENDER_BIN, 'once', '--file', picture, '--to', `127.0.0.1:${port}`, '--spool', own, '--camera', 'gone'], { env: cleanEnv(), encoding: 'utf8' });
    const lines = (r: { stderr: string }, level: number) => parseLog(r.stderr).filter((l) => l.level === level).map((l) => l.msg);
    // A frame spooled while the receiver was down, then the camera goes.
    writeAtomically(picture, frames[0]!);
    expect(run(await freePort()).status).toBe(69);
    rmSync(picture);

    const first = run(receiver.port);
    expect(lines(first, 40)).toEqual([
      `cannot read ${picture}: ENOENT: no picture to look at (is the camera plugged in and capture running?); spooled frames are delivered all the same, and this is not said again until the picture is back`,
    ]);
    expect(first.status).toBe(0);
    expect(spooled(own)).toEqual([]);
    expect(storedFrames(store).filter((f) => f.startsWith('gone/'))).toHaveLength(1);

    const second = run(receiver.port);
    expect(second.stderr).toBe('');
    expect(second.status).toBe(0);

    writeAtomically(picture, frames[1]!);
    const back = run(receiver.port);
    expect(lines(back, 30)).toContain(`${picture} is back`);
    expect(back.status).toBe(0);
    expect(storedFrames(store).filter((f) => f.startsWith('gone/'))).toHaveLength(2);
  });

  it('exits with an error for a picture that stays half-written, and sends nothing', () => {
    const path = join(tmp.path, 'half-written.jpg');
    writeFileSync(path, frames[0]!.subarray(0, frames[0]!.length >> 1));
    const before = storedFrames(store);
    const r = spawnSync('node', [SENDER_BIN, 'once', '--file', path, '--to', `127.0.0.1:${receiver.port}`, '--spool', join(tmp.path, 'half-spool'), '--camera', 'gate'], { env: cleanEnv(), encoding: 'utf8' });
    expect(r.stderr).toContain('is still not one whole JPEG after 2s');
    expect(r.status).toBe(65);
    expect(storedFrames(store)).toEqual(before);
  });
});
