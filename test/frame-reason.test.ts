import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeHeader, parseHeader } from '@surveillance/shared';
import { parseSpoolName, Spool } from '../packages/sender/src/spool.ts';
import { FIXTURES, tempDir } from './helpers/receiver.ts';

const JPEG = readFileSync(join(FIXTURES, 'jpeg/cjpeg-baseline.jpg'));
const TIME = new Date('2026-11-21T05:53:00.123Z');
const line = (h: Parameters<typeof encodeHeader>[0]) => encodeHeader(h).toString('ascii').trimEnd();

describe('reason= and score= in the frame header', () => {
  it('round-trip, and are left out when the sender does not know them', () => {
    const h = { camera: 'front', id: 'a-1', time: TIME, length: 10, reason: 'motion' as const, score: 0.012345678 };
    expect(line(h)).toBe('SVF1 camera=front id=a-1 time=2026-11-21T05:53:00.123Z length=10 reason=motion score=0.012346');
    expect(parseHeader(line(h))).toEqual({ ...h, score: 0.012346 });
    expect(line({ camera: 'front', id: 'a-1', time: TIME, length: 10 })).not.toMatch(/reason|score/);
    expect(line({ ...h, score: 1e-9 })).toMatch(/ score=0$/);
  });

  it('a reason this receiver does not know counts as motion (no reason); bad values are refused with the key named', () => {
    const base = 'SVF1 camera=front id=a-1 time=2026-11-21T05:53:00.123Z length=10';
    expect(parseHeader(`${base} reason=person`).reason).toBeUndefined();
    expect(() => parseHeader(`${base} reason=MOTION`)).toThrow(/reason "MOTION"/);
    expect(() => parseHeader(`${base} score=-1`)).toThrow(/score "-1"/);
    expect(() => parseHeader(`${base} score=1e5`)).toThrow(/score/);
    expect(() => parseHeader(`${base} score=NaN`)).toThrow(/score/);
  });

  it('the receiver of the previous release (before these keys) takes a header that carries them', async () => {
    // The parser as released before reason=/score= existed, taken from git history.
    const dir = tempDir('old-protocol-');
    try {
      const rev = '1ee087c';
      for (const f of ['protocol.ts', 'errors.ts']) {
        writeFileSync(join(dir.path, f), execFileSync('git', ['show', `${rev}:packages/shared/src/${f}`], { cwd: join(import.meta.dirname, '..') }));
      }
      const old = (await import(pathToFileURL(join(dir.path, 'protocol.ts')).href)) as typeof import('../packages/shared/src/protocol.ts');
      const h = { camera: 'front', id: 'a-1', time: TIME, length: 10, reason: 'heartbeat' as const, score: 0.5 };
      expect(old.parseHeader(line(h))).toEqual({ camera: 'front', id: 'a-1', time: TIME, length: 10 });
    } finally {
      dir.remove();
    }
  });
});

describe('the spool keeps reason and score across restarts', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir('spool-reason-');
  });
  afterEach(() => tmp.remove());
  const open = () => new Spool({ dir: tmp.path, maxFiles: 100, maxBytes: 1 << 30 }).open();

  it('in the name, read back by a new process', () => {
    const added = open().add(JPEG, { camera: 'front.porch_2', time: TIME, reason: 'motion', score: 0.25 });
    expect(added.name).toMatch(/^1795240380123_[0-9a-z]+-[0-9a-f]{8}_front\.porch_2@motion=0\.25\.jpg$/);
    const again = open().oldest()!;
    expect(again).toEqual({ ...added });
    expect(again).toMatchObject({ camera: 'front.porch_2', reason: 'motion', score: 0.25 });
    open().add(JPEG, { camera: 'c', time: new Date(TIME.getTime() + 1), reason: 'heartbeat' });
    expect(readdirSync(join(tmp.path, 'queue')).sort()[1]).toMatch(/_c@heartbeat\.jpg$/);
  });

  it('an entry spooled by an older sender (no @reason) still delivers, without a reason', () => {
    mkdirSync(join(tmp.path, 'queue'), { recursive: true });
    const oldName = '1795240380123_mi2x3k-0a1b2c3d_front.jpg';
    writeFileSync(join(tmp.path, 'queue', oldName), JPEG);
    const frame = open().oldest()!;
    expect(frame).toEqual({ name: oldName, camera: 'front', id: 'mi2x3k-0a1b2c3d', time: TIME, bytes: JPEG.length });
    expect(parseSpoolName('1795240380123_x_front@bogus.jpg')).toBeUndefined();
  });
});
