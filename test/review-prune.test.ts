import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader } from '../packages/shared/src/index.ts';
import { exchange } from './helpers/client.ts';
import { FIXTURES, startReceiver } from './helpers/receiver.ts';
import { cli, ensureBuilt } from './helpers/review-cli.ts';
import { storeTempDir, writeStore, type FixtureFrame } from './helpers/store-fixture.ts';

// prune on copies of a generated store (about 6,700 frames, two cameras, DST days), and
// against a live receiver: receiving goes on while and after prune removes what it wrote.

const dir = storeTempDir('review-prune-');
const pristine = join(dir.path, 'pristine');
let frames: FixtureFrame[] = [];
let copies = 0;

beforeAll(() => {
  ensureBuilt();
  frames = writeStore(pristine);
});
afterAll(() => dir.remove());

/** A store of its own for a test that changes it (writing it again is faster than copying it). */
function freshStore(): string {
  const store = join(dir.path, `store-${++copies}`);
  writeStore(store);
  return store;
}

function filesUnder(root: string, rel = ''): string[] {
  return readdirSync(join(root, rel), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(root, rel ? `${rel}/${e.name}` : e.name) : [rel ? `${rel}/${e.name}` : e.name],
  );
}

/** --older-than that puts the cut-off at `instant`: frames fall on whole minutes, so seconds of drift do not matter. */
const olderThan = (instant: string) => `${Math.round((Date.now() - Date.parse(instant)) / 1000)}s`;
const sum = (list: FixtureFrame[]) => list.reduce((a, f) => a + f.bytes, 0);
const MiB = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

