import { checkCameraName, checkFrameId, FRAME_ID_PATTERN, SurveillanceError } from '@surveillance/shared';
import { isoTime } from './iso-time.ts';

/**
 * Where a frame lives in the store: `CAMERA/<pattern in UTC>_<ID>.jpg`.
 *
 * The pattern is a date-fns format string, always formatted in UTC so that names never
 * collide or run backwards when the clocks change for daylight saving. The frame id suffix
 * makes every name unique (many frames in one millisecond included) and makes a resent frame
 * land on the same name, which is how duplicates are recognised. The review side shows local
 * times; the names stay in UTC.
 *
 * The default pattern is formatted and parsed here without date-fns: the receiver starts once
 * per connection and loading date-fns costs more than everything else it does (see
 * `pnpm bench`). A custom pattern loads date-fns once, with `loadNamePattern`.
 */
export const DEFAULT_NAME_PATTERN = "yyyy-MM-dd/yyyyMMdd'T'HHmmss.SSS'Z'";

type Format = (time: Date) => string;
type Parse = (stamp: string) => Date | undefined;

/** `2026-11-21T05:53:00.123Z` becomes `2026-11-21/20261121T055300.123Z`. */
function formatDefault(time: Date): string {
  const iso = isoTime(time);
  return `${iso.slice(0, 10)}/${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}.${iso.slice(20, 23)}Z`;
}

/** Two-to-four digits at `at`, or NaN. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    v = v * 10 + d;
  }
  return v;
}

/** Days in each month of a common year. */
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** Gregorian dates repeat every 400 years: Date.UTC reads years 0-99 as 1900-1999, so those are shifted by one cycle. */
const CYCLE_MS = 146_097 * 86_400_000;

/** UTC midnight starting the date `yyyyMMdd` at `at`, or NaN for no such date (month 13, 31 April). */
function dateMs(s: string, at: number): number {
  const year = digits(s, at, 4);
  const month = digits(s, at + 4, 2);
  const day = digits(s, at + 6, 2);
  // NaN (a non-digit) fails every comparison below.
  if (!(month >= 1 && month <= 12 && day >= 1 && year >= 0)) return Number.NaN;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > MONTH_DAYS[month - 1]! + (leap ? 1 : 0)) return Number.NaN;
  return year < 100 ? Date.UTC(year + 400, month - 1, day) - CYCLE_MS : Date.UTC(year, month - 1, day);
}

/** Milliseconds into the day of the clock `HHmmss.SSS` at `at`, or NaN for no such time (24:00, 59:60). */
function clockMs(s: string, at: number): number {
  const hour = digits(s, at, 2);
  const minute = digits(s, at + 2, 2);
  const second = digits(s, at + 4, 2);
  const ms = digits(s, at + 7, 3);
  if (!(s[at + 6] === '.' && hour <= 23 && minute <= 59 && second <= 59 && ms >= 0)) return Number.NaN;
  return ((hour * 60 + minute) * 60 + second) * 1000 + ms;
}

/**
 * Reads `2026-11-21/20261121T055300.123Z` back, by position rather than by regular expression:
 * listing a day of 20,000 frames parses 20,000 names, and this was most of that time. Only a
 * name this pattern would make is read: each field is checked against its range (month 13,
 * 31 April or 24:00 would roll over into another day under Date.UTC), which is the same as
 * formatting the time back and comparing, without the string work per frame.
 */
