import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader } from '@surveillance/shared';
import { exchange } from './helpers/client.ts';
import { get, openEvents, serverDay, SERVER_TZ, startGallery, type RunningGallery } from './helpers/gallery.ts';
import { natsCopyOf } from './helpers/nats.ts';
import { FIXTURES, startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { cli, ensureBuilt } from './helpers/review-cli.ts';
import { writeStore, type FixtureFrame, type Series } from './helpers/store-fixture.ts';
import { needTools } from './helpers/tools.ts';

/**
 * The same review CLI and gallery tests against both stores: a folder, and NATS JetStream
 * filled from that folder by `migrate`. Names, listings, bytes and live updates must not tell
 * them apart. (The rest of the gallery and review suites run on the file store only.)
 */

const SERIES: Series[] = [
  { camera: 'front', from: new Date('2026-11-19T23:00:00Z'), to: new Date('2026-11-21T23:00:00Z'), everyMs: 600_000 },
  { camera: 'garden', from: new Date('2026-11-20T05:00:00.500Z'), to: new Date('2026-11-21T20:00:00Z'), everyMs: 1_800_000 },
];

interface Kind {
  name: string;
  /** The --store of a store holding `frames` (made from the folder), and what to stop after. */
  make(folder: string): Promise<{ store: string; stop(): Promise<void> }>;
}

const KINDS: Kind[] = [
  { name: 'file store', make: async (folder) => ({ store: folder, stop: async () => {} }) },
  {
    name: 'NATS store',
    make: (folder) => natsCopyOf(folder, 'gallery'),
  },
];

describe.each(KINDS)('review and gallery on the $name', (kind) => {
  if (kind.name === 'NATS store' && !needTools('nats-server')) return;
  const dir = tempDir('gallery-stores-');
  let frames: FixtureFrame[];
  let store: string;
  let stop: () => Promise<void>;
  let gallery: RunningGallery;
  let receiver: RunningReceiver;
  const api = (path: string) => get(gallery.port, path);
  const ofDay = (camera: string, day: string) => frames.filter((f) => f.camera === camera && serverDay(f.time) === day);

  beforeAll(async () => {
    ensureBuilt();
    frames = writeStore(dir.path, SERIES, { litter: false });
    ({ store, stop } = await kind.make(dir.path));
    gallery = await startGallery(store, [], { XDG_CACHE_HOME: join(dir.path, 'cache') });
    receiver = await startReceiver('standalone', store, ['--min-free', '0']);
  });
  afterAll(async () => {
    await receiver?.stop();
    await gallery?.stop();
    await stop?.();
    dir.remove();
  });

  it('list and stats show the same frames', () => {
    const listed = cli(['list', '--store', store, '--json', '--from', '2026-11-01', '--to', '2026-12-01']);
    expect(listed.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { name: string }).name)).toEqual(frames.map((f) => f.name));
    const stats = cli(['stats', '--store', store, '--json']);
    expect(stats.status).toBe(0);
    expect(stats.stdout).toContain('"front"');
  });

  it('lists cameras and local days, and pages through a day', async () => {
    expect((await api('/api/cameras')).json()).toEqual({ timeZone: SERVER_TZ, cameras: ['front', 'garden'] });
    expect((await api('/api/days?camera=garden')).json().days).toEqual([...new Set(ofDay('garden', '2026-11-20').concat(ofDay('garden', '2026-11-21')).map((f) => serverDay(f.time)))].sort());
    const day = ofDay('front', '2026-11-21');
    expect((await api('/api/day?camera=front&day=2026-11-21')).json().total).toBe(day.length);
    const page = (await api('/api/frames?camera=front&day=2026-11-21&offset=100&limit=50')).json();
    expect(page.frames.map((f: { name: string }) => f.name)).toEqual(day.slice(100, 150).map((f) => f.name));
  });

  it('serves a frame byte for byte, and a thumbnail', async () => {
    const f = frames[17]!;
    const r = await api(`/frames/${f.name}`);
    expect(r.status).toBe(200);
    expect(r.body.equals(readFileSync(join(dir.path, f.name)))).toBe(true);
    const thumb = await api(`/thumbs/${f.name}`);
    expect(thumb.status).toBe(200);
    expect((await sharp(thumb.body).metadata()).width).toBe(224);
    expect((await api('/frames/front/2026-11-21/20261121T120000.000Z_nosuch.jpg')).status).toBe(404);
  });

  it('reports a frame the receiver stores, live, and frames prune removes', async () => {
    const events = await openEvents(gallery.port);
    const body = readFileSync(join(FIXTURES, 'jpeg', 'cjpeg-baseline.jpg'));
    const time = new Date('2026-11-21T22:59:59.999Z');
    const { reply } = await exchange(receiver.port, [encodeHeader({ camera: 'front', id: 'live-1', time, length: body.length }), body]);
    expect(reply).toMatch(/^OK live-1 /);
    const [frame] = await events.next('frames');
    expect(frame).toMatchObject({ name: 'front/2026-11-21/20261121T225959.999Z_live-1.jpg', camera: 'front', day: '2026-11-21' });

    // The three oldest frames go: keep everything else's bytes (with the new frame's).
    const total = frames.reduce((n, f) => n + f.bytes, 0) + body.length;
    const oldest = frames.slice(0, 3);
    const pruned = cli(['prune', '--store', store, '--max-bytes', String(total - oldest.reduce((n, f) => n + f.bytes, 0))]);
    expect(pruned.status).toBe(0);
    expect(await events.next('removed')).toEqual({ days: [{ camera: 'front', day: serverDay(oldest[0]!.time) }] });
    expect((await api(`/frames/${oldest[0]!.name}`)).status).toBe(404);
    events.close();
  });
});