describe('prune by age', () => {
  const cutoff = '2026-03-30T00:00:30Z';
  const victims = () => frames.filter((f) => f.time < new Date(cutoff));

  it('--dry-run shows what would go, per camera and local day, and removes nothing', () => {
    const store = freshStore();
    const before = filesUnder(store).sort();
    const r = cli(['prune', '--store', store, '--older-than', olderThan(cutoff), '--dry-run']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toContain(`would remove front 2026-03-29: 1380 frames, ${MiB(sum(frames.filter((f) => f.camera === 'front' && f.time >= new Date('2026-03-28T23:00:00Z') && f.time < new Date('2026-03-29T22:00:00Z'))))} (00:00:00+01:00 .. 23:59:00+02:00)`);
    expect(lines.at(-1)).toMatch(
      new RegExp(`^prune \\(dry run\\): would remove ${victims().length} frames \\(${MiB(sum(victims())).replace('.', '\\.')}\\) of 2 camera\\(s\\) captured 2026-03-27 13:00:00\\+01:00 \\.\\. 2026-03-30 02:00:00\\+02:00 \\(${victims().length} older than \\d+d( \\d+h)?\\) and 4 emptied folder\\(s\\)$`),
    );
    expect(filesUnder(store).sort()).toEqual(before);
  });

  it('removes exactly the frames before the cut-off and the day folders they empty, nothing else', () => {
    const store = freshStore();
    // Gallery thumbnails of one frame that goes and one that stays: only the first goes.
    const [gone, kept] = [victims()[0]!, frames.find((f) => f.time >= new Date(cutoff))!];
    for (const f of [gone, kept]) {
      mkdirSync(join(store, '.thumbs/224', f.name, '..'), { recursive: true });
      writeFileSync(join(store, '.thumbs/224', f.name), 'thumbnail');
    }
    const r = cli(['prune', '--store', store, '--older-than', olderThan(cutoff)]);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')).toHaveLength(2); // one summary line
    expect(r.stdout).toMatch(new RegExp(`^prune: removed ${victims().length} frames \\(`));
    const left = filesUnder(store).sort();
    const expected = [
      ...frames.filter((f) => f.time >= new Date(cutoff)).map((f) => f.name),
      '.incoming/4242-1-abc.part',
      '.thumbs/front/x.jpg',
      `.thumbs/224/${kept.name}`,
      'front/2026-03-27/notes.txt',
    ].sort();
    expect(left).toEqual(expected);
    // Emptied UTC day folders went; the one holding a stray file and the camera folders stay.
    expect(readdirSync(join(store, 'front')).sort()).toEqual(['2026-03-27', '2026-03-30', '2026-03-31', '2026-10-24', '2026-10-25', '2026-10-26']);
    expect(readdirSync(join(store, 'back-yard')).sort()).toEqual(['2026-03-30']);
    // Again: nothing left to do.
    expect(cli(['prune', '--store', store, '--older-than', olderThan(cutoff)]).stdout).toBe('prune: nothing to remove\n');
  });

  it('reads the retention from the environment, as the timer unit does', () => {
    const store = freshStore();
    const r = cli(['prune', '--json'], { SURVEILLANCE_STORE: store, SURVEILLANCE_OLDER_THAN: olderThan(cutoff) });
    const doc = JSON.parse(r.stdout);
    expect(doc.removed).toMatchObject({ frames: victims().length, bytes: sum(victims()), folders: 4, first: frames[0]!.time.toISOString() });
    expect(doc.byRule).toEqual({ 'older-than': victims().length, 'max-bytes': 0, 'keep-free': 0 });
  });
});

describe('prune by size', () => {
  it('removes the oldest frames across cameras until the rest fits --max-bytes', () => {
    const store = freshStore();
    const keep = 1000;
    const limit = sum(frames.slice(-keep));
    const dry = JSON.parse(cli(['prune', '--store', store, '--max-bytes', String(limit), '--dry-run', '--list', '--json']).stdout);
    expect(dry.names).toEqual(frames.slice(0, -keep).map((f) => f.name));
    expect(dry.kept).toEqual({ frames: keep, bytes: limit });
    expect(filesUnder(store).filter((n) => n.endsWith('.jpg') && !n.startsWith('.'))).toHaveLength(frames.length);

    const real = JSON.parse(cli(['prune', '--store', store, '--max-bytes', String(limit), '--json']).stdout);
    expect(real).toMatchObject({ dryRun: false, removed: { frames: frames.length - keep, bytes: sum(frames.slice(0, -keep)) }, kept: { frames: keep, bytes: limit } });
    const left = filesUnder(store).filter((n) => n.endsWith('.jpg') && !n.startsWith('.'));
    expect(left.sort()).toEqual(frames.slice(-keep).map((f) => f.name).sort());
  });

  it.each([
    [['prune'], 64, 'surveillance-receiver: usage: nothing to prune by: give --older-than, --max-bytes or --keep-free (or SURVEILLANCE_OLDER_THAN, ...)'],
    [['prune', '--older-than', '10s'], 64, 'surveillance-receiver: usage: option older-than (from --older-than): "10s" is not valid: must be at least 1m'],
    [['prune', '--max-bytes', 'lots'], 64, 'surveillance-receiver: usage: option max-bytes (from --max-bytes): "lots" is not valid: expected a size such as 16MiB, 300KB or 1G'],
    [['prune', '--older-than', '30d', 'now'], 64, 'surveillance-receiver: usage: unexpected argument "now"; see --help'],
  ])('%j exits %i and removes nothing', (args, status, message) => {
    const r = cli([...args, '--store', pristine]);
    expect(r).toEqual({ status, stdout: '', stderr: `${message}\n` });
    expect(filesUnder(pristine).filter((n) => n.endsWith('.jpg') && !n.startsWith('.'))).toHaveLength(frames.length);
  });
});

const jpeg = readFileSync(join(FIXTURES, 'jpeg/cjpeg-baseline.jpg'));
const frame = (camera: string, id: string, time: Date) => [encodeHeader({ camera, id, time, length: jpeg.length }), jpeg];

describe('prune next to a live receiver', () => {
  it('a long-running receiver stores into a day folder that prune removed', async () => {
    const store = join(dir.path, 'live');
    mkdirSync(store);
    const receiver = await startReceiver('standalone', store, ['--min-free', '0']);
    try {
      const day = new Date('2026-01-10T10:00:00Z');
      expect((await exchange(receiver.port, frame('gate', 'a1', day))).lines).toEqual(['OK a1 gate/2026-01-10/20260110T100000.000Z_a1.jpg']);
      expect(cli(['prune', '--store', store, '--older-than', '1d']).stdout).toMatch(/^prune: removed 1 frames .* and 1 emptied folder\(s\)\n$/);
      expect(existsSync(join(store, 'gate/2026-01-10'))).toBe(false);
      const later = new Date(day.getTime() + 1000);
      expect((await exchange(receiver.port, frame('gate', 'a2', later))).lines).toEqual(['OK a2 gate/2026-01-10/20260110T100001.000Z_a2.jpg']);
      expect(existsSync(join(store, 'gate/2026-01-10/20260110T100001.000Z_a2.jpg'))).toBe(true);
    } finally {
      await receiver.stop();
    }
  });
});

function canMountTmpfs(): boolean {
  const probe = join(dir.path, 'probe');
  mkdirSync(probe, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.CI) throw new Error('CI must allow mounting a tmpfs (root) for the prune --keep-free test');
    console.warn('skipping the --keep-free test: cannot mount a tmpfs here');
    return false;
  }
}

describe.skipIf(!canMountTmpfs())('prune on a small file system', () => {
  const disk = join(dir.path, 'disk');
  beforeAll(() => {
    mkdirSync(disk, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', disk]);
  });
  afterAll(() => {
    execFileSync('umount', [disk]);
  });

  it('frees space so that a receiver refusing frames (store-full) takes them again', async () => {
    writeStore(disk, [{ camera: 'front', from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-03-01T10:00:00Z'), everyMs: 60_000 }]);
    const free = () => statfsSync(disk).bavail * statfsSync(disk).bsize;
    expect(free()).toBeLessThan(4 * 1024 * 1024);
    const receiver = await startReceiver('standalone', disk, ['--min-free', '4MiB']);
    try {
      const now = new Date();
      const refused = await exchange(receiver.port, frame('front', 'n1', now));
      expect(refused.lines[0]).toMatch(/^ERR \S+ store-full /);

      const r = cli(['prune', '--store', disk, '--keep-free', '5MiB']);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^prune: removed \d+ frames .*to keep 5\.0 MiB free.*\n$/);
      expect(free()).toBeGreaterThanOrEqual(5 * 1024 * 1024);

      expect((await exchange(receiver.port, frame('front', 'n1', now))).lines[0]).toMatch(/^OK n1 front\//);
    } finally {
      await receiver.stop();
    }
  });
});
