import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSurveillanceError, loadOptions, SurveillanceError } from '@surveillance/shared';
import { natsSettings, natsSpec } from '../packages/receiver/src/store/nats/nats-options.ts';
import { localDate } from '../packages/receiver/src/review/time-range.ts';
import { openNatsStore, type NatsStore } from '../packages/receiver/src/store/nats/nats-store.ts';
import type { FrameEntry, FrameMeta, StoredFrame } from '../packages/receiver/src/store/store.ts';
import { operatorSetup } from './helpers/nats-jwt.ts';
import { startNatsCluster, startNatsNode, streamState, type NatsServers } from './helpers/nats.ts';
import { tempDir } from './helpers/receiver.ts';
import { FIXTURE_JPEGS } from './helpers/store-fixture.ts';
import { needTools } from './helpers/tools.ts';

/**
 * The NATS store against real nats-servers: one node, and a 3-node cluster with R=3 where a
 * node is killed in the middle of a delivery. Times are fixed instants, never the clock.
 */

const hasNats = needTools('nats-server');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function open(url: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, create = true): Promise<NatsStore> {
  return openNatsStore(natsSettings(url, loadOptions(natsSpec, args, env).values, env), { create });
}

async function put(store: NatsStore, meta: FrameMeta, data: Uint8Array): Promise<StoredFrame> {
  const w = store.begin(data.length);
  // In pieces, as a socket delivers them.
  for (let i = 0; i < data.length; i += 7000) w.write(data.subarray(i, i + 7000));
  return w.commit(meta);
}

const T0 = Date.UTC(2026, 10, 21, 5, 53, 0, 123);
const meta = (camera: string, i: number, step = 1000): FrameMeta => ({ camera, time: new Date(T0 + i * step), id: `f${i}`, reason: 'motion', score: i / 10 });
const jpeg = (i: number) => FIXTURE_JPEGS[i % FIXTURE_JPEGS.length]!.data;

