import { describe, expect, it } from 'vitest';
import { DayIndex } from '../packages/receiver/src/gallery/day-index.ts';
import type { FrameEntry, FrameIndex } from '../packages/receiver/src/store/store.ts';

/**
 * The gallery's day index against a store whose reads answer only when the test says: the
 * watcher's reports that come while a read is on its way (the NATS store's reads take a round
 * trip) must not be lost. TZ is UTC in the tests, so local days are UTC dates.
 */

const frame = (iso: string, id: string): FrameEntry => ({ camera: 'garden', time: new Date(iso), id, name: `garden/${iso.slice(0, 10)}/${id}.jpg` });
const old = frame('2026-11-21T10:00:00.000Z', 'old');
const late = frame('2026-11-22T10:00:00.000Z', 'late');

/** A store with one frame on 2026-11-21, whose days() and frames() wait for release(). */
function slowStore() {
  const answer = { days: ['2026-11-21'] };
  const waiting: (() => void)[] = [];
  const later = <T>(value: () => T) => new Promise<T>((resolve) => waiting.push(() => resolve(value())));
  const store = {
    cameras: async () => ['garden'],
    days: () => later(() => answer.days),
    frames: () => later(() => [old]),
  } as unknown as FrameIndex;
  return { store, answer, release: () => waiting.splice(0).forEach((go) => go()) };
}

describe('the gallery day index, while the store is being read', () => {
  it('keeps a day the watcher reports during the read of the days', async () => {
    const { store, release } = slowStore();
    const index = new DayIndex(store);
    const reading = index.daysOf('garden');
    index.add([late]);
    release();
    expect(await reading).toEqual(['2026-11-21', '2026-11-22']);
    expect(await index.daysOf('garden')).toEqual(['2026-11-21', '2026-11-22']);
  });

  it('keeps a frame the watcher reports during the read of its day, and drops one removed meanwhile', async () => {
    const { store, release } = slowStore();
    const index = new DayIndex(store);
    const added = frame('2026-11-21T11:00:00.000Z', 'added');
    const reading = index.listing('garden', '2026-11-21');
    index.add([added]);
    index.remove([old]);
    release();
    expect((await reading).frames.map((f) => f.id)).toEqual(['added']);
    expect((await index.listing('garden', '2026-11-21')).frames.map((f) => f.id)).toEqual(['added']);
  });

  it('reads the days again when a frame went away during the read (its day may be empty now)', async () => {
    const { store, answer, release } = slowStore();
    const index = new DayIndex(store);
    const reading = index.daysOf('garden');
    index.remove([old]);
    release();
    expect(await reading).toEqual(['2026-11-21']);
    answer.days = [];
    const again = index.daysOf('garden');
    release();
    expect(await again).toEqual([]);
  });
});
