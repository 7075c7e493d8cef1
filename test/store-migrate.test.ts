import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes as fmt, loadOptions } from '@surveillance/shared';
import { migrate } from '../packages/receiver/src/store/migrate.ts';
import { natsSettings, natsSpec } from '../packages/receiver/src/store/nats/nats-options.ts';
import { openNatsStore, type NatsStore } from '../packages/receiver/src/store/nats/nats-store.ts';
import { FileStore } from '../packages/receiver/src/store/file-store.ts';
import type { FrameIndex, FrameReason, Store } from '../packages/receiver/src/store/store.ts';
import { startNatsNode, type NatsServers } from './helpers/nats.ts';
import { cli, ensureBuilt } from './helpers/review-cli.ts';
import { FIXTURE_JPEGS, storeTempDir, writeStore, type Series } from './helpers/store-fixture.ts';
import { needTools } from './helpers/tools.ts';

/** Migration between stores: every frame arrives byte-identical, and running it again copies nothing. */

const hasNats = needTools('nats-server');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function openNats(url: string): Promise<NatsStore> {
  const env = {};
  return openNatsStore(natsSettings(url, loadOptions(natsSpec, [], env).values, env), { create: true });
}

/** name -> sha256 of every frame in a store. */
async function hashes(store: FrameIndex): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await store.frames()) out.set(f.name, sha(await (await store.open(f.name))!.bytes()));
  return out;
}

describe.skipIf(!hasNats)('migrate', () => {
  let nats: NatsServers;
  beforeAll(async () => {
    nats = await startNatsNode();
  });
  afterAll(async () => nats?.stop());

  it('copies a store into another and back, idempotently, byte-identical', async () => {
    const [a, b, c] = await Promise.all([openNats(nats.url('a')), openNats(nats.url('b')), openNats(nats.url('c'))]);
    try {
      // Two cameras over three UTC days, so that local days and day marks both matter.
      for (let i = 0; i < 30; i++) {
        const w = a.begin();
        w.write(FIXTURE_JPEGS[i % FIXTURE_JPEGS.length]!.data);
        await w.commit({ camera: i % 3 ? 'front' : 'back.yard', time: new Date(Date.UTC(2026, 2, 28, 20) + i * 2 * 3600_000), id: `m${i}` });
      }
      const ticks: number[] = [];
      const first = await migrate(a, b, { start: (n) => ticks.push(n), tick: () => ticks.push(-1) });
      expect(first).toMatchObject({ copied: 30, duplicates: 0, vanished: 0 });
      expect(ticks[0]).toBe(30);
      expect(ticks.filter((t) => t === -1)).toHaveLength(30);
      expect(await migrate(a, b)).toMatchObject({ copied: 0, duplicates: 30 });
      expect(await migrate(b, c)).toMatchObject({ copied: 30 });
      const original = await hashes(a);
      expect(original.size).toBe(30);
      expect(await hashes(b)).toEqual(original);
      expect(await hashes(c)).toEqual(original);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it('surveillance-receiver migrate: file store -> NATS -> file store gives identical frames; again copies nothing', async () => {
    ensureBuilt();
    const dir = storeTempDir('migrate-');
    try {
      // Across the spring clock change, two cameras.
      const series: Series[] = [
        { camera: 'front', from: new Date('2026-03-28T10:00:00.250Z'), to: new Date('2026-03-30T10:00:00Z'), everyMs: 3600_000 },
        { camera: 'back-yard', from: new Date('2026-03-28T00:00:00Z'), to: new Date('2026-03-30T00:00:00Z'), everyMs: 4 * 3600_000 },
      ];
      const source = join(dir.path, 'source');
      const back = join(dir.path, 'back');
      const frames = writeStore(source, series);
      const url = nats.url('cli');
      const there = cli(['migrate', '--from', source, '--to', url]);
      expect(there.stderr).toBe('');
      expect(there.stdout).toBe(`${frames.length} frames copied (${fmt(frames.reduce((n, f) => n + f.bytes, 0))}), 0 already in ${url}\n`);
      expect(cli(['migrate', '--from', source, '--to', url]).stdout).toBe(`0 frames copied (0 B), ${frames.length} already in ${url}\n`);
      // The review commands read the NATS store as they read the folder.
      const names = (store: string) => cli(['list', '--store', store, '--json', '--from', '2026-03-01', '--to', '2026-04-01']).stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { name: string }).name);
      expect(names(url)).toEqual(frames.map((f) => f.name));
      expect(cli(['migrate', '--from', url, '--to', back]).stdout).toMatch(new RegExp(`^${frames.length} frames copied`));
      expect(names(back)).toEqual(frames.map((f) => f.name));
      for (const f of frames) expect(sha(readFileSync(join(back, f.name)))).toBe(sha(readFileSync(join(source, f.name))));
      const same = cli(['migrate', '--from', url, '--to', url]);
      expect(same.status).toBe(64);
      expect(same.stderr).toMatch(/same store/);
      const missing = cli(['migrate', '--from', nats.url('nothing-here'), '--to', back]);
      expect(missing.stderr).toMatch(/does not exist/);
    } finally {
      dir.remove();
    }
  });

  it('carries reason and score: file store -> NATS -> file store tell the same events', async () => {
    const dir = storeTempDir('migrate-marks-');
    const source = new FileStore({ root: join(dir.path, 'source') }).prepare();
    const back = new FileStore({ root: join(dir.path, 'back') }).prepare();
    const target = await openNats(nats.url('marks'));
    const stores: Store[] = [source, target, back];
    try {
      // Bursts a minute apart in steps of 5 s, heartbeats between them (which start no event),
      // over two cameras and the UTC midnight; a frame without a reason counts as motion.
      const start = Date.UTC(2026, 10, 20, 23, 50);
      const reasons: (FrameReason | undefined)[] = ['first', 'motion', 'motion', undefined, 'heartbeat', 'heartbeat'];
      for (let i = 0; i < 240; i++) {
        const reason = reasons[Math.floor(i / 4) % reasons.length];
        const w = source.begin();
        w.write(FIXTURE_JPEGS[i % FIXTURE_JPEGS.length]!.data);
        await w.commit({
          camera: i % 5 ? 'front' : 'back.yard',
          time: new Date(start + i * 5_000),
          id: `e${i}`,
          ...(reason ? { reason } : {}),
          ...(reason === 'motion' || reason === 'first' ? { score: (i % 17) / 16 } : {}),
        });
      }
      expect(await migrate(source, target)).toMatchObject({ copied: 240 });
      expect(await migrate(target, back)).toMatchObject({ copied: 240 });
      const query = { gapMs: 12_000, now: new Date(start + 3600_000) };
      const [a, b, c] = await Promise.all(stores.map((s) => s.events(query)));
      expect(a.length).toBeGreaterThan(10);
      expect(a.some((e) => e.cover.score !== undefined && e.cover.score > 0)).toBe(true);
      expect(b).toEqual(a);
      expect(c).toEqual(a);
      // Frame by frame too, heartbeats and all.
      const all = await source.frames();
      const marks = await source.marks(all);
      expect(marks.filter((m) => m.reason === 'heartbeat')).toHaveLength(80);
      expect(await target.marks(await target.frames())).toEqual(marks);
      expect(await back.marks(await back.frames())).toEqual(marks);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      dir.remove();
    }
  });
});
