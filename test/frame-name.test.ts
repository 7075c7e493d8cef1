import { UTCDate } from '@date-fns/utc';
import { format } from 'date-fns/format';
import { describe, expect, it } from 'vitest';
import { DEFAULT_NAME_PATTERN, frameName, loadNamePattern, parseFrameName } from '../packages/receiver/src/store/frame-name.ts';

describe('frame names', () => {
  it('formats the default pattern exactly as date-fns does, in UTC, across years and DST changes', async () => {
    const times = [
      Date.UTC(2026, 2, 29, 0, 59, 59, 999), // Europe: clocks go forward at 01:00 UTC
      Date.UTC(2026, 2, 29, 1, 0, 0, 0),
      Date.UTC(2026, 9, 25, 0, 30, 0, 1), // clocks go back: local 02:30 happens twice
      Date.UTC(2026, 9, 25, 1, 30, 0, 1),
      Date.UTC(1999, 11, 31, 23, 59, 59, 999),
      ...Array.from({ length: 500 }, (_, i) => Date.UTC(2020, 0, 1) + i * 7_919_993_777),
    ];
    for (const t of times) {
      const time = new Date(t);
      const fast = frameName('cam', time, 'id1');
      expect(fast).toBe(`cam/${format(new UTCDate(t), DEFAULT_NAME_PATTERN)}_id1.jpg`);
      expect(parseFrameName(fast)).toEqual({ camera: 'cam', time, id: 'id1' });
    }
    expect(frameName('front', new Date('2026-11-21T05:53:00.123Z'), 'f00d')).toBe('front/2026-11-21/20261121T055300.123Z_f00d.jpg');
  });

  it('reads names back with a custom pattern once it is loaded', async () => {
    const pattern = 'yyyy/MM/dd/HH-mm-ss.SSS';
    const time = new Date('2026-10-25T01:30:00.005Z');
    expect(() => frameName('c', time, 'x', pattern)).toThrow(/used before loadNamePattern/);
    await loadNamePattern(pattern);
    const name = frameName('c', time, 'a-b', pattern);
    expect(name).toBe('c/2026/10/25/01-30-00.005_a-b.jpg');
    expect(parseFrameName(name, pattern)).toEqual({ camera: 'c', time, id: 'a-b' });
  });

  it.each([
    ["yyyy-MM-dd/HHmm", 'gives "2026-11-21/0553", which cannot be read back to the millisecond (it needs year, month, day, hours, minutes, seconds and SSS)'],
    ["'../'yyyy", `gives "../2026": a name must be relative, with '/'-separated parts of letters, digits, '.', '_', '-' that do not start with '.'`],
    ["yyyy-MM-dd HH:mm:ss.SSS", `gives "2026-11-21 05:53:00.123": a name must be relative, with '/'-separated parts of letters, digits, '.', '_', '-' that do not start with '.'`],
    ['yyyy-MM-dd/HHmmss.SSS/j', 'is not a date-fns format pattern: Format string contains an unescaped latin alphabet character `j`'],
    ["yyyy-MM-dd/yyyyMMdd'T'HHmmss.SSS", 'gives "2026-11-21/20261121T055300.123", which cannot be read back to the millisecond (it needs year, month, day, hours, minutes, seconds and SSS)'],
  ])('refuses the pattern %s', async (pattern, why) => {
    await expect(loadNamePattern(pattern)).rejects.toMatchObject({ code: 'usage', message: `option name-pattern: ${JSON.stringify(pattern)} ${why}` });
  });

  it('ignores what is not a frame name', () => {
    for (const name of [
      'cam/2026-11-21/notes.txt',
      'cam/x.jpg',
      '2026-11-21/20261121T055300.123Z_f.jpg',
      'cam/2026-11-21/20261121T055300.123Z.jpg',
      'cam/2026-11-21/20261121T05530a.123Z_f.jpg',
      'cam/2026-11-22/20261121T055300.123Z_f.jpg',
      'cam/2026-11-21/20261121T055300.1234Z_f.jpg',
      'cam/2026-11-21/20261121T055300.123Z_f (1).jpg',
      'cam/2026-11-21/20261121T055300.123Z_a"b.jpg',
    ]) {
      expect(parseFrameName(name)).toBeUndefined();
    }
    expect(DEFAULT_NAME_PATTERN).toBe("yyyy-MM-dd/yyyyMMdd'T'HHmmss.SSS'Z'");
  });
});
