import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCompleteJpeg, type Logger } from '@surveillance/shared';
import { parseSpoolName, Spool, spoolStats } from '../packages/sender/src/spool.ts';
import { FIXTURES, tempDir } from './helpers/receiver.ts';

const JPEG = readFileSync(join(FIXTURES, 'jpeg/cjpeg-baseline.jpg'));

/** A logger that keeps what it was told, to check what the user would read. */
function recordingLogger() {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (a: unknown, b?: string) =>
    lines.push(typeof a === 'string' ? { level, msg: a, fields: {} } : { level, msg: b ?? '', fields: a as Record<string, unknown> });
  return { lines, log: { warn: at('warn'), info: at('info'), debug: at('debug'), error: at('error') } as unknown as Logger };
}

describe('Spool', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir('sender-spool-');
  });
  afterEach(() => tmp.remove());

  const open = (limits: { maxFiles?: number; maxBytes?: number } = {}, log?: Logger) =>
    new Spool({ dir: tmp.path, maxFiles: limits.maxFiles ?? 100, maxBytes: limits.maxBytes ?? 100 * 1024 * 1024, log }).open();

  it('writes a frame whole into queue/, its metadata in the name, nothing left in tmp/', () => {
    const spool = open();
    const time = new Date('2026-11-21T05:53:00.123Z');
    const frame = spool.add(JPEG, { camera: 'front', time });
    const names = readdirSync(join(tmp.path, 'queue'));
    expect(names).toEqual([frame.name]);
    expect(frame.name).toMatch(/^1795240380123_[0-9a-z]+-[0-9a-f]{8}_front\.jpg$/);
    expect(parseSpoolName(frame.name)).toEqual({ name: frame.name, camera: 'front', id: frame.id, time });
    expect(readFileSync(join(tmp.path, 'queue', frame.name))).toEqual(JPEG);
    expect(readdirSync(join(tmp.path, 'tmp'))).toEqual([]);
  });

  it('gives every frame its own id, even frames captured in the same millisecond', () => {
    const spool = open();
    const time = new Date();
    const ids = new Set(Array.from({ length: 50 }, () => spool.add(JPEG, { camera: 'c', time }).id));
    expect(ids.size).toBe(50);
  });

  it('hands frames out oldest capture first, also after reopening, and forgets delivered ones', () => {
    const spool = open();
    const times = [3, 1, 2].map((s) => new Date(Date.UTC(2026, 10, 21, 5, 0, s)));
    for (const time of times) spool.add(JPEG, { camera: 'c', time });
    expect(spool.oldest()!.time).toEqual(times[1]);
    const again = open();
    expect(again.count).toBe(3);
    expect(spoolStats(tmp.path).bytes).toBe(3 * JPEG.length);
    const first = again.oldest()!;
    again.remove(first);
    expect(again.oldest()!.time).toEqual(times[2]);
    expect(existsSync(join(tmp.path, 'queue', first.name))).toBe(false);
  });

  it("clears files killed senders were writing, not a live sender's, and ignores foreign files in the queue", () => {
    mkdirSync(join(tmp.path, 'tmp'), { recursive: true });
    mkdirSync(join(tmp.path, 'queue'), { recursive: true });
    // Above the largest pid Linux hands out (pid_max is at most 2^22): a process that is gone.
    writeFileSync(join(tmp.path, 'tmp', `${2 ** 22 + 1}-1.part`), JPEG.subarray(0, 100));
    // The parent of this test process stands for another sender on the same spool.
    writeFileSync(join(tmp.path, 'tmp', `${process.ppid}-1.part`), JPEG.subarray(0, 100));
    writeFileSync(join(tmp.path, 'queue', 'notes.txt'), 'hello');
    const spool = open();
    expect(readdirSync(join(tmp.path, 'tmp'))).toEqual([`${process.ppid}-1.part`]);
    expect(spool.count).toBe(0);
  });

  it('clears what a dead sender with our pid left (the same pid after a reboot), and spools past it', () => {
    mkdirSync(join(tmp.path, 'tmp'), { recursive: true });
    const leftovers = Array.from({ length: 20 }, (_, i) => `${process.pid}-${i + 1}.part`);
    for (const name of leftovers) writeFileSync(join(tmp.path, 'tmp', name), JPEG.subarray(0, 100));
    const spool = open();
    expect(readdirSync(join(tmp.path, 'tmp'))).toEqual([]);
    for (let i = 0; i < 20; i++) spool.add(JPEG, { camera: 'c', time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) });
    expect(spool.count).toBe(20);
  });

  it.each<[string, { maxFiles?: number; maxBytes?: number }, number]>([
    ['frames', { maxFiles: 3 }, 3],
    ['bytes', { maxBytes: JPEG.length * 2 + 10 }, 2],
  ])('drops the oldest frames beyond its limit in %s, never the new one, saying so once and once when it has room again', (_what, limits, kept) => {
    const { lines, log } = recordingLogger();
    const spool = open(limits, log);
    const added = Array.from({ length: 5 }, (_, i) => spool.add(JPEG, { camera: 'c', time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) }));
    expect(readdirSync(join(tmp.path, 'queue')).sort()).toEqual(added.slice(-kept).map((f) => f.name));
    expect(spool.count).toBe(kept);
    expect(lines).toEqual([
      {
        level: 'warn',
        msg: `spool full (limits ${limits.maxFiles ?? 100} frames, ${limits.maxBytes ?? 100 * 1024 * 1024} bytes): dropping the oldest undelivered frames to make room for new ones, until it has room again`,
        fields: expect.objectContaining({ cause: 'limits', oldestDropped: added[0]!.time.toISOString() }),
      },
    ]);
    // A receiver as slow as the camera: the spool hovers at its limit, nothing more to say.
    for (let i = 5; i < 8; i++) {
      spool.remove(spool.oldest()!);
      spool.add(JPEG, { camera: 'c', time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) });
    }
    expect(lines).toHaveLength(1);
    while (spool.count > 0) spool.remove(spool.oldest()!);
    spool.add(JPEG, { camera: 'c', time: new Date(Date.UTC(2026, 0, 1, 0, 0, 9)) });
    expect(lines.slice(1)).toEqual([
      {
        level: 'info',
        msg: `spool has room again: ${5 - kept} undelivered frame(s) were dropped, captured from ${added[0]!.time.toISOString()} to ${added[4 - kept]!.time.toISOString()}`,
        fields: expect.objectContaining({ dropped: 5 - kept }),
      },
    ]);
  });

  it('reports dropping once across processes too (a restart, the next `once` run), and counts all in the end', () => {
    const { lines, log } = recordingLogger();
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    const first = open({ maxFiles: 2 }, log);
    for (let s = 0; s < 3; s++) first.add(JPEG, { camera: 'c', time: at(s) });
    const next = open({ maxFiles: 2 }, log);
    next.add(JPEG, { camera: 'c', time: at(3) });
    expect(lines.map((l) => l.level)).toEqual(['warn']);
    while (next.count > 0) next.remove(next.oldest()!);
    open({ maxFiles: 2 }, log).add(JPEG, { camera: 'c', time: at(4) });
    expect(lines.slice(1).map((l) => l.msg)).toEqual([`spool has room again: 2 undelivered frame(s) were dropped, captured from ${at(0).toISOString()} to ${at(1).toISOString()}`]);
    expect(existsSync(join(tmp.path, 'dropping.json'))).toBe(false);
  });

  it('moves a rejected frame aside and keeps only the latest 50 there', () => {
    const spool = open();
    for (let i = 0; i < 55; i++) spool.reject(spool.add(JPEG, { camera: 'c', time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) }));
    expect(spool.count).toBe(0);
    const rejected = readdirSync(join(tmp.path, 'rejected')).sort();
    expect(rejected).toHaveLength(50);
    expect(parseSpoolName(rejected[0]!)!.time).toEqual(new Date(Date.UTC(2026, 0, 1, 0, 0, 5)));
  });

  it('keeps the last chosen frame as the reference, with its capture time', () => {
    const spool = open();
    expect(spool.readReference()).toBeUndefined();
    const time = new Date('2026-11-21T05:53:00.000Z');
    const frame = spool.add(JPEG, { camera: 'c', time });
    spool.setReference(frame);
    spool.remove(frame); // delivery does not take the reference away
    const reference = spool.readReference()!;
    expect(reference.time).toEqual(time);
    expect(isCompleteJpeg(reference.jpeg)).toBe(true);
  });

  it('reports backlog, rejected frames and the last acknowledged frame for status', () => {
    const spool = open();
    const a = spool.add(JPEG, { camera: 'c', time: new Date(Date.UTC(2026, 0, 1)) });
    spool.add(JPEG, { camera: 'c', time: new Date(Date.UTC(2026, 0, 2)) });
    spool.reject(spool.add(JPEG, { camera: 'c', time: new Date(Date.UTC(2026, 0, 3)) }));
    spool.recordSent({ id: a.id, camera: 'c', time: a.time.toISOString(), stored: 'c/x.jpg', status: 'OK', acknowledgedAt: '2026-01-01T00:00:01.000Z' });
    expect(spoolStats(tmp.path)).toEqual({
      files: 2,
      bytes: 2 * JPEG.length,
      oldest: new Date(Date.UTC(2026, 0, 1)),
      newest: new Date(Date.UTC(2026, 0, 2)),
      rejected: 1,
      lastSent: { id: a.id, camera: 'c', time: a.time.toISOString(), stored: 'c/x.jpg', status: 'OK', acknowledgedAt: '2026-01-01T00:00:01.000Z' },
    });
    expect(spoolStats(join(tmp.path, 'never-created'))).toMatchObject({ files: 0, rejected: 0 });
  });
});

