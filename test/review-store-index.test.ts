import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { frameName, loadNamePattern } from '../packages/receiver/src/store/frame-name.ts';
import { frameLines, latestFrame, listCameras, listDays, listFrames } from '../packages/receiver/src/store/file-index.ts';
import { HOUR_MS, MINUTE_MS, type LineSpec } from '../packages/receiver/src/store/store.ts';
import { localDay, parseLocalTime } from '../packages/receiver/src/review/time-range.ts';
import { storeTempDir, writeStore, type FixtureFrame } from './helpers/store-fixture.ts';

// The store index in-process (what the gallery calls), checked against an oracle that knows
// nothing of it: Intl's own time-zone rules applied to every frame the fixture wrote.

const dir = storeTempDir('review-index-');
const store = join(dir.path, 'store');
let frames: FixtureFrame[] = [];
const savedTz = process.env.TZ;

beforeAll(() => {
  frames = writeStore(store, undefined, { burst: 3 });
});
afterAll(() => dir.remove());
afterEach(() => {
  process.env.TZ = savedTz;
});

/**
 * frameLines with a line that shows every field and the minute it was asked for (an hour's
 * frames show their own), and an escape
 * that puts replacement patterns ($&, $1) around the store's part of the path: they must come
 * out as text. `out` receives what was written.
 */
const lineSpec = (out: string[], line?: LineSpec['line']): LineSpec => ({
  line:
    line ??
    ((start, span) => {
      const iso = new Date(start).toISOString();
      const minute = span === HOUR_MS ? [iso.slice(0, 14), { field: 'minute' } as const, iso.slice(16)] : [iso];
      return [...minute, ' ', { field: 'id' }, ' ', { field: 'second' }, ' ', { field: 'name' }, ' ', { field: 'path' }, '\n'];
    }),
  escape: (text) => `$&${text}$1`,
  write: (text) => out.push(text),
});
/** The same lines from the fixture's own frames. */
const expectedLines = (root: string, of: readonly Pick<FixtureFrame, 'time' | 'id' | 'name'>[]) =>
  of.map((f) => `${f.time.toISOString().slice(0, 17)}00.000Z ${f.id} ${f.time.toISOString().slice(17, 23)} ${f.name} $&${root}/$1${f.name}\n`).join('');

/** yyyy-MM-dd of `time` in `timeZone`, by Intl rather than by the code under test. */
const oracleDate = (timeZone: string) => {
  const f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  return (time: Date) => f.format(time);
};

// Berlin and New York change clocks on different days; Kolkata never does; Chatham (+12:45,
// +13:45 in summer) and Lord Howe (half an hour of DST) have odd offsets.
const ZONES = ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham', 'Australia/Lord_Howe', 'UTC'];

