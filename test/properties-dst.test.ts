import fc from 'fast-check';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { frameName } from '../packages/receiver/src/store/frame-name.ts';
import { listDays, localMidnightsIn } from '../packages/receiver/src/store/file-index.ts';
import { formatLocal, localDate, localDay, parseLocalTime } from '../packages/receiver/src/review/time-range.ts';
import { offsetAt, wall } from './helpers/intl-zone.ts';
import { storeTempDir } from './helpers/store-fixture.ts';

// Property tests of local days where the clocks change. The code under test uses the process
// time zone (TZ), set here for each zone before any of it runs and put back after; the oracle
// is Intl with the zone named explicitly, which knows nothing of the code under test.

const HOUR = 3_600_000;
const ZONES = [
  { zone: 'Europe/Berlin', lengths: [23, 24, 25] },
  { zone: 'America/New_York', lengths: [23, 24, 25] },
  // Half an hour of daylight saving: days of 23.5 and 24.5 hours.
  { zone: 'Australia/Lord_Howe', lengths: [23.5, 24, 24.5] },
];

const savedTz = process.env.TZ;
afterEach(() => {
  process.env.TZ = savedTz;
});
const dir = storeTempDir('dst-properties-');
afterAll(() => dir.remove());

const DAY_MS = 86_400_000;
const FIRST = Date.UTC(1990, 0, 1);
const LAST = Date.UTC(2037, 11, 31);
const isoDate = (utcMidnight: number) => new Date(utcMidnight).toISOString().slice(0, 10);

/** The dates on which the zone's offset changes (by Intl), so that runs meet them often. */
function changeDays(zone: string): string[] {
  const out: string[] = [];
  for (let t = FIRST; t < LAST; t += DAY_MS) {
    if (offsetAt(zone, t + 12 * HOUR) !== offsetAt(zone, t + DAY_MS + 12 * HOUR)) out.push(isoDate(t + DAY_MS));
  }
  return out;
}

describe.each(ZONES)('in $zone', ({ zone, lengths }) => {
  const changes = changeDays(zone);
  /** Any date from 1990 to 2037, half of the time one on which the clocks change. */
  const date = fc.oneof(fc.integer({ min: 0, max: (LAST - FIRST) / DAY_MS }).map((n) => isoDate(FIRST + n * DAY_MS)), fc.constantFrom(...changes));
  const instant = fc.oneof(
    fc.integer({ min: FIRST, max: LAST }),
    // Within a day of a change, where the mistakes are.
    fc.tuple(fc.constantFrom(...changes), fc.integer({ min: -DAY_MS, max: 2 * DAY_MS })).map(([d, off]) => Date.parse(`${d}T00:00:00Z`) + off),
    // A local midnight itself, by Intl (the clocks of these zones never change at midnight).
    date.map((d) => {
      const utc = Date.parse(`${d}T00:00:00Z`);
      return utc - offsetAt(zone, utc - offsetAt(zone, utc));
    }),
  );

  it('knows of the changes and of local midnights (the oracle works)', () => {
    expect(changes.length).toBeGreaterThanOrEqual(2 * 46); // two a year from 1990 to 2037
    fc.assert(
      fc.property(date, (d) => {
        const utc = Date.parse(`${d}T00:00:00Z`);
        expect(wall(zone, utc - offsetAt(zone, utc - offsetAt(zone, utc)))).toBe(`${d} 00:00:00.000`);
      }),
    );
  });

  it(`makes a local day ${lengths.join(', ')} hours long, from local midnight to the next, and days tile time`, () => {
    process.env.TZ = zone;
    fc.assert(
      fc.property(date, (day) => {
        const { from, to } = localDay(day);
        expect(wall(zone, from.getTime())).toBe(`${day} 00:00:00.000`);
        expect(wall(zone, to.getTime() - 1).slice(0, 10)).toBe(day);
        expect(lengths).toContain((to.getTime() - from.getTime()) / HOUR);
        // Its length is exactly what the offsets say.
        expect(to.getTime() - from.getTime()).toBe(DAY_MS - (offsetAt(zone, to.getTime()) - offsetAt(zone, from.getTime())));
        // The next day starts where this one ends: no gap, no overlap.
        const next = localDay(isoDate(Date.parse(`${day}T00:00:00Z`) + DAY_MS));
        expect(next.from.getTime()).toBe(to.getTime());
        expect(localDate(from)).toBe(day);
        expect(localDate(new Date(to.getTime() - 1))).toBe(day);
      }),
      { numRuns: 150 },
    );
  });

  it('finds exactly the local midnights inside any span', () => {
    process.env.TZ = zone;
    fc.assert(
      fc.property(instant, fc.integer({ min: 1, max: 3 * DAY_MS }), (from, span) => {
        const to = from + span;
        const midnights = localMidnightsIn(from, to);
        for (const t of midnights) {
          expect(t).toBeGreaterThan(from);
          expect(t).toBeLessThan(to);
          expect(wall(zone, t).slice(11)).toBe('00:00:00.000');
        }
        expect([...midnights].sort((a, b) => a - b)).toEqual(midnights);
        // As many as the local dates the span [from, to) touches, less the first.
        const dates = new Set<string>();
        for (let t = from; t < to; t += HOUR / 2) dates.add(wall(zone, t).slice(0, 10));
        dates.add(wall(zone, to - 1).slice(0, 10));
        expect(midnights).toHaveLength(dates.size - 1);
      }),
      { numRuns: 150 },
    );
  });

  it('formats an instant as Intl does, and reads the wall time back to it (the first one, when it repeats)', () => {
    process.env.TZ = zone;
    fc.assert(
      fc.property(instant, (t) => {
        const local = formatLocal(new Date(t));
        expect(local.slice(0, 23)).toBe(wall(zone, t));
        const offset = offsetAt(zone, t) / 60_000;
        expect(local.slice(23)).toBe(`${offset < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}:${String(Math.abs(offset) % 60).padStart(2, '0')}`);
        const back = parseLocalTime(local.slice(0, 23), 'from').getTime();
        expect(wall(zone, back)).toBe(wall(zone, t));
        expect(back).toBeLessThanOrEqual(t);
        // Earlier only by the hour (or half hour) that repeats, and then the earlier one is in summer time.
        if (back !== t) expect(t - back).toBe(offsetAt(zone, back) - offsetAt(zone, t));
      }),
      { numRuns: 300 },
    );
  });

  it('lists exactly the local dates a store has frames on', () => {
    fc.assert(
      fc.property(fc.array(instant, { minLength: 1, maxLength: 12 }), fc.nat(), (times, run) => {
        const root = join(dir.path, `${zone.replace('/', '-')}-${run}-${Math.random().toString(36).slice(2)}`);
        times.forEach((t, i) => {
          const path = join(root, frameName('cam', new Date(t), `f${i}`));
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, '');
        });
        process.env.TZ = zone;
        expect(listDays(root, 'cam')).toEqual([...new Set(times.map((t) => wall(zone, t).slice(0, 10)))].sort());
      }),
      { numRuns: 40 },
    );
  });
});