describe.skipIf(!hasNats)('NATS store, one node', () => {
  let nats: NatsServers;
  beforeAll(async () => {
    nats = await startNatsNode();
  });
  afterAll(async () => nats?.stop());

  it('stores a frame once: OK, then DUP for the resend, with identical bytes back', async () => {
    const store = await open(nats.url('one'));
    try {
      const m = meta('front.door', 1);
      const first = await put(store, m, jpeg(0));
      expect(first).toEqual({ name: 'front.door/2026-11-21/20261121T055301.123Z_f1.jpg', duplicate: false });
      expect(await put(store, m, jpeg(0))).toEqual({ ...first, duplicate: true });
      const data = await store.open(first.name);
      expect(data?.size).toBe(jpeg(0).length);
      expect(data?.time.getTime()).toBe(m.time.getTime());
      expect(sha(await data!.bytes())).toBe(sha(jpeg(0)));
      const streamed: Buffer[] = [];
      for await (const c of data!.stream()) streamed.push(c as Buffer);
      expect(sha(Buffer.concat(streamed))).toBe(sha(jpeg(0)));
      expect(await store.cameras()).toEqual(['front.door']);
      // Reason, score and size: from the day's listing, or read for a frame from elsewhere (a URL).
      const [listed] = await store.frames();
      const fromUrl = store.parseName(first.name)!;
      const mark = { time: m.time, id: m.id, name: first.name, reason: 'motion', score: 0.1 };
      expect(await store.marks([listed!, fromUrl])).toEqual([mark, mark]);
      expect(await store.sizes([listed!, fromUrl])).toEqual([jpeg(0).length, jpeg(0).length]);
      // One object: one chunk and one description in the object stream.
      expect((await streamState(nats.nodes[0]!, 'OBJ_one'))?.messages).toBe(2);
    } finally {
      await store.close();
    }
  });

  it('two receivers given the same frame at once agree on one object and one DUP', async () => {
    const [a, b] = await Promise.all([open(nats.url('race')), open(nats.url('race'))]);
    try {
      for (let i = 0; i < 10; i++) {
        const m = meta('yard', i);
        const results = await Promise.all([put(a, m, jpeg(i)), put(b, m, jpeg(i))]);
        expect(results.map((r) => r.duplicate).sort()).toEqual([false, true]);
        expect(results[0]!.name).toBe(results[1]!.name);
      }
      expect((await a.frames()).map((f) => f.id)).toEqual(Array.from({ length: 10 }, (_, i) => `f${i}`));
      // A fresh receiver later (long after any de-duplication window) still says DUP.
      const c = await open(nats.url('race'));
      expect((await put(c, meta('yard', 3), jpeg(3))).duplicate).toBe(true);
      await c.close();
      expect((await streamState(nats.nodes[0]!, 'OBJ_race'))?.messages).toBe(20);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('lists a day, the latest frame, local days, sizes; remove prunes and the name can be stored again', async () => {
    const store = await open(nats.url('days'));
    try {
      // Three UTC days of camera "gate", two frames each, and one frame of "porch".
      const frames: FrameMeta[] = [];
      for (let d = 0; d < 3; d++) for (let k = 0; k < 2; k++) frames.push({ camera: 'gate', time: new Date(Date.UTC(2026, 2, 10 + d, 6 + 10 * k)), id: `d${d}k${k}` });
      frames.push({ camera: 'porch', time: new Date(Date.UTC(2026, 2, 11, 12)), id: 'p1' });
      for (const [i, m] of frames.entries()) expect((await put(store, m, jpeg(i))).duplicate).toBe(false);

      const day = await store.frames({ camera: 'gate', from: new Date(Date.UTC(2026, 2, 11)), to: new Date(Date.UTC(2026, 2, 12)) });
      expect(day.map((f) => f.id)).toEqual(['d1k0', 'd1k1']);
      expect((await store.frames({ from: new Date(Date.UTC(2026, 2, 11, 10)), to: new Date(Date.UTC(2026, 2, 11, 13)) })).map((f) => f.id)).toEqual(['p1']);
      expect((await store.latest('gate'))?.id).toBe('d2k1');
      expect((await store.latest())?.id).toBe('d2k1');
      expect(await store.cameras()).toEqual(['gate', 'porch']);
      const localDays = (list: FrameMeta[]) => [...new Set(list.filter((f) => f.camera === 'gate').map((f) => localDate(f.time)))].sort();
      expect(await store.days('gate')).toEqual(localDays(frames));
      expect(await store.sizes(day)).toEqual([jpeg(2).length, jpeg(3).length]);

      expect(store.parseName(day[0]!.name)).toEqual(day[0]);
      for (const bad of ['../x.jpg', 'gate/2026-03-11/x.jpg', '.hidden/2026-03-11/20260311T060000.000Z_a.jpg', 'gate/2026-03-12/20260311T060000.000Z_a.jpg']) {
        expect(store.parseName(bad)).toBeUndefined();
      }
      expect(await store.open('gate/2026-03-11/20260311T060000.000Z_nope.jpg')).toBeUndefined();

      const watch = await store.watch();
      const removedSeen = new Promise<FrameEntry[]>((resolve) => watch.on('removed', resolve));
      await store.remove(day);
      await store.remove(day); // already gone: not an error
      expect((await removedSeen).map((f) => f.id).sort()).toEqual(['d1k0', 'd1k1']);
      await watch.close();
      expect(await store.open(day[0]!.name)).toBeUndefined();
      expect(await store.sizes(day)).toEqual([0, 0]);
      expect((await store.frames({ camera: 'gate' })).map((f) => f.id)).toEqual(['d0k0', 'd0k1', 'd2k0', 'd2k1']);
      // The emptied UTC day lost its mark: days() reads no trace of it.
      expect(await store.days('gate')).toEqual(localDays(frames.filter((f) => !f.id.startsWith('d1'))));
      // A pruned frame sent again is stored again, as in the file store.
      expect((await put(store, frames[2]!, jpeg(2))).duplicate).toBe(false);
      expect(await store.freeBytes()).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('watch() reports new frames in batches, not DUPs', async () => {
    const store = await open(nats.url('watch'));
    try {
      const watch = await store.watch();
      const seen: string[] = [];
      const entries: FrameEntry[] = [];
      const got3 = new Promise<void>((resolve) =>
        watch.on('added', (frames) => {
          entries.push(...frames);
          seen.push(...frames.map((f) => f.id));
          if (seen.length >= 3) resolve();
        }),
      );
      for (let i = 0; i < 3; i++) await put(store, meta('lane', i), jpeg(i));
      await put(store, meta('lane', 1), jpeg(1));
      await got3;
      await put(store, meta('lane', 3), jpeg(3));
      await new Promise((r) => setTimeout(r, 300));
      await watch.close();
      expect(seen).toEqual(['f0', 'f1', 'f2', 'f3']);
      // The watch delivered each entry's value: its marks are what the sender gave.
      expect((await store.marks(entries)).map((m) => [m.reason, m.score])).toEqual(entries.map((f) => ['motion', Number(f.id.slice(1)) / 10]));
    } finally {
      await store.close();
    }
  });

  it('a review command does not create a store that does not exist', async () => {
    await expect(open(nats.url('absent'), [], {}, false)).rejects.toMatchObject({ code: 'not-found' });
  });

  it('--nats-max-bytes: a full bucket refuses frames with store-full', async () => {
    const store = await open(nats.url('small'), ['--nats-max-bytes', '40KB']);
    try {
      let error: unknown;
      for (let i = 0; i < 20 && !error; i++) await put(store, meta('cam', i), jpeg(i)).catch((e: unknown) => (error = e));
      expect(isSurveillanceError(error, 'store-full')).toBe(true);
      expect(await store.freeBytes()).toBeLessThan(40_000);
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(!hasNats)('NATS store, credentials', () => {
  let nats: NatsServers;
  const dir = tempDir();
  beforeAll(async () => {
    nats = await startNatsNode({ user: { name: 'cam', password: 's3cret-pass' } });
  });
  afterAll(async () => {
    await nats?.stop();
    dir.remove();
  });

  it('reads the password from the systemd credential, never from the address', async () => {
    const creds = join(dir.path, 'creds');
    mkdirSync(creds);
    writeFileSync(join(creds, 'nats-password'), 's3cret-pass\n');
    const store = await open(nats.url('auth', 'cam'), [], { CREDENTIALS_DIRECTORY: creds });
    expect((await put(store, meta('cam', 1), jpeg(1))).duplicate).toBe(false);
    await store.close();
    expect(() => natsSettings(`nats://cam:s3cret-pass@${nats.hosts}/auth`, loadOptions(natsSpec, [], {}).values, {})).toThrow(/password does not belong in the address/);
    expect(() => natsSettings(nats.url('auth', 'cam'), loadOptions(natsSpec, [], {}).values, {})).toThrow(/needs a password/);
    writeFileSync(join(dir.path, 'wrong'), 'nope');
    const refused = await open(nats.url('auth', 'cam'), ['--nats-password-file', join(dir.path, 'wrong')]).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SurveillanceError);
    expect((refused as SurveillanceError).code).toBe('store-failed');
    expect((refused as Error).message).not.toContain('nope');
  });
});

describe.skipIf(!hasNats)('NATS store, operator mode (accounts and a creds file)', () => {
  let nats: NatsServers;
  const dir = tempDir();
  // Fixed, not the clock: the JWTs carry no expiry, so any issue time is valid.
  const setup = operatorSetup(1_790_000_000);
  beforeAll(async () => {
    nats = await startNatsNode({ extra: setup.config });
  });
  afterAll(async () => {
    await nats?.stop();
    dir.remove();
  });

  it('stores with a creds file (JWT and seed) from the systemd credential nats.creds; a wrong one is refused', async () => {
    const creds = join(dir.path, 'creds');
    mkdirSync(creds);
    writeFileSync(join(creds, 'nats.creds'), setup.creds, { mode: 0o600 });
    const store = await open(nats.url('op'), [], { CREDENTIALS_DIRECTORY: creds });
    expect((await put(store, meta('cam', 1), jpeg(1))).duplicate).toBe(false);
    expect((await store.frames()).map((f) => f.id)).toEqual(['f1']);
    await store.close();
    // Without credentials, and with a user of another operator, the server says no.
    await expect(open(nats.url('op'), ['--nats-timeout', '2s'])).rejects.toMatchObject({ code: 'store-failed' });
    const stranger = operatorSetup(1_790_000_000);
    writeFileSync(join(dir.path, 'stranger.creds'), stranger.creds);
    const refused = await open(nats.url('op'), ['--nats-creds', join(dir.path, 'stranger.creds'), '--nats-timeout', '2s']).catch((e: unknown) => e);
    expect((refused as SurveillanceError).code).toBe('store-failed');
    expect((refused as Error).message).not.toContain(stranger.seed);
  });
});

describe.skipIf(!needTools('nats-server', 'openssl'))('NATS store over TLS', () => {
  let nats: NatsServers;
  const dir = tempDir();
  const ca = join(dir.path, 'cert.pem');
  beforeAll(async () => {
    // A self-signed server certificate for 127.0.0.1, which is its own CA.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir.path, 'key.pem'), '-out', ca, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    nats = await startNatsNode({ extra: `tls { cert_file: "${ca}", key_file: "${join(dir.path, 'key.pem')}" }` });
  });
  afterAll(async () => {
    await nats?.stop();
    dir.remove();
  });

  it('tls:// with --nats-ca stores frames; without the CA the server is not trusted', async () => {
    const url = nats.url('tls').replace('nats://', 'tls://');
    const store = await open(url, ['--nats-ca', ca]);
    expect((await put(store, meta('cam', 1), jpeg(1))).duplicate).toBe(false);
    await store.close();
    await expect(open(url, ['--nats-timeout', '2s'])).rejects.toMatchObject({ code: 'store-failed' });
  });
});

describe.skipIf(!hasNats)('NATS store, 3-node cluster with R=3', () => {
  let nats: NatsServers;
  beforeAll(async () => {
    nats = await startNatsCluster();
  });
  afterAll(async () => nats?.stop());

  it('one node killed mid-delivery and restarted: every OK frame readable, all stored once, byte-identical', async () => {
    const args = ['--nats-replicas', '3', '--nats-timeout', '3s'];
    const receivers = [await open(nats.url('cluster'), args), await open(nats.url('cluster'), args)];
    try {
      const total = 40;
      const acked = new Map<string, string>();
      let failures = 0;
      // The sender's rule: a frame not answered OK or DUP stays in the spool and goes again,
      // here to the other receiver.
      const deliver = async (i: number) => {
        for (let attempt = 0; ; attempt++) {
          try {
            const stored = await put(receivers[(i + attempt) % 2]!, meta('dock', i, 250), jpeg(i));
            acked.set(stored.name, sha(jpeg(i)));
            return;
          } catch (e) {
            if (!isSurveillanceError(e, 'store-failed') || attempt > 100) throw e;
            failures++;
            // The sender backs off before the next try.
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      };
      // Two receivers deliver at once; the node goes down while their commits are in flight.
      const lanes = [0, 1].map(async (lane) => {
        for (let i = lane; i < total; i += 2) await deliver(i);
      });
      const chaos = (async () => {
        while (acked.size < 12) await new Promise((r) => setTimeout(r, 5));
        await nats.nodes[0]!.kill();
        while (acked.size < 28) await new Promise((r) => setTimeout(r, 5));
        await nats.nodes[0]!.start();
      })();
      await Promise.all([...lanes, chaos]);
      expect(acked.size).toBe(total);
      // Stored once: one chunk and one description per frame, and one index entry per frame
      // plus the day's mark, also on the node that was down once it has caught up (until then
      // it may answer reads from behind: nothing acknowledged is lost, it is not there yet).
      const restarted = nats.nodes[0]!;
      const deadline = Date.now() + 30_000;
      // The object stream may hold more: chunks of a put whose description the cluster never
      // took, when the cleanup after it failed too (the node was down); they name no object.
      const caughtUp = async () =>
        ((await streamState(restarted, 'OBJ_cluster'))?.messages ?? 0) >= total * 2 && (await streamState(restarted, 'KV_cluster-index'))?.messages === total + 1;
      while (!(await caughtUp()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect((await streamState(restarted, 'OBJ_cluster'))?.replicas).toBe(3);
      expect(await streamState(restarted, 'KV_cluster-index')).toMatchObject({ messages: total + 1, replicas: 3 });
      // Every OK frame readable, byte-identical, through a client of the restarted node only.
      const reader = await open(`nats://127.0.0.1:${restarted.port}/cluster`, args);
      try {
        const listed = await reader.frames({ camera: 'dock' });
        expect(listed.map((f) => f.name).sort()).toEqual([...acked.keys()].sort());
        for (const f of listed) expect(sha(await (await reader.open(f.name))!.bytes())).toBe(acked.get(f.name));
      } finally {
        await reader.close();
      }
      console.log(`cluster delivery: ${failures} commit(s) failed while the node was down and went again`);
    } finally {
      await Promise.all(receivers.map((r) => r.close()));
    }
  });

  it('creating the buckets waits past --nats-timeout until they have leaders, and then takes frames at once', async () => {
    // A new replicated stream is answered once its replicas have chosen a leader, which here
    // takes longer than 100 ms: a create that times out is asked again, and the open returns
    // only once both streams have a leader, so that the first frame is not refused.
    const args = ['--nats-replicas', '3', '--nats-timeout', '100ms'];
    const store = await open(nats.url('slow'), args);
    try {
      expect(await streamState(nats.nodes[0]!, 'OBJ_slow')).toMatchObject({ replicas: 3 });
      expect(await streamState(nats.nodes[0]!, 'KV_slow-index')).toMatchObject({ replicas: 3 });
      expect((await put(store, meta('cam', 1), jpeg(1))).duplicate).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('--nats-replicas must match the bucket', async () => {
    await (await open(nats.url('r3'), ['--nats-replicas', '3'])).close();
    await expect(open(nats.url('r3'), ['--nats-replicas', '1'])).rejects.toMatchObject({ code: 'usage', message: expect.stringMatching(/keeps 3 replica/) });
  });

  it('the cluster unreachable: commit rejects with store-failed (the receiver answers ERR store-failed)', async () => {
    const store = await open(nats.url('down'), ['--nats-replicas', '3', '--nats-timeout', '1s']);
    try {
      expect((await put(store, meta('cam', 1), jpeg(1))).duplicate).toBe(false);
      await Promise.all(nats.nodes.map((n) => n.kill()));
      await expect(put(store, meta('cam', 2), jpeg(2))).rejects.toMatchObject({ code: 'store-failed' });
      await expect(open(nats.url('down'), ['--nats-timeout', '1s'])).rejects.toMatchObject({ code: 'store-failed' });
    } finally {
      await store.close();
    }
  });
});
