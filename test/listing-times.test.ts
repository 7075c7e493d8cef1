import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ListingTimes } from '../packages/receiver/src/review/listing-times.ts';
import { formatLocal, isoLocal } from '../packages/receiver/src/review/time-range.ts';
import { offsetAt, wall } from './helpers/intl-zone.ts';

// ListingTimes formats a listing's times once per minute; it must give exactly what
// toISOString, formatLocal and isoLocal give for each instant, in every zone, most of all in
// the minutes where the clocks change. The process time zone (TZ) is set per zone and put back.

const MINUTE = 60_000;
const HOUR = 3_600_000;
const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Europe/Dublin', // "winter time" is the daylight-saving exception there: a negative DST
  'Asia/Kolkata', // +05:30, and +06:30 in the war years
  'Asia/Kathmandu', // +05:45
  'Australia/Lord_Howe', // half an hour of daylight saving
  'Pacific/Chatham', // +12:45 and +13:45
  'America/St_Johns', // -03:30 and -02:30
  'Pacific/Apia', // skipped 30 December 2011 whole
  'Africa/Casablanca', // daylight saving suspended for Ramadan
  'Antarctica/Troll', // two hours of daylight saving
  'America/Goose_Bay', // changed at 00:01 local until 2011: a minute into a UTC hour
];
/** Spans searched for changes of offset: the war years, 1986, the 2011 date line move, today. */
const SPANS = [
  [Date.UTC(1941, 0, 1), Date.UTC(1946, 0, 1)],
  [Date.UTC(1985, 6, 1), Date.UTC(1986, 6, 1)], // Kathmandu: +05:30 to +05:45
  [Date.UTC(2011, 0, 1), Date.UTC(2012, 6, 1)],
  [Date.UTC(2025, 0, 1), Date.UTC(2027, 0, 1)],
];

const savedTz = process.env.TZ;
afterEach(() => {
  process.env.TZ = savedTz;
});

/** Instants (ms) at which the zone's offset changes in `[from, to)`, by Intl, to the millisecond. */
function changes(zone: string, from: number, to: number): number[] {
  const out: number[] = [];
  const step = 6 * HOUR;
  let before = offsetAt(zone, from);
  for (let t = from; t < to; t += step) {
    const after = offsetAt(zone, t + step);
    if (after === before) continue;
    before = after;
    let lo = t;
    let hi = t + step;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offsetAt(zone, mid) === offsetAt(zone, lo)) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

/** A listing's worth of instants around a change: every edge of a second, a minute and an hour, and a frame every 1.7 s. */
function around(change: number): number[] {
  const times = new Set<number>();
  for (const d of [0, 1, 999, 1000, MINUTE - 1, MINUTE, MINUTE + 1, HOUR - 1, HOUR]) {
    times.add(change + d);
    times.add(change - d);
  }
  for (let t = change - 20 * MINUTE; t < change + 20 * MINUTE; t += 1_700) times.add(t);
  return [...times].sort((a, b) => a - b);
}

function expectSameAsDate(times: ListingTimes, t: number): void {
  const d = new Date(t);
  expect(times.iso(t)).toBe(d.toISOString());
  expect(times.local(t)).toBe(formatLocal(d));
  expect(times.isoLocal(t)).toBe(isoLocal(d));
}

describe.each(ZONES)('in %s', (zone) => {
  const found = SPANS.flatMap(([from, to]) => changes(zone, from!, to!));

  it('gives what Date, formatLocal and isoLocal give around every change of offset, in order and shuffled', () => {
    if (zone !== 'UTC') expect(found.length).toBeGreaterThan(0);
    process.env.TZ = zone;
    // And an ordinary night, which is all UTC has.
    const instants = [...found, Date.UTC(2026, 5, 1)].flatMap(around);
    const inOrder = new ListingTimes();
    for (const t of instants) expectSameAsDate(inOrder, t);
    const shuffled = new ListingTimes();
    fc.assert(fc.property(fc.shuffledSubarray(instants, { minLength: 1, maxLength: 400 }), (ts) => ts.forEach((t) => expectSameAsDate(shuffled, t))), { numRuns: 20 });
  });

  it("gives an hour's heads, which with each frame's UTC minute and seconds are what formatLocal and isoLocal give, only for an hour that has them", () => {
    process.env.TZ = zone;
    const times = new ListingTimes();
    const hours = new Set<number>();
    for (const change of [...found, Date.UTC(2026, 5, 1)]) for (let h = -3; h <= 3; h++) hours.add(Math.floor(change / HOUR) * HOUR + h * HOUR);
    let lined = 0;
    for (const start of [...hours].sort((a, b) => a - b)) {
      const heads = times.heads(start, HOUR);
      const instants = [start, start + HOUR - 1, ...Array.from({ length: 500 }, (_, i) => start + i * 7_199)];
      // Undefined only where some instant of the hour does not follow its UTC minute.
      const follows = instants.every((t) => formatLocal(new Date(t)).slice(14, 16) === new Date(t).toISOString().slice(14, 16) && formatLocal(new Date(t)).slice(-6) === formatLocal(new Date(start)).slice(-6));
      expect(heads !== undefined).toBe(follows);
      if (!heads) continue;
      lined++;
      for (const t of instants) {
        const own = new Date(t).toISOString().slice(14, 23);
        expect(heads.local + own + heads.offset).toBe(formatLocal(new Date(t)));
        expect(heads.isoLocal + own + heads.offset).toBe(isoLocal(new Date(t)));
        expect(`${heads.utc + own}Z`).toBe(new Date(t).toISOString());
      }
    }
    // Zones of whole-hour offsets line most hours; the others line none.
    if (['Asia/Kolkata', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/St_Johns'].includes(zone)) expect(lined).toBe(0);
    else expect(lined).toBeGreaterThan(0);
  });

  it('agrees with Intl on the wall clock and the offset around every change', () => {
    process.env.TZ = zone;
    const times = new ListingTimes();
    for (const t of found.flatMap(around)) {
      const local = times.local(t);
      const offset = offsetAt(zone, t) / MINUTE;
      const abs = Math.abs(offset);
      expect(local).toBe(`${wall(zone, t)}${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`);
    }
  });

  it('gives what Date and formatLocal give for any instant of the years 0000 to 9999, local mean time included', () => {
    process.env.TZ = zone;
    const times = new ListingTimes();
    const anyTime = fc.integer({ min: Date.parse('0000-01-01T00:00:00.000Z'), max: Date.parse('9999-12-31T23:59:59.999Z') });
    fc.assert(fc.property(fc.array(anyTime, { minLength: 1, maxLength: 50 }), (ts) => ts.forEach((t) => expectSameAsDate(times, t))), { numRuns: 100 });
  });
});

it('formats local mean time (offsets with seconds) per instant: Amsterdam before 1937, Berlin before 1893', () => {
  process.env.TZ = 'Europe/Amsterdam';
  const times = new ListingTimes();
  // +00:19:32 until 1 July 1937: the local clock is 32 s off the UTC minute.
  for (let t = Date.UTC(1937, 5, 30, 23, 58); t < Date.UTC(1937, 6, 1, 0, 2); t += 250) expectSameAsDate(times, t);
  expect(times.local(Date.UTC(1937, 0, 1, 12, 0, 0))).toBe(formatLocal(new Date(Date.UTC(1937, 0, 1, 12, 0, 0))));
  process.env.TZ = 'Europe/Berlin';
  const berlin = new ListingTimes();
  for (let t = Date.UTC(1893, 2, 31, 22, 0); t < Date.UTC(1893, 3, 1, 0, 0); t += 999) expectSameAsDate(berlin, t);
});
