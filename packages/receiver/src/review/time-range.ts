import { SurveillanceError, type Spec, type Values } from '@surveillance/shared';
import { localDate } from '../store/local-date.ts';

/**
 * Times as a person reads and types them: local time of the process's time zone (TZ), while
 * frame names stay in UTC. A range is [from, to): `--from 2026-03-29 --to 2026-03-30` is
 * exactly that local day, 23 hours long when the clocks go forward and 25 when they go back.
 */

/** Range options of the review commands: one-off queries, so flags only, never environment. */
export const rangeSpec = {
  since: { kind: 'duration', description: 'frames of the last DURATION (e.g. 30m, 2h, 7d)', flagOnly: true },
  from: { kind: 'string', description: 'first local date or time, inclusive: 2026-11-21 or "2026-11-21 08:00"', flagOnly: true },
  to: { kind: 'string', description: 'local date or time to stop before (exclusive)', flagOnly: true },
  day: { kind: 'string', description: 'one whole local day: 2026-11-21, today or yesterday', flagOnly: true },
} as const satisfies Spec;

export interface TimeRange {
  from?: Date;
  to?: Date;
}

const LOCAL_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?$/;

function usage(message: string): SurveillanceError {
  return new SurveillanceError('usage', message);
}

/**
 * A local time from its fields. Not `new Date(y, ...)`, which takes years 0-99 for 1900-1999:
 * `--from 0050-01-01` would quietly mean 1950.
 */
function localTime(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): Date {
  const time = new Date(2000, 0, 1);
  time.setFullYear(y, mo, d);
  time.setHours(h, mi, s, ms);
  return time;
}

/** Local midnight starting the local date `days` after the one of `time`. */
function localMidnight(time: Date, days = 0): Date {
  return localTime(time.getFullYear(), time.getMonth(), time.getDate() + days);
}

/**
 * Reads a local date or date-time. A time that does not exist (skipped when the clocks go
 * forward) is taken as the same wall time after the change, as the platform's Date does; a
 * repeated one (clocks go back) as its first occurrence.
 */
export function parseLocalTime(text: string, option: string, now = new Date()): Date {
  const word = text.trim().toLowerCase();
  if (word === 'today') return localMidnight(now);
  if (word === 'yesterday') return localMidnight(now, -1);
  if (word === 'now') return now;
  const m = LOCAL_RE.exec(text.trim());
  const bad = (why: string) => usage(`option ${option}: ${JSON.stringify(text)} is not valid: ${why}`);
  if (!m) throw bad('expected a local date or time such as 2026-11-21, "2026-11-21 08:00" or "2026-11-21 08:00:30"');
  const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1, 7).map((v) => (v === undefined ? undefined : Number(v)));
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  // Date rolls 2026-02-30 over to March 2nd: a typo must not silently become another day.
  const noon = localTime(y!, mo! - 1, d!, 12);
  if (noon.getMonth() !== mo! - 1 || noon.getDate() !== d) throw bad('no such date');
  if (h > 23 || mi > 59 || s > 59) throw bad('no such time');
  return localTime(y!, mo! - 1, d!, h, mi, s, ms);
}

/** The whole local day named by `text` (yyyy-MM-dd, today, yesterday). */
export function localDay(text: string, option = 'day', now = new Date()): Required<TimeRange> {
  if (!/^(\d{4}-\d{2}-\d{2}|today|yesterday)$/i.test(text.trim())) {
    throw usage(`option ${option}: ${JSON.stringify(text)} is not valid: expected a local date such as 2026-11-21, today or yesterday`);
  }
  const from = parseLocalTime(text, option, now);
  return { from, to: localMidnight(from, 1) };
}

/** The range the options ask for; no option means all time. */
export function resolveRange(values: Values<typeof rangeSpec>, now = new Date()): TimeRange {
  const { since, from, to, day } = values;
  const given = [since !== undefined && '--since', from !== undefined && '--from', day !== undefined && '--day'].filter(Boolean);
  if (given.length > 1) throw usage(`options ${given.join(' and ')} cannot be combined: choose one way to give the start`);
  if (day !== undefined) {
    if (to !== undefined) throw usage('options --day and --to cannot be combined: --day is a whole local day');
    return localDay(day, 'day', now);
  }
  const range: TimeRange = {
    from: since !== undefined ? new Date(now.getTime() - since) : from !== undefined ? parseLocalTime(from, 'from', now) : undefined,
    to: to !== undefined ? parseLocalTime(to, 'to', now) : undefined,
  };
  if (range.from && range.to && range.from.getTime() >= range.to.getTime()) {
    throw usage(`empty range: --to ${formatLocal(range.to)} is not after the start ${formatLocal(range.from)}`);
  }
  return range;
}

const p2 = (n: number) => String(n).padStart(2, '0');

export { localDate };

/** Local date, hours and minutes, `2026-10-25 02:30`; `separator` between date and clock. */
export function localMinute(time: Date, separator = ' '): string {
  return `${localDate(time)}${separator}${p2(time.getHours())}:${p2(time.getMinutes())}`;
}

/** The UTC offset in force at `time`, `+02:00`. */
export function localOffset(time: Date): string {
  const off = -time.getTimezoneOffset();
  const abs = Math.abs(off);
  return `${off < 0 ? '-' : '+'}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`;
}

/**
 * Local time with milliseconds and UTC offset, `2026-10-25 02:30:00.000+02:00`: the offset
 * tells the two 02:30s apart on the night the clocks go back. Listings format many instants
 * with ListingTimes (listing-times.ts), which gives the same text.
 */
export function formatLocal(time: Date, withMs = true): string {
  const ms = withMs ? `.${String(time.getMilliseconds()).padStart(3, '0')}` : '';
  return `${localMinute(time)}:${p2(time.getSeconds())}${ms}${localOffset(time)}`;
}

/** ISO 8601 with the local offset, for JSON next to the UTC `time`. */
export function isoLocal(time: Date): string {
  return formatLocal(time).replace(' ', 'T');
}
