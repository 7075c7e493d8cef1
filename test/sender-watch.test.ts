import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCompleteJpeg } from '@surveillance/shared';
import { freePort, ROOT, startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { makeFrames, parseLog, spooled, startSender, storedFrames, waitFor, writeAtomically, type RunningSender } from './helpers/sender.ts';
import { needTools } from './helpers/tools.ts';

/**
 * The watch loop against real files and real writers: chokidar on native events and polling
 * (as chokidar's own tests do), the tutorial's timer alone, ffmpeg writing in place and by
 * rename, slow writers, a picture that goes missing.
 */

const BASE = ['--interval', '50ms', '--retry-min', '50ms', '--retry-max', '300ms', '--camera', 'hall', '--log-level', 'debug'];
const FAKE_CAMERA = join(ROOT, 'scripts/fake-camera.mjs');
const MODES: [string, string[]][] = [
  ['native file events', []],
  ['polling', ['--poll', '--poll-interval', '30ms']],
  ['the timer only', ['--timer-only']],
];

describe.skipIf(!needTools('systemd-socket-activate', 'ffmpeg'))('sender watch', () => {
  const tmp = tempDir('sender-watch-');
  let frames: Buffer[];
  let receiver: RunningReceiver;
  const store = join(tmp.path, 'store');
  const senders: RunningSender[] = [];
  let n = 0;

  /** A fresh camera folder and spool, and a sender watching them. */
  function setup(extra: string[], to = `127.0.0.1:${receiver.port}`, camera = `cam${++n}`) {
    const dir = join(tmp.path, camera);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'monitor.jpg');
    const spool = join(dir, 'spool');
    const sender = startSender(['watch', '--file', file, '--to', to, '--spool', spool, ...BASE, '--camera', camera, ...extra]);
    senders.push(sender);
    const storedHere = () => storedFrames(store).filter((f) => f.startsWith(`${camera}/`));
    const count = (msg: string) => sender.log().filter((l) => l.msg === msg).length;
    return { dir, file, spool, sender, camera, storedHere, count };
  }

  beforeAll(async () => {
    frames = makeFrames(join(tmp.path, 'frames'), 6);
    receiver = await startReceiver('inetd', store);
  });
  afterAll(async () => {
    for (const s of senders) await s.stop();
    await receiver.stop();
    tmp.remove();
  });

  /** Receiver log lines that say something went wrong. */
  const receiverTrouble = () => parseLog(receiver.stderr()).filter((l) => (l.level ?? 0) >= 40);

  describe.each(MODES)('on %s', (_mode, flags) => {
    it.each([
      ['rewritten in place', (f: string, b: Buffer) => writeFileSync(f, b)],
      ['renamed over', writeAtomically],
    ])('delivers each new picture %s', async (_how, write) => {
      const s = setup(flags);
      await s.sender.waitForLog((l) => l.msg === 'watching', 'the start');
      for (let i = 0; i < 3; i++) {
        write(s.file, frames[i]!);
        await waitFor(() => s.storedHere().length === i + 1, `frame ${i} to be stored`);
      }
      const got = s.storedHere().map((f) => readFileSync(join(store, f)));
      expect(got).toEqual(frames.slice(0, 3));
      expect(receiverTrouble()).toEqual([]);
    });
  });

  it.each(MODES.slice(0, 2))('delivers a picture renamed over the last one within 50 ms without waiting for the interval (%s)', async (_mode, flags) => {
    // chokidar passes on one change event per 50 ms and drops the others: the second picture
    // came without an event, and waited for the interval's check (here longer than waitFor).
    const s = setup([...flags, '--interval', '120s', '--min-gap', '0', '--stale-after', '600s']);
    await s.sender.waitForLog((l) => l.msg === 'watching', 'the start');
    writeAtomically(s.file, frames[0]!);
    await waitFor(() => s.storedHere().length === 1, 'the first frame to be stored');
    writeAtomically(s.file, frames[1]!);
    await new Promise((r) => setTimeout(r, 15));
    writeAtomically(s.file, frames[2]!);
    await waitFor(() => s.storedHere().some((f) => readFileSync(join(store, f)).equals(frames[2]!)), 'the last picture to be stored');
    expect(receiverTrouble()).toEqual([]);
  });

  it.each(MODES)('never sends a picture written slowly in two halves (%s)', async (_mode, flags) => {
    // The receiver is out of reach at first, so that everything spooled stays there to be checked.
    const port = await freePort();
    const s = setup(flags, `127.0.0.1:${port}`);
    await s.sender.waitForLog((l) => l.msg === 'watching', 'the start');
    for (let i = 0; i < 3; i++) {
      const fd = openSync(s.file, 'w');
      const half = frames[i]!.length >> 1;
      writeSync(fd, frames[i]!, 0, half);
      await new Promise((r) => setTimeout(r, 200)); // four intervals, many file events
      writeSync(fd, frames[i]!, half);
      closeSync(fd);
      await s.sender.waitForLog(() => s.count('frame spooled') === i + 1, `frame ${i} to be spooled`);
    }
    const inSpool = spooled(s.spool).map((name) => readFileSync(join(s.spool, 'queue', name)));
    expect(inSpool.every(isCompleteJpeg)).toBe(true);
    expect(inSpool).toEqual(frames.slice(0, 3));
    // One decision per whole picture: the halves never reached the change detector (which
    // would have failed to decode them, or worse, decoded them grey).
    expect(s.sender.log().filter((l) => String(l.msg).startsWith('decision:'))).toHaveLength(3);
    expect(s.sender.log().filter((l) => l.trouble === 'failing' || l.trouble === 'broken')).toEqual([]);

    const late = await startReceiver('inetd', store, [], {}, port);
    try {
      await waitFor(() => s.storedHere().length === 3, 'the spooled frames to be stored');
      expect(parseLog(late.stderr()).filter((l) => (l.level ?? 0) >= 40)).toEqual([]);
      expect(s.storedHere().map((f) => readFileSync(join(store, f)))).toEqual(frames.slice(0, 3));
    } finally {
      await late.stop();
    }
  });

  it.each([
    ['in place', []],
    ['by rename (-atomic_writing 1)', ['-atomic_writing', '1']],
  ])('stores what ffmpeg writes %s, every frame whole', async (_how, atomic) => {
    const s = setup(['--threshold', '0.001']);
    await s.sender.waitForLog((l) => l.msg === 'watching', 'the start');
    const ffmpeg = spawn('ffmpeg', ['-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=10', '-t', '1.5', '-q:v', '4', '-f', 'image2', '-update', '1', ...atomic, s.file]);
    const code = await new Promise((r) => ffmpeg.once('exit', r));
    expect(code).toBe(0);
    await waitFor(() => spooled(s.spool).length === 0 && s.storedHere().length >= 2, 'ffmpeg frames to be stored');
    const got = s.storedHere().map((f) => readFileSync(join(store, f)));
    expect(got.every(isCompleteJpeg)).toBe(true);
    expect(receiverTrouble()).toEqual([]);
  });

  it.each([
    ['drawing in place, slowly (half-written windows)', ['--chunk-delay', '3']],
    ['running real ffmpeg (--ffmpeg)', ['--ffmpeg']],
  ])('stores the moving object of the fake camera %s, every frame whole', async (_how, cameraArgs) => {
    const s = setup([]);
    await s.sender.waitForLog((l) => l.msg === 'watching', 'the start');
    const camera = spawn('node', [FAKE_CAMERA, '--out', s.file, '--fps', '8', '--frames', '16', '--size', '320x240', ...cameraArgs], { stdio: 'ignore' });
    expect(await new Promise((r) => camera.once('exit', r))).toBe(0);
    await waitFor(() => spooled(s.spool).length === 0 && s.storedHere().length >= 2, 'the moving object to be stored');
    expect(s.storedHere().map((f) => readFileSync(join(store, f))).every(isCompleteJpeg)).toBe(true);
    expect(s.sender.log().filter((l) => l.trouble === 'failing' || l.trouble === 'broken')).toEqual([]);
    expect(receiverTrouble()).toEqual([]);
  });

  // Missing and stale in two tests: with both in one, a test slowed down by a loaded machine
  // for a second after a frame made the sender rightly call the file stale too early.
  it('says once that the picture is missing, and picks up when it (and its folder) come back', async () => {
    const s = setup(['--stale-after', '1h']);
    rmSync(s.dir, { recursive: true, force: true });
    await s.sender.waitForLog((l) => l.trouble === 'missing', 'the missing warning');
    await new Promise((r) => setTimeout(r, 300)); // several checks later
    mkdirSync(s.dir, { recursive: true });
    writeAtomically(s.file, frames[0]!);
    await waitFor(() => s.storedHere().length === 1, 'the first frame');
    rmSync(s.file);
    await s.sender.waitForLog(() => s.sender.log().filter((l) => l.trouble === 'missing').length === 3, 'the second missing warning');
    writeFileSync(s.file, frames[1]!);
    await waitFor(() => s.storedHere().length === 2, 'the second frame');

    const trouble = s.sender.log().filter((l) => l.trouble !== undefined).map((l) => `${l.level === 40 ? 'warn' : 'info'} ${l.trouble}`);
    expect(trouble).toEqual(['warn missing', 'info missing', 'warn missing', 'info missing']);
    expect(s.sender.log().find((l) => l.trouble === 'missing')!.msg).toBe(`${s.file} cannot be read (it does not exist); waiting for it to appear`);
  });

  it('says once that the camera stopped rewriting the picture (--stale-after), and when it writes again', async () => {
    const s = setup(['--stale-after', '1s']);
    writeAtomically(s.file, frames[0]!);
    await waitFor(() => s.storedHere().length === 1, 'the first frame');
    await s.sender.waitForLog((l) => l.trouble === 'stale', 'the stale warning');
    await new Promise((r) => setTimeout(r, 300)); // several checks later
    writeAtomically(s.file, frames[1]!);
    await waitFor(() => s.storedHere().length === 2, 'the second frame');

    const trouble = s.sender.log().filter((l) => l.trouble !== undefined).map((l) => `${l.level === 40 ? 'warn' : 'info'} ${l.trouble}`);
    expect(trouble).toEqual(['warn stale', 'info stale']);
    expect(s.sender.log().find((l) => l.trouble === 'stale')!.msg).toMatch(new RegExp(`^${s.file.replace(/[.]/g, '\\.')} has not been rewritten for \\d+s: has the camera stopped\\?$`));
  });

  it('chooses at most one frame per --min-gap: the latest picture when the gap is over', async () => {
    const s = setup(['--min-gap', '2s']);
    await s.sender.waitForLog((l) => l.msg === 'watching', 'the start');
    for (let i = 0; i < 4; i++) {
      writeAtomically(s.file, frames[i]!);
      if (i === 0) await s.sender.waitForLog(() => s.count('frame spooled') === 1, 'the first frame');
    }
    await waitFor(() => s.storedHere().length === 2, 'the frame after the gap');
    expect(s.storedHere().map((f) => readFileSync(join(store, f)))).toEqual([frames[0], frames[3]]);
  });

  it('sends a heartbeat frame when nothing changed for --heartbeat (capture time), and logs each decision with its score', async () => {
    const s = setup(['--heartbeat', '450ms']);
    await s.sender.waitForLog((l) => l.msg === 'watching', 'the start');
    const t0 = Date.now() - 60_000;
    // The same picture, captured every 100 ms: only the first and the heartbeats are kept.
    for (let i = 0; i <= 10; i++) {
      const temp = `${s.file}.tmp`;
      writeFileSync(temp, frames[0]!);
      utimesSync(temp, new Date(t0 + i * 100), new Date(t0 + i * 100));
      renameSync(temp, s.file);
      await s.sender.waitForLog(() => s.sender.log().filter((l) => String(l.msg).startsWith('decision:')).length === i + 1, `decision ${i}`);
    }
    await s.sender.waitForLog(() => s.count('frame spooled') === 3, 'the second heartbeat to be spooled');
    const decisions = s.sender.log().filter((l) => String(l.msg).startsWith('decision:'));
    expect(decisions.map((l) => l.heartbeat)).toEqual([false, false, false, false, false, true, false, false, false, false, true]);
    expect(decisions.every((l) => typeof l.changedShare === 'number' && String(l.msg).endsWith(`score ${(l.changedShare as number).toFixed(4)}`))).toBe(true);
    expect(s.sender.log().filter((l) => l.msg === 'frame spooled').map((l) => l.reason)).toEqual(['first', 'heartbeat', 'heartbeat']);
  });
});
