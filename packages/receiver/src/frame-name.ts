import { UTCDate } from '@date-fns/utc';
import { format } from 'date-fns/format';
import { parse } from 'date-fns/parse';

/**
 * Where a frame lives in the store: `CAMERA/<pattern in UTC>_<ID>.jpg`.
 *
 * The pattern is a date-fns format string, always formatted in UTC so that names never
 * collide or run backwards when the clocks change for daylight saving. The frame id suffix
 * makes every name unique (many frames in one millisecond included) and makes a resent frame
 * land on the same name, which is how duplicates are recognised. The review side shows local
 * times; the names stay in UTC.
 */
export const DEFAULT_NAME_PATTERN = "yyyy-MM-dd/yyyyMMdd'T'HHmmss.SSS'Z'";

const SAFE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

export function frameName(camera: string, time: Date, id: string, pattern = DEFAULT_NAME_PATTERN): string {
  return `${camera}/${format(new UTCDate(time.getTime()), pattern)}_${id}.jpg`;
}

/** Returns why a pattern cannot name files safely, or undefined when it can. */
export function checkNamePattern(pattern: string): string | undefined {
  let sample: string;
  try {
    sample = format(new UTCDate(Date.UTC(2026, 10, 21, 5, 53, 0, 123)), pattern);
  } catch (e) {
    return `not a date-fns format pattern: ${(e as Error).message}`;
  }
  if (!SAFE_NAME_RE.test(sample)) {
    return `gives ${JSON.stringify(sample)}: a name must be relative, with '/'-separated parts of letters, digits, '.', '_', '-' that do not start with '.'`;
  }
  if (parseStamp(sample, pattern)?.getTime() !== Date.UTC(2026, 10, 21, 5, 53, 0, 123)) {
    return `gives ${JSON.stringify(sample)}, which cannot be read back to the millisecond (it needs year, month, day, hours, minutes, seconds and SSS)`;
  }
  return undefined;
}

export interface ParsedName {
  camera: string;
  time: Date;
  id: string;
}

const DEFAULT_RE = /^(\d{4})-(\d{2})-(\d{2})\/(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/;

function parseStamp(stamp: string, pattern: string): Date | undefined {
  if (pattern === DEFAULT_NAME_PATTERN) {
    // The common case, read without date-fns: listing a day of 20,000 frames parses 20,000 names.
    const m = DEFAULT_RE.exec(stamp);
    if (!m) return undefined;
    const n = m.map(Number);
    return new Date(Date.UTC(n[4]!, n[5]! - 1, n[6]!, n[7]!, n[8]!, n[9]!, n[10]!));
  }
  const time = parse(stamp, pattern, new UTCDate(0));
  return Number.isNaN(time.getTime()) ? undefined : new Date(time.getTime());
}

/** Reads a store-relative path back into camera, time and id; undefined for anything else. */
export function parseFrameName(relative: string, pattern = DEFAULT_NAME_PATTERN): ParsedName | undefined {
  const slash = relative.indexOf('/');
  const underscore = relative.lastIndexOf('_');
  if (slash < 1 || underscore < slash || !relative.endsWith('.jpg')) return undefined;
  const time = parseStamp(relative.slice(slash + 1, underscore), pattern);
  if (!time) return undefined;
  return { camera: relative.slice(0, slash), time, id: relative.slice(underscore + 1, -4) };
}
