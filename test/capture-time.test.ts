import { describe, expect, it } from 'vitest';
import { checkCaptureTime, DEFAULT_CAPTURE_WINDOW, parseHeader } from '@surveillance/shared';
import { frameName, parseFrameName } from '../packages/receiver/src/store/frame-name.ts';
import { formatLocal, localDate, parseLocalTime } from '../packages/receiver/src/review/time-range.ts';

const now = new Date('2026-11-21T05:53:00.000Z');
const at = (iso: string) => new Date(iso);
const header = (time: string) => parseHeader(`SVF1 camera=front id=f1 time=${time} length=100`).time;

describe('capture times outside the window around the receiver clock are refused', () => {
  const cases: Array<[string, Date, string | undefined]> = [
    ['now', now, undefined],
    ['10 minutes ahead (clock skew)', at('2026-11-21T06:03:00.000Z'), undefined],
    [
      '10 minutes and 1 ms ahead',
      at('2026-11-21T06:03:00.001Z'),
      "capture time 2026-11-21T06:03:00.001Z is 10 min ahead of the receiver's clock (2026-11-21T05:53:00.000Z); more than 10 min (--max-clock-skew) is refused",
    ],
    [
      'the year 9999, which would stay the latest frame for ever',
      header('9999-12-31T23:59:59.999Z'),
      "capture time 9999-12-31T23:59:59.999Z is 2912118 days ahead of the receiver's clock (2026-11-21T05:53:00.000Z); more than 10 min (--max-clock-skew) is refused",
    ],
    ['400 days back (a spool offline for a year)', at('2025-10-17T05:53:00.000Z'), undefined],
    [
      '400 days and 1 ms back',
      at('2025-10-17T05:52:59.999Z'),
      "capture time 2025-10-17T05:52:59.999Z is 400 days behind the receiver's clock (2026-11-21T05:53:00.000Z); more than 400 days (--max-frame-age) is refused",
    ],
    ['the year 0050 (Date.UTC would read 1950)', header('0050-06-01T00:00:00Z'), 'capture time 0050-06-01T00:00:00.000Z is before 1970'],
    ['the year 0000', header('0000-01-01T00:00:00Z'), 'capture time 0000-01-01T00:00:00.000Z is before 1970'],
  ];
  it.each(cases)('%s', (_name, time, problem) => {
    expect(checkCaptureTime(time, now)).toBe(problem);
  });

  it('takes its window from the caller, and never believes a time before 1970 whatever the window', () => {
    const wide = { maxAheadMs: 0, maxAgeMs: 1e15 };
    expect(checkCaptureTime(at('1970-01-01T00:00:00.000Z'), now, wide)).toBeUndefined();
    expect(checkCaptureTime(at('1969-12-31T23:59:59.999Z'), now, wide)).toBe('capture time 1969-12-31T23:59:59.999Z is before 1970');
    expect(checkCaptureTime(at('2026-11-21T05:53:01.000Z'), now, wide)).toMatch(/is 1 s ahead/);
    expect(DEFAULT_CAPTURE_WINDOW).toEqual({ maxAheadMs: 600_000, maxAgeMs: 400 * 86_400_000 });
  });
});

describe('years 0000-0099 are never read as 1900-1999', () => {
  it('a frame name of the year 0050 reads back as 0050, not 1950', () => {
    const time = header('0050-06-01T12:00:00.000Z');
    const name = frameName('front', time, 'f1');
    expect(name).toBe('front/0050-06-01/00500601T120000.000Z_f1.jpg');
    expect(parseFrameName(name)?.time.toISOString()).toBe('0050-06-01T12:00:00.000Z');
  });

  it.each([
    ['month 13', 'front/2026-13-01/20261301T000000.000Z_f1.jpg'],
    ['hour 24', 'front/2026-11-21/20261121T240000.000Z_f1.jpg'],
    ['February 30th', 'front/2026-02-30/20260230T000000.000Z_f1.jpg'],
  ])('a name with %s is not a frame (not rolled over into the next day)', (_what, name) => {
    expect(parseFrameName(name)).toBeUndefined();
  });

  it('a review range of the year 0050 means 0050', () => {
    const from = parseLocalTime('0050-06-01 08:00', 'from', now);
    expect(from.getFullYear()).toBe(50);
    expect(localDate(from)).toBe('0050-06-01');
    expect(formatLocal(from, false).slice(0, 16)).toBe('0050-06-01 08:00');
    expect(parseLocalTime('0099-12-31', 'day', now).getFullYear()).toBe(99);
  });
});