/** Mounting a small file system needs root; like needTools, skipped on a developer's machine only. */
function canMount(): boolean {
  if (process.getuid?.() === 0) return true;
  if (process.env.CI) throw new Error('the full-disk spool tests mount a tmpfs and need root');
  console.warn('skipping the full-disk spool tests: they mount a tmpfs and need root');
  return false;
}

/** Writes a file until the file system says it is full. */
function fillUp(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(!canMount())('Spool on a file system that fills up before its limits', () => {
  let tmp: ReturnType<typeof tempDir>;
  let spoolDir: string;
  beforeEach(() => {
    tmp = tempDir('sender-spool-full-');
    spoolDir = join(tmp.path, 'mnt');
    mkdirSync(spoolDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'spool-test', spoolDir]);
  });
  afterEach(() => {
    execFileSync('umount', [spoolDir]);
    tmp.remove();
  });
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

  it('drops the oldest frames for the new one, saying so once, and once when it has room again', () => {
    const { lines, log } = recordingLogger();
    const spool = new Spool({ dir: spoolDir, maxFiles: 100, maxBytes: 100 * 1024 * 1024, log }).open();
    const old = [0, 1, 2].map((s) => spool.add(JPEG, { camera: 'c', time: at(s) }));
    fillUp(join(spoolDir, 'filler'));

    const newest = spool.add(JPEG, { camera: 'c', time: at(10) });
    const newer = spool.add(JPEG, { camera: 'c', time: at(11) });
    expect(readdirSync(join(spoolDir, 'queue')).sort()).toEqual([old[2]!.name, newest.name, newer.name]);
    expect(readFileSync(join(spoolDir, 'queue', newer.name))).toEqual(JPEG);
    expect(readdirSync(join(spoolDir, 'tmp'))).toEqual([]);
    expect(lines).toEqual([
      {
        level: 'warn',
        msg: `the file system of ${spoolDir} is full: dropping the oldest undelivered frames to make room for new ones, until it has room again`,
        fields: expect.objectContaining({ cause: 'disk-full', oldestDropped: old[0]!.time.toISOString() }),
      },
    ]);

    rmSync(join(spoolDir, 'filler'));
    spool.add(JPEG, { camera: 'c', time: at(12) });
    expect(lines.slice(1).map((l) => [l.level, l.msg])).toEqual([
      ['info', `spool has room again: 2 undelivered frame(s) were dropped, captured from ${old[0]!.time.toISOString()} to ${old[1]!.time.toISOString()}`],
    ]);
  });

  it('refuses a frame with store-full only when there is nothing left to drop, leaving no temporary file', () => {
    const spool = new Spool({ dir: spoolDir, maxFiles: 100, maxBytes: 100 * 1024 * 1024 }).open();
    fillUp(join(spoolDir, 'filler'));
    expect(() => spool.add(JPEG, { camera: 'c', time: at(0) })).toThrow(expect.objectContaining({ code: 'store-full' }));
    expect(readdirSync(join(spoolDir, 'tmp'))).toEqual([]);
    expect(spool.count).toBe(0);
  });

  it('takes a failure to note the last frame sent in its stride: a warning, once, no temporary file', () => {
    const { lines, log } = recordingLogger();
    const spool = new Spool({ dir: spoolDir, maxFiles: 100, maxBytes: 100 * 1024 * 1024, log }).open();
    fillUp(join(spoolDir, 'filler'));
    const last = { id: 'a-1', camera: 'c', time: at(0).toISOString(), stored: 'c/x.jpg', status: 'OK' as const, acknowledgedAt: at(1).toISOString() };
    spool.recordSent(last);
    spool.recordSent(last);
    expect(readdirSync(join(spoolDir, 'tmp'))).toEqual([]);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([['warn', `cannot note the last frame sent in ${spoolDir} (for status): ENOSPC: no space left on device, write`]]);
  });
});
