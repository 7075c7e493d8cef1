import { describe, expect, it } from 'vitest';
import { eventId, EventGrouper, eventJson, groupEvents, parseEventId, type EventFrame } from '../packages/receiver/src/store/events.ts';

const GAP = 30_000;
let n = 0;
const at = (iso: string, reason?: EventFrame['reason'], score?: number): EventFrame => ({ time: new Date(iso), id: `f${n++}`, name: `cam/${iso}`, reason, score });

describe('events folded from frames', () => {
  it('one event across midnight; the next after the gap; end = last + gap; the last is open at now', () => {
    const frames = [
      at('2026-11-21T23:59:50.000Z', 'motion', 0.1),
      at('2026-11-22T00:00:10.000Z', 'motion', 0.3),
      at('2026-11-22T00:00:20.000Z', 'motion', 0.2),
      at('2026-11-22T00:00:50.000Z', 'motion', 0.1), // exactly the gap after the last: a new event
    ];
    const events = groupEvents('cam', frames, GAP, new Date('2026-11-22T00:01:00.000Z'));
    expect(events.map(eventJson)).toEqual([
      { id: 'cam-20261121T235950.000Z', camera: 'cam', start: '2026-11-21T23:59:50.000Z', last: '2026-11-22T00:00:20.000Z', end: '2026-11-22T00:00:50.000Z', open: false, frames: 3, cover: 'cam/2026-11-22T00:00:10.000Z', score: 0.3 },
      { id: 'cam-20261122T000050.000Z', camera: 'cam', start: '2026-11-22T00:00:50.000Z', last: '2026-11-22T00:00:50.000Z', end: null, open: true, frames: 1, cover: 'cam/2026-11-22T00:00:50.000Z', score: 0.1 },
    ]);
    // The same frames in any order fold the same; later, the last event is over.
    const later = groupEvents('cam', [...frames].reverse(), GAP, new Date('2026-11-22T00:01:20.000Z'));
    expect(later.map((e) => [e.id, e.end?.toISOString()])).toEqual([
      ['cam-20261121T235950.000Z', '2026-11-22T00:00:50.000Z'],
      ['cam-20261122T000050.000Z', '2026-11-22T00:01:20.000Z'],
    ]);
  });

  it('heartbeats interleaved neither start, extend nor join an event; raw frames (no reason) count as motion', () => {
    const frames = [
      at('2026-11-21T10:00:00.000Z', 'heartbeat', 0),
      at('2026-11-21T10:00:05.000Z'), // raw: motion
      at('2026-11-21T10:00:20.000Z', 'heartbeat', 0.9),
      at('2026-11-21T10:00:45.000Z', 'heartbeat', 0.9), // would extend it if heartbeats counted
      at('2026-11-21T10:01:00.000Z', 'heartbeat', 0),
      at('2026-11-21T10:05:00.000Z', 'heartbeat', 0),
    ];
    const events = groupEvents('cam', frames, GAP, new Date('2026-11-21T11:00:00.000Z'));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ frames: 1, start: new Date('2026-11-21T10:00:05.000Z'), end: new Date('2026-11-21T10:00:35.000Z') });
    expect(events[0]!.cover.name).toBe('cam/2026-11-21T10:00:05.000Z');
    expect(groupEvents('cam', frames.filter((f) => f.reason === 'heartbeat'), GAP, new Date())).toEqual([]);
  });

  it("the cover is the largest score, not the 'first' frame's (it had nothing to compare with); the first frame without scores", () => {
    const [a, b, c] = [at('2026-11-21T10:00:00.000Z', 'first', 1), at('2026-11-21T10:00:01.000Z', 'motion', 0.2), at('2026-11-21T10:00:02.000Z', 'motion', 0.05)];
    expect(groupEvents('cam', [a, b, c], GAP, new Date(0))[0]!.cover).toBe(b);
    const [d, e] = [at('2026-11-21T12:00:00.000Z'), at('2026-11-21T12:00:01.000Z')];
    expect(groupEvents('cam', [e, d], GAP, new Date(0))[0]!.cover).toBe(d);
  });

  it('the grouper reports start, extension with a better cover, and the end at the gap, as the notifier sees them', () => {
    const g = new EventGrouper('cam', GAP);
    const first = g.add(at('2026-11-21T10:00:00.000Z', 'motion', 0.1));
    expect(first.started?.id).toBe('cam-20261121T100000.000Z');
    expect(g.add(at('2026-11-21T10:00:10.000Z', 'motion', 0.5))).toMatchObject({ coverChanged: true });
    expect(g.add(at('2026-11-21T10:00:15.000Z', 'motion', 0.2))).toMatchObject({ coverChanged: false });
    expect(g.add(at('2026-11-21T10:00:30.000Z', 'heartbeat'))).toEqual({});
    expect(g.endsAt?.toISOString()).toBe('2026-11-21T10:00:45.000Z');
    expect(g.expire(new Date('2026-11-21T10:00:44.999Z'))).toBeUndefined();
    expect(g.expire(new Date('2026-11-21T10:00:45.000Z'))).toMatchObject({ frames: 3, end: new Date('2026-11-21T10:00:45.000Z') });
    expect(g.current).toBeUndefined();
  });

  it('event ids are stable and read back; anything else is refused', () => {
    const start = new Date('2026-11-21T05:53:00.123Z');
    expect(eventId('front-door.2', start)).toBe('front-door.2-20261121T055300.123Z');
    expect(parseEventId('front-door.2-20261121T055300.123Z')).toEqual({ camera: 'front-door.2', start });
    for (const bad of ['', 'x', '-20261121T055300.123Z', 'a-20261131T055300.123Z', 'a/b-20261121T055300.123Z', 'a_20261121T055300.123Z', '../a-20261121T055300.123Z']) {
      expect(parseEventId(bad), bad).toBeUndefined();
    }
  });
});
