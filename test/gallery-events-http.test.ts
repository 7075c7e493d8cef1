import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, openEvents, startGallery, type RunningGallery } from './helpers/gallery.ts';
import { JPEGS, storeFrame } from './helpers/notify.ts';
import { tempDir } from './helpers/receiver.ts';
import { ensureBuilt } from './helpers/review-cli.ts';

/**
 * The gallery's events API over a store written the way the receiver writes it (storeFrame:
 * index line, then the JPEG). Times are in 2025, long before any `now` these tests run at, so
 * every listed event is over; the gallery's zone is Berlin (startGallery).
 */

const T0 = Date.parse('2025-06-14T21:59:30.000Z'); // 23:59:30 in Berlin, the evening before the next local day
const at = (s: number) => new Date(T0 + s * 1000);

beforeAll(() => ensureBuilt());

describe('serve: events API', () => {
  const tmp = tempDir('gallery-events-');
  const n: Record<string, string> = {};
  let gallery: RunningGallery;
  const api = (path: string) => get(gallery.port, path);

  beforeAll(async () => {
    // front: an event across local midnight (0..40 s), heartbeats after it that neither extend
    // it nor start one, and a second event at 120 s; back: one raw frame at 50 s.
    n.f0 = storeFrame(tmp.path, 'front', at(0), JPEGS[0]!, 'first', 1);
    n.f1 = storeFrame(tmp.path, 'front', at(10), JPEGS[0]!, 'motion', 0.2);
    n.f2 = storeFrame(tmp.path, 'front', at(25), JPEGS[0]!, 'motion', 0.6);
    n.h = storeFrame(tmp.path, 'front', at(30), JPEGS[0]!, 'heartbeat');
    n.f3 = storeFrame(tmp.path, 'front', at(40), JPEGS[0]!, 'motion', 0.1);
    for (const s of [60, 80, 100]) storeFrame(tmp.path, 'front', at(s), JPEGS[0]!, 'heartbeat');
    n.f4 = storeFrame(tmp.path, 'front', at(120), JPEGS[0]!, 'motion', 0.3);
    n.b0 = storeFrame(tmp.path, 'back', at(50), JPEGS[0]!);
    gallery = await startGallery(tmp.path);
  });
  afterAll(async () => {
    await gallery?.stop();
    tmp.remove();
  });

  it('lists the events that start on a local day, whole, with cover and end (default gap 30 s)', async () => {
    const r = await api('/api/events?day=2025-06-14');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({
      camera: null,
      day: '2025-06-14',
      from: '2025-06-13T22:00:00.000Z',
      to: '2025-06-14T22:00:00.000Z',
      gapMs: 30_000,
      events: [
        {
          id: 'front-20250614T215930.000Z',
          camera: 'front',
          start: at(0).toISOString(),
          last: at(40).toISOString(),
          end: at(70).toISOString(),
          open: false,
          frames: 4,
          cover: n.f2,
          score: 0.6,
        },
      ],
    });
  });

  it('lists all cameras oldest first, or one camera', async () => {
    const all = (await api('/api/events?day=2025-06-15')).json();
    expect(all.events.map((e: { id: string; cover: string }) => [e.id, e.cover])).toEqual([
      ['back-20250614T220020.000Z', n.b0],
      ['front-20250614T220130.000Z', n.f4],
    ]);
    const front = (await api('/api/events?day=2025-06-15&camera=front')).json();
    expect(front.camera).toBe('front');
    expect(front.events.map((e: { id: string }) => e.id)).toEqual(['front-20250614T220130.000Z']);
    expect((await api('/api/events?day=2025-06-16')).json().events).toEqual([]);
  });

  it('gives an event with its frames in order, heartbeats left out', async () => {
    const r = await api('/api/event?id=front-20250614T215930.000Z');
    expect(r.status).toBe(200);
    const body = r.json();
    expect(body.event.frames).toBe(4);
    expect(body.frames.map((f: { name: string }) => f.name)).toEqual([n.f0, n.f1, n.f2, n.f3]);
    expect(body.frames[0].time).toBe(at(0).toISOString());
  });

  it.each([
    ['/api/events', 400, 'usage', /day is required/],
    ['/api/events?day=soon', 400, 'usage', /"soon" is not valid/],
    ['/api/events?day=2025-06-14&camera=..%2Fetc', 400, 'usage', /camera/],
    ['/api/events?day=2025-06-14&camera=side', 404, 'not-found', /no camera "side"/],
    ['/api/event', 400, 'usage', /id is required/],
    ['/api/event?id=front-yesterday', 400, 'usage', /not an event id/],
    ['/api/event?id=side-20250614T215930.000Z', 404, 'not-found', /no camera "side"/],
    // A frame in the middle of an event is not the start of one.
    ['/api/event?id=front-20250614T215940.000Z', 404, 'not-found', /no event front-20250614T215940.000Z/],
  ])('%s: %i %s', async (path, status, code, message) => {
    const r = await api(path);
    expect(r.status).toBe(status);
    expect(r.json()).toEqual({ error: code, message: expect.stringMatching(message) });
  });
});

describe('serve: events as they happen (--event-gap 1s)', () => {
  const tmp = tempDir('gallery-live-events-');
  let gallery: RunningGallery;

  beforeAll(async () => {
    storeFrame(tmp.path, 'front', at(0), JPEGS[0]!, 'motion', 0.5);
    gallery = await startGallery(tmp.path, ['--event-gap', '1s']);
  });
  afterAll(async () => {
    await gallery?.stop();
    tmp.remove();
  });

  it('says when an event starts, grows and ends, and lists it the same', async () => {
    const feed = await openEvents(gallery.port);
    // A backlog long after the fact still groups by capture time: one event, not two.
    const a = storeFrame(tmp.path, 'yard', at(600), JPEGS[0]!, 'motion', 0.2);
    const b = storeFrame(tmp.path, 'yard', at(600.5), JPEGS[1]!, 'motion', 0.9);
    const hb = storeFrame(tmp.path, 'yard', at(600.7), JPEGS[1]!, 'heartbeat');
    const id = 'yard-20250614T220930.000Z';
    const started = await feed.next('event');
    expect(started).toMatchObject({ change: 'start', id, camera: 'yard', day: '2025-06-15', frames: 1, open: true, cover: a });
    const grown = await feed.next('event');
    expect(grown).toMatchObject({ change: 'grow', id, frames: 2, cover: b });
    const ended = await feed.next('event');
    expect(ended).toMatchObject({ change: 'end', id, frames: 2, open: false, cover: b, end: new Date(at(600.5).getTime() + 1000).toISOString() });
    feed.close();
    const listed = (await get(gallery.port, '/api/events?day=2025-06-15&camera=yard')).json().events;
    const { change: _change, day: _day, ...event } = ended;
    expect(listed).toEqual([event]);
    const played = (await get(gallery.port, `/api/event?id=${id}`)).json();
    expect(played.frames.map((f: { name: string }) => f.name)).toEqual([a, b]);
    expect(played.frames.map((f: { name: string }) => f.name)).not.toContain(hb);
  });
});
