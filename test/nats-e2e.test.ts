import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOptions } from '@surveillance/shared';
import { natsSettings, natsSpec } from '../packages/receiver/src/store/nats/nats-options.ts';
import { openNatsStore } from '../packages/receiver/src/store/nats/nats-store.ts';
import { startNatsCluster, startNatsNode, streamState } from './helpers/nats.ts';
import { startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { cli, ensureBuilt } from './helpers/review-cli.ts';
import { makeFrames, spooled, startSender, waitFor, writeAtomically, type RunningSender } from './helpers/sender.ts';
import { needTools } from './helpers/tools.ts';

/**
 * The built receiver and sender with a NATS store: every receiver mode on one node, then two
 * senders through two receivers into a 3-node cluster while a node is killed and restarted.
 */

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const FAST = ['--interval', '50ms', '--retry-min', '50ms', '--retry-max', '300ms', '--timeout', '5s', '--log-level', 'debug'];

describe.skipIf(!needTools('nats-server', 'systemd-socket-activate', 'ffmpeg'))('receivers on NATS', () => {
  const tmp = tempDir('nats-e2e-');
  let frames: Buffer[];
  const started: { stop: () => Promise<unknown> }[] = [];
  const track = <T extends { stop: () => Promise<unknown> }>(x: T): T => (started.push(x), x);

  beforeAll(() => {
    ensureBuilt();
    frames = makeFrames(join(tmp.path, 'frames'), 10);
  });
  afterAll(async () => {
    for (const s of started.reverse()) await s.stop();
    tmp.remove();
  });

  it('every receiver mode stores into NATS: OK once, DUP from any other mode; ERR store-failed when NATS is down', async () => {
    const nats = track(await startNatsNode());
    const url = nats.url('modes');
    const receivers: RunningReceiver[] = [];
    for (const mode of ['inetd', 'listener', 'standalone'] as const) receivers.push(track(await startReceiver(mode, url)));
    const file = join(tmp.path, 'one.jpg');
    writeAtomically(file, frames[0]!);
    const answers: string[] = [];
    for (const r of receivers) {
      const s = startSender(['send', '--to', `127.0.0.1:${r.port}`, '--camera', 'hall', file]);
      let out = '';
      s.process.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      expect(await s.exited).toBe(0);
      answers.push(out.trim().split(': ').slice(1).join(': ').split(' ')[0]!);
    }
    // The sender gives each file the same id (from its bytes and time): one OK, then DUPs.
    expect(answers).toEqual(['OK', 'DUP', 'DUP']);
    const listed = cli(['list', '--store', url, '--json', '--since', '3650d']);
    expect(listed.stdout.trim().split('\n')).toHaveLength(1);

    await nats.stop();
    const down = startSender(['send', '--to', `127.0.0.1:${receivers[0]!.port}`, '--camera', 'hall', '--timeout', '20s', file]);
    let out = '';
    down.process.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    expect(await down.exited).not.toBe(0);
    expect(out + down.stderr()).toMatch(/store-failed/);
    // The fd-3 listener does not act on SIGTERM under systemd-socket-activate here (it exits
    // when idle, as with the file store); these are done, so they go now.
    for (const r of receivers) r.process.kill('SIGKILL');
  });

  it('two senders through two receivers into a 3-node cluster, a node killed mid-delivery: all frames once, byte-identical', async () => {
    const nats = track(await startNatsCluster());
    const url = nats.url('site');
    const args = ['--nats-replicas', '3', '--nats-timeout', '3s'];
    const r1 = track(await startReceiver('standalone', url, args));
    const r2 = track(await startReceiver('standalone', url, args));
    const senders = new Map<string, RunningSender>();
    const watchers = ['north', 'south'].map((camera, k) => {
      const dir = join(tmp.path, camera);
      mkdirSync(dir, { recursive: true });
      const file = join(dir, 'monitor.jpg');
      const spool = join(dir, 'spool');
      // Frames shown to the running sender (a new one counts its own).
      let shown = 0;
      const start = (port: number) => {
        shown = 0;
        senders.set(camera, track(startSender(['watch', '--file', file, '--to', `127.0.0.1:${port}`, '--spool', spool, '--camera', camera, ...FAST])));
      };
      start(k === 0 ? r1.port : r2.port);
      return {
        camera,
        spool,
        start,
        show: async (i: number) => {
          writeAtomically(file, frames[i]!);
          const want = ++shown;
          const s = senders.get(camera)!;
          await s.waitForLog(() => s.log().filter((l) => l.msg === 'frame spooled').length >= want, `${camera} frame ${i} spooled`);
        },
      };
    });
    for (let i = 0; i < frames.length; i++) {
      if (i === 3) await nats.nodes[1]!.kill();
      if (i === 5) {
        // Failover: north's sender now delivers through the other receiver, same spool.
        await senders.get('north')!.stop();
        watchers[0]!.start(r2.port);
      }
      if (i === 7) await nats.nodes[1]!.start();
      await Promise.all(watchers.map((w) => w.show(i)));
    }
    await waitFor(() => watchers.every((w) => spooled(w.spool).length === 0), 'both spools to empty', 60_000);

    const restarted = nats.nodes[1]!;
    await waitFor(async () => (await streamState(restarted, 'KV_site-index'))?.messages === 2 * frames.length + 2, 'the restarted node to catch up', 30_000);
    const env = {};
    const reader = await openNatsStore(natsSettings(`nats://127.0.0.1:${restarted.port}/site`, loadOptions(natsSpec, args, env).values, env), { create: false });
    try {
      const want = new Set(frames.map(sha));
      for (const camera of ['north', 'south']) {
        const listed = await reader.frames({ camera });
        const hashes = await Promise.all(listed.map(async (f) => sha(await (await reader.open(f.name))!.bytes())));
        expect(hashes.length).toBe(frames.length);
        expect(new Set(hashes)).toEqual(want);
      }
    } finally {
      await reader.close();
    }
    const stored = [r1, r2].flatMap((r) => r.stderr().split('\n').filter((l) => l.includes('"msg":"stored"')));
    const duplicates = [r1, r2].flatMap((r) => r.stderr().split('\n').filter((l) => l.includes('"msg":"duplicate"')));
    console.log(`cluster e2e: ${stored.length} stored, ${duplicates.length} DUP across two receivers`);
    // Longer than the waits above (60 s + 30 s) plus start-up: the global 60 s cut the test
    // off in a loaded full run (it takes about 11 s alone) before any of them could say which
    // step was slow. A stuck step still fails, by name, at its own wait.
  }, 150_000);
});

