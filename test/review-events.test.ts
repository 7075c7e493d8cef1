import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { encodeHeader, type FrameReason } from '@surveillance/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange } from './helpers/client.ts';
import { JPEGS, storeFrame } from './helpers/notify.ts';
import { startReceiver, tempDir } from './helpers/receiver.ts';
import { cli, ensureBuilt } from './helpers/review-cli.ts';

/**
 * `surveillance-receiver events` and `export --event` over real stores: one written the way the
 * receiver writes (storeFrame), and one written by real receivers, one of them killed mid-event.
 * Times are in 2025, long before any `now` these tests run at, so every event is over.
 */

const T0 = Date.parse('2025-06-14T21:59:30.000Z'); // 23:59:30 in Berlin (CEST), the evening before the next local day
const at = (s: number) => new Date(T0 + s * 1000);

interface Ev {
  id: string;
  camera: string;
  start: string;
  frames: number;
  cover: string;
  open: boolean;
  coverPath: string;
  durationMs: number;
}
const events = (store: string, args: string[] = []): Ev[] => {
  const r = cli(['events', '--store', store, '--json', ...args]);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Ev);
};

beforeAll(() => ensureBuilt());

describe('events CLI', () => {
  const tmp = tempDir('events-cli-');
  const names: Record<string, string> = {};
  const put = (key: string, camera: string, s: number, reason?: FrameReason, score?: number) => (names[key] = storeFrame(tmp.path, camera, at(s), JPEGS[0]!, reason, score));
  beforeAll(() => {
    // front: an event across local midnight (0..40 s) with heartbeats every 20 s after it, which
    // neither extend it nor start one; a second event at 120 s.
    put('f0', 'front', 0, 'first', 1);
    put('f1', 'front', 10, 'motion', 0.2);
    put('f2', 'front', 25, 'motion', 0.6); // the cover
    put('f3', 'front', 40, 'motion', 0.1);
    for (const s of [60, 80, 100]) put(`h${s}`, 'front', s, 'heartbeat');
    put('f4', 'front', 120, 'motion', 0.3);
    // back: one raw frame (no reason: motion) at 50 s.
    put('b0', 'back', 50);
  });
  afterAll(() => tmp.remove());

  it('lists events oldest first with frames, cover and duration; heartbeats are not part of them', () => {
    const all = events(tmp.path);
    expect(all.map((e) => [e.camera, e.start, e.frames, e.cover, e.durationMs, e.open])).toEqual([
      ['front', at(0).toISOString(), 4, names.f2, 40_000, false],
      ['back', at(50).toISOString(), 1, names.b0, 0, false],
      ['front', at(120).toISOString(), 1, names.f4, 0, false],
    ]);
    expect(all[0]!.id).toBe('front-20250614T215930.000Z');
    expect(all[0]!.coverPath).toBe(join(tmp.path, names.f2!));
  });

  it('human output: local start, camera, duration, frames, cover and id per line', () => {
    const r = cli(['events', '--store', tmp.path, '--camera', 'front']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^2025-06-14 23:59:30\+02:00  front +40s +4 frames  \S+_t\d+-2\.jpg  front-20250614T215930\.000Z$/);
  });

  it('a range selects events by their start and shows each whole; one begun before it is not in it', () => {
    // Local 2025-06-15 begins 30 s into the first event: that event is not of the day.
    expect(events(tmp.path, ['--day', '2025-06-15']).map((e) => e.start)).toEqual([at(50).toISOString(), at(120).toISOString()]);
    // Ending 5 s into the first event, the range still shows it whole.
    const first = events(tmp.path, ['--camera', 'front', '--from', '2025-06-14 23:59', '--to', '2025-06-14 23:59:35']);
    expect(first.map((e) => [e.start, e.frames])).toEqual([[at(0).toISOString(), 4]]);
  });

  it('--event-gap changes the grouping; bad options fail with a clear message', () => {
    expect(events(tmp.path, ['--camera', 'front', '--event-gap', '12s']).map((e) => e.frames)).toEqual([2, 1, 1, 1]);
    const unknown = cli(['events', '--store', tmp.path, '--camera', 'garage']);
    expect(unknown.status).toBe(66);
    expect(unknown.stderr).toMatch(/no camera "garage".*cameras: back, front/);
    const bad = cli(['events', '--store', tmp.path, '--event-gap', 'soon']);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toMatch(/event-gap/);
  });

  it('export --event makes a clip of that event alone (MJPEG: its frames, heartbeats left out)', () => {
    const out = join(tmp.path, 'clip.mjpeg');
    const r = cli(['export', '--store', tmp.path, '--event', 'front-20250614T215930.000Z', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/4 frames \(of 4 in range\) of front/);
    expect(readFileSync(out).equals(Buffer.concat(['f0', 'f1', 'f2', 'f3'].map((k) => readFileSync(join(tmp.path, names[k]!)))))).toBe(true);
    const none = cli(['export', '--store', tmp.path, '--event', 'front-20250614T215931.000Z', '--out', out]);
    expect(none.status).toBe(66);
    expect(none.stderr).toMatch(/no event front-20250614T215931\.000Z/);
    const bad = cli(['export', '--store', tmp.path, '--event', '../etc', '--out', out]);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toMatch(/is not an event id/);
    const both = cli(['export', '--store', tmp.path, '--event', 'front-20250614T215930.000Z', '--day', 'today', '--out', out]);
    expect(both.status).toBe(64);
  });
});

describe('events written by real receivers', () => {
  const tmp = tempDir('events-receiver-');
  afterAll(() => tmp.remove());
  let seq = 0;
  // Frames of 2025 are history whenever this runs: the receiver must take them.
  const HISTORY = ['--max-frame-age', '36500d'];
  const framed = (s: number, reason?: FrameReason, score?: number) => {
    const jpeg = JPEGS[seq % JPEGS.length]!;
    return Buffer.concat([encodeHeader({ camera: 'yard', id: `f${seq++}`, time: at(s), length: jpeg.length, reason, score }), jpeg]);
  };
  /** One frame per connection, each answered OK before the next is sent. */
  const send = async (port: number, frames: Buffer[]) => {
    for (const f of frames) expect((await exchange(port, [f])).lines[0]).toMatch(/^OK /);
  };

  it('a receiver killed (SIGKILL) between frames of an event, then more frames: one event', async () => {
    const first = await startReceiver('standalone', tmp.path, HISTORY);
    await send(first.port, [framed(0, 'first', 1), framed(5, 'motion', 0.4), framed(10, 'heartbeat')]);
    first.process.kill('SIGKILL');
    await new Promise((r) => first.process.once('exit', r));
    const second = await startReceiver('standalone', tmp.path, HISTORY);
    await send(second.port, [framed(15, 'motion', 0.9), framed(20, 'motion', 0.2)]);
    await second.stop();
    const all = events(tmp.path);
    expect(all.map((e) => [e.start, e.frames, e.durationMs])).toEqual([[at(0).toISOString(), 4, 20_000]]);
    // The cover is the frame with the largest score, which only the index knows.
    expect(all[0]!.cover).toMatch(/_f3\.jpg$/);
    expect(existsSync(join(tmp.path, '.index/yard/2025-06-14.log'))).toBe(true);
  });

  it('with the index deleted, events still come out (heartbeats then count as motion), and new frames index again', async () => {
    const receiver = await startReceiver('standalone', tmp.path, HISTORY);
    // Heartbeats every 20 s from 40 s to 100 s, then motion at 110 s: a second event.
    await send(receiver.port, [40, 60, 80, 100].map((s) => framed(s, 'heartbeat')));
    await send(receiver.port, [framed(110, 'motion', 0.5)]);
    expect(events(tmp.path).map((e) => e.frames)).toEqual([4, 1]);
    rmSync(join(tmp.path, '.index'), { recursive: true });
    // Without reasons the heartbeats are motion: everything is one event, its cover the first frame.
    const lost = events(tmp.path);
    expect(lost.map((e) => [e.start, e.frames])).toEqual([[at(0).toISOString(), 10]]);
    expect(lost[0]!.cover).toMatch(/_f0\.jpg$/);
    // New frames index again: a heartbeat at 150 s and motion at 200 s.
    await send(receiver.port, [framed(150, 'heartbeat'), framed(200, 'motion', 0.7)]);
    await receiver.stop();
    expect(readdirSync(join(tmp.path, '.index/yard'))).toEqual(['2025-06-14.log']);
    // The heartbeat at 150 s has its line again: it starts nothing (as motion, it would).
    expect(events(tmp.path, ['--from', '2025-06-15 00:01:25']).map((e) => [e.start, e.frames])).toEqual([[at(200).toISOString(), 1]]);
  });

  it('prune removes the index day files of days left with no frame', async () => {
    const recent = new Date(Date.now() - 3_600_000);
    storeFrame(tmp.path, 'yard', recent, JPEGS[0]!, 'motion', 0.5);
    const r = cli(['prune', '--store', tmp.path, '--older-than', '30d']);
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(join(tmp.path, '.index/yard'))).toEqual([`${recent.toISOString().slice(0, 10)}.log`]);
  });
});
