import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, ensureBuilt, receiverCommands } from './helpers/review-cli.ts';
import { storeTempDir, writeStore, type FixtureFrame } from './helpers/store-fixture.ts';

// list, stats, show and open on a generated store of about 6,700 frames: two cameras, the
// spring (23-hour) and autumn (25-hour) daylight-saving days of Europe/Berlin.

const dir = storeTempDir('review-list-');
const store = join(dir.path, 'store');
let frames: FixtureFrame[] = [];

beforeAll(() => {
  ensureBuilt();
  frames = writeStore(store);
});
afterAll(() => dir.remove());

const between = (camera: string | undefined, from: string, to: string) =>
  frames.filter((f) => (camera === undefined || f.camera === camera) && f.time >= new Date(from) && f.time < new Date(to));
const ndjson = (text: string) => text.trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('list', () => {
  it('lists exactly the 23 hours of the local day the clocks go forward', () => {
    const r = cli(['list', '--store', store, '--camera', 'front', '--from', '2026-03-29', '--to', '2026-03-30', '--json']);
    expect(r.status).toBe(0);
    const listed = ndjson(r.stdout);
    const expected = between('front', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z');
    expect(expected).toHaveLength(23 * 60);
    expect(listed.map((f) => f.name)).toEqual(expected.map((f) => f.name));
    expect(listed[0]).toEqual({
      camera: 'front',
      id: expected[0]!.id,
      time: '2026-03-28T23:00:00.250Z',
      local: '2026-03-29T00:00:00.250+01:00',
      name: expected[0]!.name,
      path: join(store, expected[0]!.name),
    });
    expect(listed.at(-1).local).toBe('2026-03-29T23:59:00.250+02:00');
  });

  it('lists the 25 hours of the day the clocks go back with --day, repeated hour told apart by offset', () => {
    const r = cli(['list', '--store', store, '--camera', 'front', '--day', '2026-10-25']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(25 * 30);
    expect(lines.filter((l) => l.startsWith('2026-10-25 02:30:00.000'))).toEqual([
      `2026-10-25 02:30:00.000+02:00  front  ${join(store, 'front/2026-10-25/20261025T003000.000Z_')}${between('front', '2026-10-25T00:30:00Z', '2026-10-25T00:31:00Z')[0]!.id}.jpg`,
      `2026-10-25 02:30:00.000+01:00  front  ${join(store, 'front/2026-10-25/20261025T013000.000Z_')}${between('front', '2026-10-25T01:30:00Z', '2026-10-25T01:31:00Z')[0]!.id}.jpg`,
    ]);
  });

  it('reads the same --day in the time zone it runs in', () => {
    const r = cli(['list', '--store', store, '--camera', 'front', '--day', '2026-03-29', '--json'], { TZ: 'UTC' });
    expect(ndjson(r.stdout).map((f) => f.name)).toEqual(between('front', '2026-03-29T00:00:00Z', '2026-03-30T00:00:00Z').map((f) => f.name));
  });

  it('lists every camera in time order, skipping .incoming, .thumbs and stray files', () => {
    const r = cli(['list', '--store', store, '--json']);
    expect(ndjson(r.stdout).map((f) => f.name)).toEqual(frames.map((f) => f.name));
  });

  it('takes a time of day, and --last N of the range', () => {
    const r = cli(['list', '--store', store, '--from', '2026-03-29 08:00', '--to', '2026-03-29 08:10:30', '--last', '3', '--json']);
    expect(ndjson(r.stdout).map((f) => f.local)).toEqual([
      '2026-03-29T08:09:00.250+02:00',
      '2026-03-29T08:10:00.000+02:00',
      '2026-03-29T08:10:00.250+02:00',
    ]);
  });

  it('finds --since relative to now', () => {
    const recent = storeTempDir('review-recent-');
    try {
      const now = Date.now();
      writeStore(recent.path, [{ camera: 'porch', from: new Date(now - 3 * 3600_000), to: new Date(now), everyMs: 60_000 }], { litter: false });
      const r = cli(['list', '--store', recent.path, '--since', '30m', '--json']);
      // 30 frames a minute apart end before now; the one exactly 30 minutes ago may fall either side.
      expect(ndjson(r.stdout).length).toBeGreaterThanOrEqual(29);
      expect(ndjson(r.stdout).length).toBeLessThanOrEqual(30);
    } finally {
      recent.remove();
    }
  });

  it('takes the store from SURVEILLANCE_STORE or a config file, like receiving does', () => {
    const byEnv = cli(['list', '--day', '2026-03-29', '--camera', 'back-yard'], { SURVEILLANCE_STORE: store });
    const config = join(dir.path, 'config.json');
    writeFileSync(config, JSON.stringify({ store }));
    const byConfig = cli(['list', '--day', '2026-03-29', '--camera', 'back-yard', '--config', config]);
    expect(byEnv.stdout.split('\n')).toHaveLength(252 + 1);
    expect(byConfig.stdout).toBe(byEnv.stdout);
  });

  it('writes a store path that is not ASCII in UTF-8, in human lines and in --json', () => {
    // The same store by another name: its lines are the same but for that name.
    const other = join(dir.path, 'käse-störe');
    if (!existsSync(other)) symlinkSync(store, other);
    for (const json of [[], ['--json']]) {
      const plain = cli(['list', '--store', store, '--camera', 'front', '--day', '2026-03-29', ...json]);
      const named = cli(['list', '--store', other, '--camera', 'front', '--day', '2026-03-29', ...json]);
      expect(named.status).toBe(0);
      expect(named.stdout).toContain(`${other}/front/2026-03-29/`);
      expect(named.stdout).toBe(plain.stdout.replaceAll(store, other));
    }
  });

  it('says so on stderr when the range is empty, and succeeds', () => {
    const r = cli(['list', '--store', store, '--day', '2026-01-01']);
    expect(r).toEqual({ status: 0, stdout: '', stderr: 'no frames in that range\n' });
  });
});

describe('stats', () => {
  it('counts frames and bytes per camera and per local day, with silences', () => {
    const r = cli(['stats', '--store', store, '--camera', 'front', '--to', '2026-04-01', '--json']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    const front = frames.filter((f) => f.camera === 'front' && f.time < new Date('2026-03-31T22:00:00Z'));
    expect(doc.cameras).toHaveLength(1);
    const s = doc.cameras[0];
    expect(s).toMatchObject({ camera: 'front', frames: front.length, bytes: front.reduce((a, f) => a + f.bytes, 0) });
    expect(s.first).toBe('2026-03-27T12:00:00.250Z');
    expect(s.last).toBe(front.at(-1)!.time.toISOString());
    expect(s.days.map((d: { date: string; frames: number }) => [d.date, d.frames])).toEqual([
      ['2026-03-27', 660],
      ['2026-03-28', 1440],
      ['2026-03-29', 1380],
      ['2026-03-30', 1440 - 210],
      ['2026-03-31', 240],
    ]);
    // The range ends in the past: the silence after the last frame is not "still silent".
    expect(s.gaps).toEqual([{ from: '2026-03-30T12:59:00.250Z', to: '2026-03-30T16:30:00.250Z', ms: 3 * 3600_000 + 31 * 60_000 }]);
  });

  it('reports a camera still silent when the range reaches now, and honours --gap', () => {
    const r = cli(['stats', '--store', store, '--gap', '4h', '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.cameras.map((c: { camera: string }) => c.camera)).toEqual(['back-yard', 'front']);
    expect(doc.frames).toBe(frames.length);
    const back = doc.cameras[0];
    // The fixture's days are fixed: the open silence exists only on a clock past them
    // (scripts/test-at-hours.sh can move the clock to before them, as a camera's can be).
    const open = Date.now() - Date.parse('2026-03-30T23:55:00Z') >= 4 * 3600_000;
    expect(back.gaps.map((g: { from: string; to: string | null }) => [g.from, g.to])).toEqual([
      ['2026-03-29T19:55:00.000Z', '2026-03-30T04:00:00.000Z'],
      ...(open ? [['2026-03-30T23:55:00.000Z', null]] : []),
    ]);
    expect(doc.cameras[1].days.find((d: { date: string }) => d.date === '2026-10-25').frames).toBe(750);
  });

  it('prints a table a person can read', () => {
    // --to in the past: a silence running up to now would make the table's widths depend on
    // the hour and date the test runs at (the "now" row has a test of its own below).
    const r = cli(['stats', '--store', store, '--camera', 'back-yard', '--to', '2026-04-01']);
    expect(r).toEqual({
      status: 0,
      stderr: '',
      stdout: [
        `store ${store} (local times: Europe/Berlin)`,
        '  camera     frames     size  first                      last',
        '  back-yard     768  6.0 MiB  2026-03-28 01:00:00+01:00  2026-03-31 01:55:00+02:00',
        '  total         768  6.0 MiB',
        '',
        'back-yard by local day:',
        '  date        frames       size  first     last',
        '  2026-03-28     276    2.2 MiB  01:00:00  23:55:00',
        '  2026-03-29     252    2.0 MiB  00:00:00  21:55:00',
        '  2026-03-30     216    1.7 MiB  06:00:00  23:55:00',
        '  2026-03-31      24  192.9 KiB  00:00:00  01:55:00',
        'back-yard silent for 10m or more:',
        '  2026-03-29 21:55:00+02:00  ..  2026-03-30 06:00:00+02:00  8h 5m',
        '',
      ].join('\n'),
    });
  });

  it('ends the table of silences with "now" while a camera is still silent', () => {
    const recent = storeTempDir('review-silent-');
    try {
      // An hour of frames that stopped five hours before now, whatever the hour now is.
      const now = Date.now();
      writeStore(recent.path, [{ camera: 'porch', from: new Date(now - 6 * 3600_000), to: new Date(now - 5 * 3600_000 + 1), everyMs: 60_000 }], { litter: false });
      const r = cli(['stats', '--store', recent.path]);
      expect(r.status).toBe(0);
      const local = `\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}[+-]\\d{2}:\\d{2}`;
      // The report's now is a moment after the test's: 5h, or a minute more on a slow machine.
      expect(r.stdout).toMatch(new RegExp(`\\nporch silent for 10m or more:\\n  ${local}  \\.\\.  now  5h( \\d+m)?\\n$`));
    } finally {
      recent.remove();
    }
  });
});

describe('show and open', () => {
  const latest = (camera: string) => frames.filter((f) => f.camera === camera).at(-1)!;

  it('show prints the latest frame of each camera', () => {
    const r = cli(['show', '--store', store, '--json']);
    expect(ndjson(r.stdout).map((f) => f.name)).toEqual([latest('back-yard').name, latest('front').name]);
    const human = cli(['show', '--store', store, '--camera', 'front']);
    // The age moves with the clock: "230d 5h", or "231d" in the hour when the hours are whole
    // days; on a clock before the fixture's days the frame is ahead of it.
    const age = Date.now() >= latest('front').time.getTime() ? 'ago' : 'ahead of this clock';
    expect(human.stdout).toMatch(new RegExp(`^front  2026-10-26 04:58:00\\.000\\+01:00  \\d+d( \\d+h)? ${age}  ${join(store, latest('front').name)}\\n$`));
    expect(cli(['show', '--store', store, '--camera', 'back-yard', '--path']).stdout).toBe(`${join(store, latest('back-yard').name)}\n`);
  });

  it('open hands the newest frame to xdg-open, or prints its path without it', () => {
    const bin = join(dir.path, 'bin');
    mkdirSync(bin, { recursive: true });
    const seen = join(dir.path, 'opened');
    writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\necho "$1" > ${seen}.tmp && mv ${seen}.tmp ${seen}\n`);
    chmodSync(join(bin, 'xdg-open'), 0o755);
    const r = cli(['open', '--store', store], { PATH: `${bin}:/usr/bin:/bin` });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${join(store, latest('front').name)}\n`);
    const deadline = Date.now() + 10_000;
    while (!existsSync(seen) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    expect(readFileSync(seen, 'utf8')).toBe(`${join(store, latest('front').name)}\n`);

    const without = cli(['open', '--store', store, '--camera', 'back-yard'], { PATH: join(dir.path, 'nothing-here') });
    expect(without).toEqual({ status: 0, stdout: `${join(store, latest('back-yard').name)}\n`, stderr: 'xdg-open not found: open the path above yourself\n' });
  });
});

describe('bad input', () => {
  const empty = join(dir.path, 'empty');
  beforeAll(() => mkdirSync(join(empty, '.incoming'), { recursive: true }));
  const P = 'surveillance-receiver';

  it.each([
    [['list', '--from', '2026-02-30'], 64, `${P}: usage: option from: "2026-02-30" is not valid: no such date`],
    [['list', '--from', '2026-03-29 25:00'], 64, `${P}: usage: option from: "2026-03-29 25:00" is not valid: no such time`],
    [['list', '--to', '29.03.2026'], 64, `${P}: usage: option to: "29.03.2026" is not valid: expected a local date or time such as 2026-11-21, "2026-11-21 08:00" or "2026-11-21 08:00:30"`],
    [['list', '--day', '2026-03-29 08:00'], 64, `${P}: usage: option day: "2026-03-29 08:00" is not valid: expected a local date such as 2026-11-21, today or yesterday`],
    [['list', '--since', '2h', '--from', '2026-03-29'], 64, `${P}: usage: options --since and --from cannot be combined: choose one way to give the start`],
    [['list', '--day', '2026-03-29', '--to', '2026-03-30'], 64, `${P}: usage: options --day and --to cannot be combined: --day is a whole local day`],
    [['list', '--from', '2026-03-30', '--to', '2026-03-29'], 64, `${P}: usage: empty range: --to 2026-03-29 00:00:00.000+01:00 is not after the start 2026-03-30 00:00:00.000+02:00`],
    [['list', '--since', '5parsecs'], 64, `${P}: usage: option since (from --since): "5parsecs" is not valid: expected a duration such as 500ms, 10s, 5m, 2h or 7d`],
    [['list', '--last', '0'], 64, `${P}: usage: option last (from --last): "0" is not valid: must be at least 1`],
    [['list', '--camera', 'nope'], 66, `${P}: not-found: no camera "nope" in store STORE; cameras: back-yard, front`],
    [['list', '--bogus'], 64, `${P}: usage: Unknown option '--bogus'; see --help`],
    [['list', 'front'], 64, `${P}: usage: unexpected argument "front"; see --help`],
    [['stats', '--gap', '0'], 64, `${P}: usage: option gap (from --gap): "0" is not valid: must be at least 1s`],
    [['show', '--camera', '.incoming'], 66, `${P}: not-found: no camera ".incoming" in store STORE; cameras: back-yard, front`],
    [['show', '--path', '--json'], 64, `${P}: usage: options --path and --json cannot be combined`],
    [['frobnicate'], 64, `${P}: usage: unknown command "frobnicate"; commands: ${receiverCommands()}`],
  ])('%j exits %i', (args, status, message) => {
    const r = cli([...args, ...(args[0] === 'frobnicate' ? [] : ['--store', store])]);
    expect(r).toEqual({ status, stdout: '', stderr: `${message.replace('STORE', store)}\n` });
  });

  it.each([
    [['list'], {}, 64, `${P}: usage: no store folder: pass --store DIR or set SURVEILLANCE_STORE`],
    [['list', '--store', '/nonexistent/store'], {}, 66, `${P}: not-found: store /nonexistent/store does not exist or is not a folder`],
    [['stats', '--name-pattern', 'HHmm'], { SURVEILLANCE_STORE: '/tmp' }, 64, `${P}: usage: option name-pattern: "HHmm" gives "0553", which cannot be read back to the millisecond (it needs year, month, day, hours, minutes, seconds and SSS)`],
    [['show', '--store', 'EMPTY'], {}, 66, `${P}: not-found: store EMPTY holds no frames yet`],
    [['open', '--store', 'EMPTY'], {}, 66, `${P}: not-found: store EMPTY holds no frames yet`],
  ])('%j %j exits %i', (args, env, status, message) => {
    const r = cli(args.map((a) => a.replace('EMPTY', empty)), env);
    expect(r).toEqual({ status, stdout: '', stderr: `${message.replace('EMPTY', empty)}\n` });
  });

  it('--help names every option with its environment variable', () => {
    const r = cli(['stats', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--gap DURATION');
    expect(r.stdout).toContain('[SURVEILLANCE_GAP]');
    expect(r.stdout).toContain('[SURVEILLANCE_STORE]');
  });
});