function parseDefault(stamp: string): Date | undefined {
  if (stamp.length !== 31 || stamp[4] !== '-' || stamp[7] !== '-' || stamp[10] !== '/' || stamp[19] !== 'T' || stamp[30] !== 'Z') return undefined;
  // The folder's date must be the name's own date.
  if (stamp.slice(0, 4) !== stamp.slice(11, 15) || stamp.slice(5, 7) !== stamp.slice(15, 17) || stamp.slice(8, 10) !== stamp.slice(17, 19)) return undefined;
  const t = dateMs(stamp, 11) + clockMs(stamp, 20);
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** A file in a day folder of the default pattern: `20260329T000000.000Z_ID.jpg`. */
export const DEFAULT_FILE_RE = new RegExp(`^\\d{8}T\\d{6}\\.\\d{3}Z_${FRAME_ID_PATTERN}\\.jpg$`);
const DAY_FOLDER_RE = /^\d{4}-\d{2}-\d{2}$/;

/** A day folder of the default pattern: its date as names carry it, and the instant it starts. */
export interface DefaultDay {
  /** `yyyyMMdd`. */
  readonly date: string;
  /** UTC midnight, ms. */
  readonly start: number;
}

/** A folder name `yyyy-MM-dd` as a DefaultDay; undefined for any other name, or a date there is not (2026-02-30). */
export function defaultDay(folder: string): DefaultDay | undefined {
  if (!DAY_FOLDER_RE.test(folder)) return undefined;
  const date = `${folder.slice(0, 4)}${folder.slice(5, 7)}${folder.slice(8, 10)}`;
  const start = dateMs(date, 0);
  return Number.isNaN(start) ? undefined : { date, start };
}

/**
 * The capture time of a file in a default-pattern day folder, from its bare name, or NaN when
 * it is not a frame of that folder: the same answer as parseFrameName on its whole name,
 * without building that name, a Date or a slice per field (a folder holds tens of thousands).
 */
export function defaultFileTime(file: string, day: DefaultDay): number {
  if (!DEFAULT_FILE_RE.test(file) || !file.startsWith(day.date)) return Number.NaN;
  return day.start + clockMs(file, 9);
}

/** `HH` of a day: no 24:00. */
const HOUR = '(?:[01]\\d|2[0-3])';

/**
 * The names defaultFileTime takes as frames of the day folder of `date` (yyyyMMdd), in the
 * folder's names joined each after a NUL (`\0NAME\0NAME...`: no file name holds a NUL), for
 * String#replace: a global expression whose groups are the name ($1), its stamp up to the
 * milliseconds ($2), its minute into the hour, `mm` ($3), its seconds into the minute with
 * milliseconds, `SS.mmm` ($4), and its id ($5). The same checks as
 * defaultFileTime's (DEFAULT_FILE_RE, the folder's date, no 24:00 or 59:60), and one more: the
 * name after it must not have the same stamp (frames of one millisecond, which byTime orders by
 * id, not by name). A match takes its NUL and a whole name (the next NUL, or the end, follows
 * it), and a match can only start at a NUL: so every name is replaced exactly when the text
 * that is left holds no NUL, and a name that is not a frame leaves its own.
 */
export function defaultFileLines(date: string): RegExp {
  return new RegExp(`\\0((${date}T${HOUR}([0-5]\\d)([0-5]\\d\\.\\d{3}))Z_(${FRAME_ID_PATTERN})\\.jpg)(?=\\0(?!\\2Z_)|$)`, 'g');
}

const patterns = new Map<string, { format: Format; parse: Parse }>([[DEFAULT_NAME_PATTERN, { format: formatDefault, parse: parseDefault }]]);

function loaded(pattern: string): { format: Format; parse: Parse } {
  const p = patterns.get(pattern);
  if (!p) throw new Error(`name pattern ${JSON.stringify(pattern)} used before loadNamePattern()`);
  return p;
}

const SAFE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;
const SAMPLE = Date.UTC(2026, 10, 21, 5, 53, 0, 123);

/**
 * Makes a pattern usable by frameName and parseFrameName. Throws a `usage` error when the
 * pattern cannot name files safely or cannot be read back to the millisecond.
 */
export async function loadNamePattern(pattern: string): Promise<void> {
  if (patterns.has(pattern)) return;
  const [{ format }, { parse }, { UTCDate }] = await Promise.all([
    import('date-fns/format'),
    import('date-fns/parse'),
    import('@date-fns/utc'),
  ]);
  const bad = (why: string) => new SurveillanceError('usage', `option name-pattern: ${JSON.stringify(pattern)} ${why}`);
  const entry = {
    format: (time: Date) => format(new UTCDate(time.getTime()), pattern),
    parse: (stamp: string) => {
      try {
        const time = parse(stamp, pattern, new UTCDate(0));
        return Number.isNaN(time.getTime()) ? undefined : new Date(time.getTime());
      } catch {
        // date-fns refuses to parse some patterns it can format (e.g. yyyy twice).
        return undefined;
      }
    },
  };
  let sample: string;
  try {
    sample = entry.format(new Date(SAMPLE));
  } catch (e) {
    throw bad(`is not a date-fns format pattern: ${(e as Error).message}`);
  }
  if (!SAFE_NAME_RE.test(sample)) {
    throw bad(`gives ${JSON.stringify(sample)}: a name must be relative, with '/'-separated parts of letters, digits, '.', '_', '-' that do not start with '.'`);
  }
  if (entry.parse(sample)?.getTime() !== SAMPLE) {
    throw bad(`gives ${JSON.stringify(sample)}, which cannot be read back to the millisecond (it needs year, month, day, hours, minutes, seconds and SSS)`);
  }
  patterns.set(pattern, entry);
}

export function frameName(camera: string, time: Date, id: string, pattern = DEFAULT_NAME_PATTERN): string {
  return `${camera}/${loaded(pattern).format(time)}_${id}.jpg`;
}

export interface ParsedName {
  camera: string;
  time: Date;
  id: string;
}

/** Reads a store-relative path back into camera, time and id; undefined for anything else. */
export function parseFrameName(relative: string, pattern = DEFAULT_NAME_PATTERN): ParsedName | undefined {
  const slash = relative.indexOf('/');
  const underscore = relative.lastIndexOf('_');
  if (slash < 1 || underscore < slash || !relative.endsWith('.jpg')) return undefined;
  const id = relative.slice(underscore + 1, -4);
  // Names the receiver did not make (a copy named `..._abc (1).jpg`) are not frames.
  if (checkFrameId(id) !== undefined) return undefined;
  const time = loaded(pattern).parse(relative.slice(slash + 1, underscore));
  if (!time) return undefined;
  return { camera: relative.slice(0, slash), time, id };
}

/**
 * Reads a frame name that arrived from outside (a URL). Only a name the receiver itself could
 * have written is accepted: it must parse, and writing it again from its camera, time and id
 * must give back exactly the same text. What reaches the store is that rewritten name, never
 * the request's text, so `..`, encoded slashes, hidden folders and absolute paths cannot get
 * through. Undefined for anything else.
 */
export function readFrameName(raw: string, pattern: string): (ParsedName & { name: string }) | undefined {
  let text: string;
  try {
    text = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  const parsed = parseFrameName(text, pattern);
  if (!parsed || checkCameraName(parsed.camera) !== undefined) return undefined;
  const name = frameName(parsed.camera, parsed.time, parsed.id, pattern);
  return name === text ? { ...parsed, name } : undefined;
}
