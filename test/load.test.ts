import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCamera } from './helpers/load.ts';
import { Container, needContainers } from './helpers/nspawn.ts';
import { cleanEnv, freePort, ROOT, tempDir } from './helpers/receiver.ts';
import { makeFrames, storedFrames } from './helpers/sender.ts';

/**
 * Load on the real units under a real systemd manager (helpers/nspawn.ts): 64 cameras send 100
 * frames each, all at once, first to surveillance.socket (a receiver per connection, at most 8
 * per source address), then to the listener pair. Every frame is stored once, the socket
 * never fails, and the per-source limit refuses connections without failing the socket.
 */

const CAMERAS = 64;
const FRAMES = 100;
const STORE = 'var/lib/surveillance';
const INSTALL = join(ROOT, 'scripts/install-receiver-units.sh');

function install(args: string[]): void {
  const r = spawnSync('bash', [INSTALL, ...args], { env: cleanEnv(), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`install-receiver-units.sh ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
}

describe.skipIf(!needContainers())('load: 64 cameras x 100 frames at once', () => {
  let box: Container;
  let jpeg: Buffer;
  const tmp = tempDir('load-');
  const figures: string[] = [];

  beforeAll(async () => {
    // A small real JPEG (160x120, about 4 kB): the load is in connections and frames, not bytes.
    jpeg = makeFrames(join(tmp.path, 'frames'), 1, '160x120')[0]!;
    const port = await freePort();
    box = await Container.boot({ ownDirs: ['/usr/local'], prepare: (root) => install(['--root', root, '--open', '--port', String(port), '--address', '127.0.0.1']) });
  }, 120_000);
  afterAll(async () => {
    await box?.stop();
    tmp.remove();
    console.log(`load figures:\n${figures.join('\n')}`);
  });

  /** Runs all cameras at `port` while watching `socket`'s state; returns the states seen. */
  async function flood(port: number, socket: string, prefix: string) {
    const states = new Set<string>();
    let running = true;
    const watch = (async () => {
      while (running) {
        states.add((await box.run(['systemctl', 'is-active', socket], { check: false })).stdout.trim());
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const results = await Promise.all(Array.from({ length: CAMERAS }, (_, i) => loadCamera(port, `${prefix}${i}`, FRAMES, jpeg)));
    running = false;
    await watch;
    states.add((await box.run(['systemctl', 'is-active', socket], { check: false })).stdout.trim());
    return { results, states };
  }

  function expectStored(prefix: string) {
    for (let i = 0; i < CAMERAS; i++) {
      const names = storedFrames(box.path(join(STORE, `${prefix}${i}`)));
      expect(names, `camera ${prefix}${i}`).toHaveLength(FRAMES);
      expect(new Set(names.map((n) => /_([^_]+)\.jpg$/.exec(n)![1])).size).toBe(FRAMES);
      for (const n of [names[0]!, names[FRAMES - 1]!]) expect(readFileSync(box.path(join(STORE, `${prefix}${i}`, n))).equals(jpeg)).toBe(true);
    }
  }

  it('surveillance.socket (Accept=yes): all stored, the per-source limit refuses, the socket stays active', async () => {
    const port = Number(/:(\d+)/.exec(await box.systemctl('show', '-p', 'Listen', '--value', 'surveillance.socket'))![1]);
    const { results, states } = await flood(port, 'surveillance.socket', 'a');
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(results.every((r) => r.acknowledged === FRAMES)).toBe(true);
    expectStored('a');
    expect([...states]).toEqual(['active']);
    const refused = results.reduce((n, r) => n + r.refused, 0);
    // 64 cameras on one address against MaxConnectionsPerSource=8: the limit must have been hit.
    expect(refused).toBeGreaterThan(0);
    expect(Number((await box.systemctl('show', '-p', 'NRefused', '--value', 'surveillance.socket')).trim())).toBeGreaterThan(0);
    figures.push(`  surveillance.socket: ${CAMERAS * FRAMES} sent, ${results.reduce((n, r) => n + r.acknowledged, 0)} stored, ${refused} connections refused by the per-source limit, socket states: ${[...states].join(',')}`);
  });

  it('the listener pair (Accept=no): all stored, the socket stays active', async () => {
    const port = await freePort();
    install(['--root', box.root, '--open', '--mode', 'listener', '--port', String(port), '--address', '127.0.0.1']);
    await box.systemctl('daemon-reload');
    await box.systemctl('start', 'surveillance-listener.socket');
    const { results, states } = await flood(port, 'surveillance-listener.socket', 'l');
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expectStored('l');
    expect([...states]).toEqual(['active']);
    expect((await box.run(['systemctl', 'is-failed', 'surveillance-listener.service'], { check: false })).stdout.trim()).not.toBe('failed');
    const refused = results.reduce((n, r) => n + r.refused, 0);
    figures.push(`  surveillance-listener.socket: ${CAMERAS * FRAMES} sent, ${results.reduce((n, r) => n + r.acknowledged, 0)} stored, ${refused} connections refused, socket states: ${[...states].join(',')}`);
  });
});