describe.each(ZONES)('in %s', (zone) => {
  it('listDays gives exactly the local dates that have frames', () => {
    process.env.TZ = zone;
    const date = oracleDate(zone);
    for (const camera of ['front', 'back-yard']) {
      const expected = [...new Set(frames.filter((f) => f.camera === camera).map((f) => date(f.time)))].sort();
      expect(listDays(store, camera)).toEqual(expected);
    }
  });

  it('listFrames of a local day (from --day) gives exactly that day, in order', () => {
    process.env.TZ = zone;
    const date = oracleDate(zone);
    for (const day of ['2026-03-29', '2026-03-30', '2026-10-25']) {
      const range = localDay(day);
      const expected = frames.filter((f) => date(f.time) === day);
      expect(listFrames(store, range).map((f) => f.name)).toEqual(expected.map((f) => f.name));
    }
  });

  it('frameLines of a local day gives a line for each of its frames, in order, and --last the newest (or, for frames of one millisecond, nothing)', () => {
    process.env.TZ = zone;
    const date = oracleDate(zone);
    for (const day of ['2026-03-29', '2026-03-30', '2026-10-24', '2026-10-25']) {
      const expected = frames.filter((f) => f.camera === 'front' && date(f.time) === day).sort((a, b) => a.time.getTime() - b.time.getTime());
      if (day === '2026-03-29') expect(expected.length).toBeGreaterThan(1000);
      const out: string[] = [];
      // The fixture's bursts (frames of one millisecond at the start of each series) are listFrames' to order.
      if (expected.some((f, i) => i > 0 && f.time.getTime() === expected[i - 1]!.time.getTime())) {
        expect(day).not.toBe('2026-03-29');
        expect(frameLines(store, { camera: 'front', ...localDay(day) }, lineSpec(out))).toBeUndefined();
        expect(out).toEqual([]);
        continue;
      }
      expect(frameLines(store, { camera: 'front', ...localDay(day) }, lineSpec(out))).toBe(expected.length);
      expect(out.join('')).toBe(expectedLines(store, expected));
      const last: string[] = [];
      expect(frameLines(store, { camera: 'front', ...localDay(day), last: 7 }, lineSpec(last))).toBe(Math.min(7, expected.length));
      expect(last.join('')).toBe(expectedLines(store, expected.slice(-7)));
    }
  });
});

describe('store index', () => {
  it('lists cameras, not hidden folders or files', () => {
    expect(listCameras(store)).toEqual(['back-yard', 'front']);
  });

  it('breaks ties of one millisecond by camera, then id', () => {
    const first = listFrames(store, { camera: 'front', to: new Date('2026-03-27T12:00:01Z') });
    expect(first.map((f) => f.id)).toEqual(frames.filter((f) => f.time.getTime() === Date.parse('2026-03-27T12:00:00.250Z')).map((f) => f.id));
    expect(first).toHaveLength(4);
  });

  it('finds the latest frame of a camera and of the store', () => {
    const last = (camera: string) => frames.filter((f) => f.camera === camera).at(-1)!.name;
    expect(latestFrame(store, 'back-yard')?.name).toBe(last('back-yard'));
    expect(latestFrame(store)?.name).toBe(frames.at(-1)!.name);
    expect(latestFrame(store, 'nobody')).toBeUndefined();
  });

  it('range bounds are [from, to) to the millisecond', () => {
    const t = frames.filter((f) => f.camera === 'back-yard')[10]!.time;
    expect(listFrames(store, { camera: 'back-yard', from: t, to: new Date(t.getTime() + 1) }).map((f) => f.time)).toEqual([t]);
    expect(listFrames(store, { camera: 'back-yard', from: new Date(t.getTime() + 1), to: new Date(t.getTime() + 300_000) })).toEqual([]);
  });

  it('walks a custom name pattern (no day folders to skip), hidden folders excluded', async () => {
    const pattern = "yyyy/MM/dd/HH/mmss.SSS";
    await loadNamePattern(pattern);
    const custom = join(dir.path, 'custom');
    const times = ['2026-03-29T23:59:59.999Z', '2026-03-29T00:00:00.000Z', '2026-03-30T12:00:00.500Z'].map((t) => new Date(t));
    for (const [i, t] of times.entries()) {
      const name = frameName('cam', t, `id${i}`, pattern);
      mkdirSync(dirname(join(custom, name)), { recursive: true });
      writeFileSync(join(custom, name), 'x');
    }
    mkdirSync(join(custom, 'cam/.thumbs/2026/03/29/00'), { recursive: true });
    writeFileSync(join(custom, 'cam/.thumbs/2026/03/29/00/0000.000_t.jpg'), 'x');
    process.env.TZ = 'UTC';
    expect(listFrames(custom, { pattern }).map((f) => f.id)).toEqual(['id1', 'id0', 'id2']);
    expect(listFrames(custom, { pattern, from: new Date('2026-03-29T12:00:00Z') }).map((f) => f.id)).toEqual(['id0', 'id2']);
    expect(listDays(custom, 'cam', pattern)).toEqual(['2026-03-29', '2026-03-30']);
    expect(latestFrame(custom, 'cam', pattern)?.id).toBe('id2');
  });
});

