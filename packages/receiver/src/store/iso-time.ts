/**
 * Date.prototype.toISOString for the frame path: the same string, for less. A listener names
 * every frame and its index file from its capture time, and toISOString formats through
 * V8's printf each time (callgrind, scripts/bench/10-receiver.mjs: a visible part of the CPU
 * per frame). Frames of a connection come from one day, so the date part is formatted once per
 * UTC day (by toISOString itself) and kept; the time of day is plain arithmetic. Listings
 * (review/listing-times.ts) format their UTC times here too.
 */

const DAY_MS = 86_400_000;
/** Years 0000-9999 only: beyond them toISOString writes six-digit years (+010000-...). */
const FIRST_MS = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
const END_MS = 253_402_300_800_000; // 10000-01-01T00:00:00.000Z

let cachedDay = Number.NaN;
let cachedDate = '';

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

/** `time.toISOString()`, and its RangeError for an invalid date. */
export const isoTime = (time: Date): string => isoTimeAt(time.getTime());

/** `new Date(ms).toISOString()`: the same, from milliseconds since the epoch (a listing's). */
export function isoTimeAt(ms: number): string {
  if (!(ms >= FIRST_MS && ms < END_MS)) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  if (day !== cachedDay) {
    cachedDate = new Date(day * DAY_MS).toISOString().slice(0, 10);
    cachedDay = day;
  }
  let rest = ms - day * DAY_MS;
  const milli = rest % 1000;
  rest = (rest - milli) / 1000;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  const hour = (rest - minute) / 60;
  return `${cachedDate}T${pad2(hour)}:${pad2(minute)}:${pad2(second)}.${pad3(milli)}Z`;
}
