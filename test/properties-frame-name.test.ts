import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_NAME_PATTERN, defaultDay, defaultFileLines, defaultFileTime, frameName, loadNamePattern, parseFrameName } from '../packages/receiver/src/store/frame-name.ts';

// Property tests of the store's frame names: a name the receiver writes reads back to exactly
// its camera, capture time and id; a name it did not write reads back to nothing (a frame
// listed under another time would be worse than one not listed).

const RUNS = { numRuns: 200 };

const camera = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
const id = fc.stringMatching(/^[A-Za-z0-9-]{1,64}$/);
/** Any millisecond of a sane range of capture times. */
const time = fc.date({ min: new Date('1970-01-01T00:00:00.000Z'), max: new Date('2199-12-31T23:59:59.999Z'), noInvalidDate: true });

const CUSTOM = 'yyyy/MM/dd/HH-mm-ss.SSS';
const PATTERNS = [DEFAULT_NAME_PATTERN, CUSTOM];

beforeAll(() => loadNamePattern(CUSTOM));

describe.each(PATTERNS)('pattern %s', (pattern) => {
  it('reads every name back to its camera, time and id', () => {
    fc.assert(
      fc.property(camera, time, id, (c, t, i) => {
        const name = frameName(c, t, i, pattern);
        expect(name.startsWith(`${c}/`)).toBe(true);
        expect(name.endsWith(`_${i}.jpg`)).toBe(true);
        expect(parseFrameName(name, pattern)).toEqual({ camera: c, time: t, id: i });
      }),
      RUNS,
    );
  });

  it('reads a name with one digit changed as another frame it could have written, or as none', () => {
    fc.assert(
      fc.property(camera, time, id, fc.nat(), fc.integer({ min: 0, max: 9 }), (c, t, i, at, digit) => {
        const name = frameName(c, t, i, pattern);
        const stamp = [...name.slice(c.length + 1, name.lastIndexOf('_'))];
        const digits = stamp.flatMap((ch, k) => (/\d/.test(ch) ? [k] : []));
        stamp[digits[at % digits.length]!] = String(digit);
        const changed = `${c}/${stamp.join('')}${name.slice(name.lastIndexOf('_'))}`;
        const parsed = parseFrameName(changed, pattern);
        if (parsed) expect(frameName(parsed.camera, parsed.time, parsed.id, pattern)).toBe(changed);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('default pattern', () => {
  it('reads back every four-digit year a frame header can carry, 0000 to 9999', () => {
    const anyYear = fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true });
    fc.assert(
      fc.property(camera, anyYear, id, (c, t, i) => {
        expect(parseFrameName(frameName(c, t, i))).toEqual({ camera: c, time: t, id: i });
      }),
      RUNS,
    );
    expect(parseFrameName('c/0050-03-01/00500301T000000.000Z_x.jpg')?.time.toISOString()).toBe('0050-03-01T00:00:00.000Z');
  });

  it('sorts as text in the order of capture time (the index relies on it)', () => {
    fc.assert(
      fc.property(camera, time, time, id, id, (c, t1, t2, i1, i2) => {
        fc.pre(t1.getTime() !== t2.getTime());
        const [a, b] = [frameName(c, t1, i1), frameName(c, t2, i2)];
        expect(a < b).toBe(t1 < t2);
      }),
      RUNS,
    );
  });

  it('refuses names that are not of the receiver, not only those it could parse', () => {
    const junk = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.tuple(camera, fc.stringMatching(/^\d{4}-\d{2}-\d{2}\/\d{8}T\d{6}\.\d{3}Z$/), id).map(([c, s, i]) => `${c}/${s}_${i}.jpg`),
    );
    fc.assert(
      fc.property(junk, (name) => {
        const parsed = parseFrameName(name);
        if (parsed) expect(frameName(parsed.camera, parsed.time, parsed.id)).toBe(name);
      }),
      { numRuns: 1000 },
    );
  });

  it('reads a bare name in its day folder as parseFrameName reads the whole name, with any one character changed', () => {
    const anyYear = fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true });
    // Digits, the stamp's own letters and what else a folder may hold ('_', '.', '-', a space).
    const char = fc.constantFrom(...'0123456789TZ_.-jpgx /');
    fc.assert(
      fc.property(camera, anyYear, id, fc.nat(), char, fc.boolean(), (c, t, i, at, ch, inFolder) => {
        const [, folder, file] = frameName(c, t, i).split('/') as [string, string, string];
        const target = inFolder ? folder : file;
        const changed = target.slice(0, at % target.length) + ch + target.slice((at % target.length) + 1);
        const [f, n] = inFolder ? [changed, file] : [folder, changed];
        const day = defaultDay(f);
        const expected = parseFrameName(`${c}/${f}/${n}`)?.time.getTime();
        if (!day) expect(expected).toBeUndefined();
        else {
          expect(defaultFileTime(n, day)).toBe(expected ?? Number.NaN);
          // The lines of a folder's names take a name (leave no NUL) exactly when defaultFileTime does.
          expect(`\0${n}`.replace(defaultFileLines(day.date), '').includes('\0')).toBe(expected === undefined);
        }
      }),
      { numRuns: 3000 },
    );
    expect(defaultDay('2026-02-30')).toBeUndefined();
    expect(defaultDay('0050-03-01')).toEqual({ date: '00500301', start: Date.parse('0050-03-01T00:00:00.000Z') });
  });
});