describe('frameLines of a folder of names', () => {
  const name = (ms: number, id: string) => `20260329T0800${String(Math.floor(ms / 1000)).padStart(2, '0')}.${String(ms % 1000).padStart(3, '0')}Z_${id}.jpg`;
  const names = Array.from({ length: 9 }, (_, i) => name(i * 10, `f${i}`));
  let folders = 0;
  /** A store whose camera `cam` holds `files` in its folder of 2026-03-29. */
  const storeOf = (files: readonly string[]) => {
    const root = join(dir.path, `names-${folders++}`);
    mkdirSync(join(root, 'cam/2026-03-29'), { recursive: true });
    for (const f of files) writeFileSync(join(root, 'cam/2026-03-29', f), 'x');
    return root;
  };
  const lines = (root: string, last?: number) => {
    const out: string[] = [];
    const count = frameLines(root, { camera: 'cam', last }, lineSpec(out));
    return { count, text: out.join('') };
  };
  const expected = (root: string, of: readonly string[]) =>
    of.map((f) => `2026-03-29T08:00:00.000Z ${f.slice(21, -4)} ${f.slice(13, 19)} cam/2026-03-29/${f} $&${root}/$1cam/2026-03-29/${f}\n`).join('');

  it('lines a folder of frames', () => {
    const root = storeOf(names);
    expect(lines(root)).toEqual({ count: 9, text: expected(root, names) });
  });

  // Two frames of one millisecond at every place: the first, the last, and between.
  it('leaves two frames of one millisecond to listFrames wherever they fall, writing nothing', () => {
    for (let at = 1; at < names.length; at++) {
      const root = storeOf(names.map((n, i) => (i === at ? name((at - 1) * 10, 'g') : n)));
      expect(lines(root)).toEqual({ count: undefined, text: '' });
    }
  });

  it.each([
    ['a stray file', 'notes.txt'],
    ['a frame of another day', '20260330T080000.000Z_x.jpg'],
    ['24:00', '20260329T240000.000Z_x.jpg'],
    ['no id', '20260329T080000.000Z_.jpg'],
    ['an id too long', `20260329T080000.500Z_${'x'.repeat(65)}.jpg`],
    ['a frame with more after it', '20260329T080000.500Z_x.jpgx'],
    ['a frame with more before it', 'x20260329T080000.500Z_x.jpg'],
    ['one file named as two frames, a line each', '20260329T080000.500Z_x.jpg\n20260329T080000.600Z_y.jpg'],
    ['a frame and a line break', '20260329T080000.500Z_x.jpg\n'],
    ['a line break and a frame', '\n20260329T080000.500Z_x.jpg'],
    ['a name with a character not in ids', '20260329T080000.500Z_\u00e9.jpg'],
  ])('leaves %s among frames to listFrames, writing nothing', (_, stray) => {
    expect(lines(storeOf([...names, stray]))).toEqual({ count: undefined, text: '' });
  });

  it('--last: takes the newest frames whatever came before them, but not a frame of the same millisecond as the first kept', () => {
    // A frame of another day sorts before these, notes.txt after them.
    const root = storeOf(['20260328T235959.999Z_old.jpg', ...names]);
    expect(lines(root, 3)).toEqual({ count: 3, text: expected(root, names.slice(-3)) });
    expect(lines(storeOf([...names, 'notes.txt']), 3)).toEqual({ count: undefined, text: '' });
    // `a-` sorts before `a` by name (`-` < `.`), after it by id (byTime): the two must not be split.
    const tie = storeOf([name(5, 'a'), name(5, 'a-'), name(6, 'b')]);
    expect(lines(tie, 2)).toEqual({ count: undefined, text: '' });
    expect(lines(tie, 1)).toEqual({ count: 1, text: expected(tie, [name(6, 'b')]) });
  });
});

