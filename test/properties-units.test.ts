import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration } from '../packages/shared/src/human-units.ts';
import { parseDuration, parseSize } from '../packages/shared/src/options.ts';

// Property tests of sizes and durations as a person types them (options.ts) and as the review
// commands print them (human-units.ts): what is printed reads back within its last digit, and
// what is not a size or a duration is refused, never read as something else.

const RUNS = { numRuns: 300 };

// The units as the README promises them, typed again here: the test states the spec.
const SIZE_UNITS = { '': 1, b: 1, k: 1024, kib: 1024, kb: 1000, m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2, g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3, t: 1024 ** 4, tib: 1024 ** 4, tb: 1000 ** 4 };
const DURATION_UNITS = { '': 1000, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** Beyond 2^53 a number no longer holds every whole value: such a size or duration is refused. */
const exactly = (n: number) => (Number.isSafeInteger(n) ? n : undefined);

/** The unit in any mix of upper and lower case. */
const anyCase = (unit: string) => fc.array(fc.boolean(), { minLength: unit.length, maxLength: unit.length }).map((up) => [...unit].map((ch, i) => (up[i] ? ch.toUpperCase() : ch)).join(''));
const space = fc.constantFrom('', ' ', '  ', '\t');
const typed = (units: Record<string, number>) =>
  fc.tuple(space, fc.integer({ min: 0, max: 1_000_000 }), fc.option(fc.integer({ min: 0, max: 999 }), { nil: undefined }), space, fc.constantFrom(...Object.keys(units)), space).chain(
    ([before, whole, fraction, between, unit, after]) =>
      anyCase(unit).map((written) => ({
        text: `${before}${whole}${fraction === undefined ? '' : `.${fraction}`}${between}${written}${after}`,
        value: exactly(Math.round(Number(`${whole}${fraction === undefined ? '' : `.${fraction}`}`) * units[unit as keyof typeof units]!)),
      })),
  );

/** Text that is no size and no duration: near misses first, then anything. */
const junk = fc.oneof(
  fc.constantFrom('', ' ', 's', 'ms', '-1s', '-1', '+5m', '1e3', '1e3s', '.5s', '1.s', '1,5s', '1 s s', '1ss', '5parsecs', '0x10', 'Infinity', 'NaN', '１s', '1_000', '1 000', 'ten', '5 m i n', '12 kibibytes'),
  fc.string({ maxLength: 12 }).filter((s) => !/^\s*\d+(\.\d+)?\s*[a-z]*\s*$/i.test(s)),
  fc.tuple(fc.nat(9999), fc.stringMatching(/^[a-z]{1,6}$/)).map(([n, u]) => `${n}${u}`).filter((s) => !/^\d+(b|k|kib|kb|m|mib|mb|g|gib|gb|t|tib|tb|ms|s|min|h|d)$/.test(s)),
  /** More digits than a number holds exactly: not a size, not "Infinity", not a rounded guess. */
  fc.integer({ min: 17, max: 400 }).map((n) => `9${'9'.repeat(n - 1)}`),
);

describe.each([
  ['parseSize', parseSize, SIZE_UNITS],
  ['parseDuration', parseDuration, DURATION_UNITS],
] as const)('%s', (_, parse, units) => {
  it('reads a number with any unit, in any case, with or without spaces', () => {
    fc.assert(
      fc.property(typed(units), ({ text, value }) => {
        expect(parse(text)).toBe(value);
      }),
      RUNS,
    );
  });

  it('refuses what is not a number and a unit, and gives nothing but a whole number it can hold', () => {
    fc.assert(
      fc.property(junk, (text) => {
        const v = parse(text);
        if (v !== undefined) expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
        if (!/^\s*\d+(\.\d+)?\s*[a-z]*\s*$/i.test(text) || /\d{17}/.test(text)) expect(v).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });
});

describe('printed sizes and durations', () => {
  it('formatBytes reads back through parseSize within half of its last digit', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(4096), fc.integer({ min: 0, max: 2 ** 52 })), (bytes) => {
        const text = formatBytes(bytes);
        const back = parseSize(text);
        expect(back, text).toBeDefined();
        const unit = 1024 ** ['B', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(text.split(' ')[1]!);
        expect(Math.abs(back! - bytes), text).toBeLessThanOrEqual(unit === 1 ? 0 : 0.05 * unit + 1);
      }),
      RUNS,
    );
  });

  it('formatDuration reads back through parseDuration, part by part, within its last unit', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(200_000), fc.nat(400 * 86_400_000)), (ms) => {
        const text = formatDuration(ms);
        const parts = text.split(' ').map(parseDuration);
        expect(parts.every((p) => p !== undefined), text).toBe(true);
        const sum = parts.reduce((a, p) => a! + p!, 0)!;
        const shown = Math.round(ms / 1000) * 1000; // to the second
        // Days drop the minutes, hours and minutes drop the seconds, seconds drop nothing.
        const dropped = text.includes('d') ? 3_600_000 : text.endsWith('s') ? 1 : 60_000;
        expect(shown - sum, text).toBeGreaterThanOrEqual(0);
        expect(shown - sum, text).toBeLessThan(dropped);
      }),
      RUNS,
    );
  });
});
