// A file of its own so that the zone is set before any date is made (one process per file).
process.env.TZ = 'Europe/Berlin';
import { describe, expect, it } from 'vitest';
import { groupEvents, type EventFrame } from '../packages/receiver/src/store/events.ts';

/** A frame at a LOCAL wall-clock time in Berlin (what the owner's clock showed). */
const local = (y: number, mo: number, d: number, h: number, mi: number, s: number, id: string): EventFrame => ({
  time: new Date(y, mo - 1, d, h, mi, s),
  id,
  name: id,
  reason: 'motion',
});

describe('events across a daylight-saving change (Europe/Berlin)', () => {
  it('spring forward: 01:59:50 and 03:00:05 local are 15 s apart, one event', () => {
    const a = local(2026, 3, 29, 1, 59, 50, 'a');
    const b = local(2026, 3, 29, 3, 0, 5, 'b');
    expect(b.time.getTime() - a.time.getTime()).toBe(15_000); // the zone is in effect
    const events = groupEvents('cam', [a, b], 30_000, new Date(2027, 0, 1));
    expect(events).toHaveLength(1);
    expect(events[0]!.last.getTime() - events[0]!.start.getTime()).toBe(15_000);
  });

  it('fall back: 02:59:50 summer time and 02:00:10 winter time are 20 s apart, one event; the clock running backwards splits nothing', () => {
    const a = { time: new Date('2026-10-25T00:59:50.000Z'), id: 'a', name: 'a', reason: 'motion' as const }; // 02:59:50 CEST
    const b = { time: new Date('2026-10-25T01:00:10.000Z'), id: 'b', name: 'b', reason: 'motion' as const }; // 02:00:10 CET
    expect([a.time.getHours(), b.time.getHours()]).toEqual([2, 2]);
    const events = groupEvents('cam', [b, a], 30_000, new Date(2027, 0, 1));
    expect(events.map((e) => [e.frames, e.start, e.end!.getTime() - e.start.getTime()])).toEqual([[2, a.time, 50_000]]);
    // And an hour of local clock that is really two hours apart is two events.
    const c = { ...a, id: 'c', name: 'c', time: new Date('2026-10-25T00:30:00.000Z') }; // 02:30 CEST
    const d = { ...a, id: 'd', name: 'd', time: new Date('2026-10-25T01:30:00.000Z') }; // 02:30 CET
    expect(groupEvents('cam', [c, d], 30_000, new Date(2027, 0, 1))).toHaveLength(2);
  });
});