describe('frameLines against listFrames', () => {
  // Frames of 2026-03-29 either side of 11:00, often of one millisecond, with ids whose '-' sorts
  // names of one millisecond apart from byTime ('a-' before 'a'), and names that are not frames.
  const t0 = Date.parse('2026-03-29T10:59:59.000Z');
  const ms = fc.oneof(fc.integer({ min: 0, max: 1999 }), fc.integer({ min: 0, max: 19 }).map((n) => n * 100));
  const frame = fc.record({ ms, id: fc.stringMatching(/^[ab-]{1,2}$/) }).map(({ ms, id }) => frameName('cam', new Date(t0 + ms), id).slice('cam/2026-03-29/'.length));
  const stray = fc.oneof(
    fc.constantFrom('notes.txt', '20260329T240000.000Z_x.jpg', '20260330T110000.000Z_x.jpg', '20260329T110000.000Z_.jpg'),
    fc.tuple(frame, fc.constantFrom('x', '\n', '\u00e9', ' (1)', '.jpg'), fc.boolean()).map(([f, more, before]) => (before ? more + f : f + more)),
    fc.tuple(frame, frame).map(([a, b]) => `${a}\n${b}`),
  );
  let stores = 0;

  it('lines exactly what listFrames lists (--last: its newest), or writes nothing and leaves it to listFrames', () => {
    let lined = 0;
    fc.assert(
      fc.property(fc.uniqueArray(frame, { minLength: 1, maxLength: 30 }), fc.array(stray, { maxLength: 2 }), fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }), fc.boolean(), (frames, strays, last, ranged) => {
        const root = join(dir.path, `prop-${stores++}`);
        mkdirSync(join(root, 'cam/2026-03-29'), { recursive: true });
        for (const f of [...frames, ...strays]) writeFileSync(join(root, 'cam/2026-03-29', f), 'x');
        try {
          const range = ranged ? { from: new Date(t0 + 500), to: new Date(t0 + 1500) } : {};
          const out: string[] = [];
          const count = frameLines(root, { camera: 'cam', ...range, last }, lineSpec(out));
          if (count === undefined) {
            expect(out).toEqual([]);
            return;
          }
          lined++;
          let expected = listFrames(root, { camera: 'cam', ...range });
          if (last !== undefined) expected = expected.slice(-last);
          expect(count).toBe(expected.length);
          expect(out.join('')).toBe(expectedLines(root, expected));
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      }),
      { numRuns: 300 },
    );
    // Most cases have no stray and no two frames of one millisecond.
    expect(lined).toBeGreaterThan(50);
  });
});

