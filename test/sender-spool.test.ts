import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
    expect(again.bytes).toBe(3 * JPEG.length);
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

  it.each([
    ['frames', { maxFiles: 3 }, 3],
    ['bytes', { maxBytes: JPEG.length * 2 + 10 }, 2],
  ])('drops the oldest frames beyond its limit in %s, with a warning, never the new one', (_what, limits, kept) => {
    const { lines, log } = recordingLogger();
    const spool = open(limits, log);
    const added = Array.from({ length: 5 }, (_, i) => spool.add(JPEG, { camera: 'c', time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) }));
    expect(readdirSync(join(tmp.path, 'queue')).sort()).toEqual(added.slice(-kept).map((f) => f.name));
    expect(spool.count).toBe(kept);
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(5 - kept);
    expect(warnings[0]!.msg).toMatch(/^spool full \(limits \d+ frames, \d+ bytes\): dropped the 1 oldest undelivered frame\(s\)$/);
    expect(warnings[0]!.fields.oldestDropped).toBe(added[0]!.time.toISOString());
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
