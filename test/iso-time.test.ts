import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoTime } from '../packages/receiver/src/store/iso-time.ts';

// isoTime is toISOString without its printf: the same string for every date, whatever the
// day it last cached, and the same RangeError for an invalid one.

const FIRST = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
const END = 253_402_300_800_000; // 10000-01-01T00:00:00.000Z
const MAX = 8.64e15; // the last valid Date

describe('isoTime', () => {
  it('is toISOString for any valid date, in any order (the day cache)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -MAX, max: MAX }), { minLength: 1, maxLength: 20 }), (times) => {
        for (const ms of times) expect(isoTime(new Date(ms))).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 300 },
    );
  });

  it('is toISOString at the edges of days and of four-digit years', () => {
    for (const ms of [FIRST - 1, FIRST, 0, -1, 86_399_999, 86_400_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999), END - 1, END, MAX, -MAX]) {
      expect(isoTime(new Date(ms))).toBe(new Date(ms).toISOString());
    }
  });

  it('throws RangeError for an invalid date, as toISOString does', () => {
    expect(() => isoTime(new Date(Number.NaN))).toThrow(RangeError);
  });
});