describe('frameLines', () => {
  it('lines an hour that spec.line cannot line whole a minute at a time, to the same text', () => {
    const q = { camera: 'front', ...localDay('2026-03-29') };
    const whole: string[] = [];
    const count = frameLines(store, q, lineSpec(whole));
    const byMinute: string[] = [];
    const spec = lineSpec(byMinute);
    const spans = new Set<number>();
    const perMinute = frameLines(store, q, { ...spec, line: (start, span) => (spans.add(span), span === HOUR_MS ? undefined : spec.line(start, span)) });
    expect(count).toBeGreaterThan(0);
    expect(perMinute).toBe(count);
    expect(byMinute.join('')).toBe(whole.join(''));
    expect([...spans].sort()).toEqual([MINUTE_MS, HOUR_MS].sort());
  });

  it('leaves to listFrames, writing nothing, frames of one millisecond, a stray file in the range, a minute it cannot line and a custom pattern', async () => {
    const out: string[] = [];
    // The fixture's burst: frames of one millisecond, which listFrames orders by id.
    expect(frameLines(store, { camera: 'front', to: new Date('2026-03-27T12:00:01Z') }, lineSpec(out))).toBeUndefined();
    const stray = join(dir.path, 'stray');
    const t = new Date('2026-03-29T10:00:00.000Z');
    mkdirSync(dirname(join(stray, frameName('cam', t, 'a'))), { recursive: true });
    writeFileSync(join(stray, frameName('cam', t, 'a')), 'x');
    writeFileSync(join(stray, 'cam/2026-03-29/20260329T110000.000Z_a (1).jpg'), 'x');
    expect(frameLines(stray, { camera: 'cam' }, lineSpec(out))).toBeUndefined();
    // Out of the range, the stray is no matter.
    expect(frameLines(stray, { camera: 'cam', to: new Date(t.getTime() + 1) }, lineSpec(out))).toBe(1);
    expect(out.splice(0)).toEqual([`2026-03-29T10:00:00.000Z a 00.000 cam/2026-03-29/20260329T100000.000Z_a.jpg $&${stray}/$1cam/2026-03-29/20260329T100000.000Z_a.jpg\n`]);
    expect(frameLines(store, { camera: 'front', ...localDay('2026-03-29') }, lineSpec(out, (start) => (start === Date.parse('2026-03-29T12:00:00Z') ? undefined : ['x'])))).toBeUndefined();
    const pattern = 'yyyy/MM/dd/HH/mmss.SSS';
    await loadNamePattern(pattern);
    expect(frameLines(store, { camera: 'front', pattern }, lineSpec(out))).toBeUndefined();
    expect(out).toEqual([]);
  });
});

describe('day folders', () => {
  it('reads the folder of a year 0000-0099 as that year, not as 1900-1999, and a folder of no real date as holding nothing', () => {
    const old = join(dir.path, 'old');
    const put = (rel: string) => {
      mkdirSync(dirname(join(old, rel)), { recursive: true });
      writeFileSync(join(old, rel), 'x');
    };
    const t = new Date('0050-06-15T12:34:56.789Z');
    put(frameName('cam', t, 'a'));
    put('cam/2026-02-30/20260230T000000.000Z_b.jpg');
    const range = (from: string, to: string) => listFrames(old, { camera: 'cam', from: new Date(from), to: new Date(to) }).map((f) => f.id);
    expect(range('0050-06-15T12:00:00Z', '0050-06-15T13:00:00Z')).toEqual(['a']);
    expect(range('1950-01-01T00:00:00Z', '1951-01-01T00:00:00Z')).toEqual([]);
    expect(listFrames(old).map((f) => f.time)).toEqual([t]);
    process.env.TZ = 'UTC';
    expect(listDays(old, 'cam')).toEqual(['0050-06-15']);
  });
});

describe('local times typed by a person', () => {
  it.each([
    ['2026-03-29', '2026-03-28T23:00:00.000Z'],
    ['2026-03-29 08:00', '2026-03-29T06:00:00.000Z'],
    ['2026-03-29T08:00:30.5', '2026-03-29T06:00:30.500Z'],
    // Skipped by the clocks going forward: the same wall time after the change.
    ['2026-03-29 02:30', '2026-03-29T01:30:00.000Z'],
    // Repeated when the clocks go back: its first occurrence (still summer time).
    ['2026-10-25 02:30', '2026-10-25T00:30:00.000Z'],
  ])('%s in Europe/Berlin is %s', (text, iso) => {
    process.env.TZ = 'Europe/Berlin';
    expect(parseLocalTime(text, 'from').toISOString()).toBe(iso);
  });

  it.each([
    ['2026-03-29', 23],
    ['2026-10-25', 25],
    ['2026-06-01', 24],
  ])('the local day %s in Europe/Berlin lasts %i hours', (day, hours) => {
    process.env.TZ = 'Europe/Berlin';
    const { from, to } = localDay(day);
    expect((to.getTime() - from.getTime()) / 3600_000).toBe(hours);
  });
});
