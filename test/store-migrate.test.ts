import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOptions } from '@surveillance/shared';
import { migrate } from '../packages/receiver/src/store/migrate.ts';
import { natsSettings, natsSpec } from '../packages/receiver/src/store/nats/nats-options.ts';
import { openNatsStore, type NatsStore } from '../packages/receiver/src/store/nats/nats-store.ts';
import type { FrameIndex } from '../packages/receiver/src/store/store.ts';
import { startNatsNode, type NatsServers } from './helpers/nats.ts';
import { FIXTURE_JPEGS } from './helpers/store-fixture.ts';
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
});
