import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeHeader } from '@surveillance/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange } from './helpers/client.ts';
import { Container, needContainers } from './helpers/nspawn.ts';
import { JPEGS, startMosquitto, subscriber, type Mosquitto } from './helpers/notify.ts';
import { cleanEnv, freePort, ROOT, tempDir } from './helpers/receiver.ts';
import { needTools } from './helpers/tools.ts';

/**
 * surveillance-notify.service under a real systemd manager (helpers/nspawn.ts), installed by
 * `install-receiver-units.sh --notify` as an admin would, its MQTT password handed over as a
 * credential (LoadCredential= from /etc/surveillance/notify.d/), talking to a real mosquitto
 * on the host's loopback (the container shares the host's network). Frames come in (plaintext: --open) through
 * the container's surveillance.socket, as from a camera box.
 */

const INSTALL = join(ROOT, 'scripts/install-receiver-units.sh');
const PASSWORD = 'notify-pw-6f1c0d';

describe.skipIf(!needTools('mosquitto') || !needContainers())('notify unit under systemd', () => {
  let box: Container;
  let broker: Mosquitto;
  let tmp: ReturnType<typeof tempDir>;
  let port: number;

  beforeAll(async () => {
    tmp = tempDir('notify-unit-');
    broker = await startMosquitto(tmp.path, { notify: PASSWORD, watcher: 'watcher-pw' });
    port = await freePort();
    box = await Container.boot({
      ownDirs: ['/usr/local'],
      prepare: (root) => {
        const r = spawnSync('bash', [INSTALL, '--open', '--root', root, '--port', String(port), '--address', '127.0.0.1', '--notify'], { env: cleanEnv(), encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`install-receiver-units.sh failed (${r.status}):\n${r.stderr}`);
        // What the admin does next (README "Get notified"): the broker in notify.env, the
        // password in notify.d/ (root's alone).
        writeFileSync(join(root, 'etc/surveillance/notify.env'), `SURVEILLANCE_MQTT=mqtt://notify@127.0.0.1:${broker.port}\nSURVEILLANCE_EVENT_GAP=2s\nSURVEILLANCE_SILENCE=0\n`);
        mkdirSync(join(root, 'etc/surveillance/notify.d'), { recursive: true });
        writeFileSync(join(root, 'etc/surveillance/notify.d/mqtt-password'), `${PASSWORD}\n`, { mode: 0o600 });
        chmodSync(join(root, 'etc/surveillance/notify.d'), 0o700);
      },
    });
  }, 120_000);
  afterAll(async () => {
    if (process.env.SHOW_LOG) console.log((await box?.journal('-u', 'surveillance-notify.service'))?.map((e) => e.message).join('\n'));
    await box?.stop();
    await broker?.stop();
    tmp?.remove();
  });

  it('runs as the service user from boot, with the password as a credential, never in its command line or environment', async () => {
    const journal = async () => (await box.journal('-u', 'surveillance-notify.service')).map((e) => e.message).join('\n');
    for (let i = 0; !/notifying/.test(await journal()); i++) {
      if (i > 300) throw new Error(`the notifier did not start:\n${await journal()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Subscribed after it said online: the retained message.
    const watcher = await subscriber(broker.port, ['surveillance/availability']);
    try {
      const online = await watcher.waitFor((m) => m.topic === 'surveillance/availability' && m.payload.toString() === 'online', 'online');
      expect(online.retain).toBe(true);
    } finally {
      await watcher.client.endAsync();
    }
    const props = await box.systemctl('show', '-p', 'ActiveState,User,MainPID', 'surveillance-notify.service');
    expect(props).toMatch(/^ActiveState=active$/m);
    expect(props).toMatch(/^User=surveillance$/m);
    const pid = /^MainPID=(\d+)$/m.exec(props)![1]!;
    const proc = await box.run(['sh', '-c', `tr '\\0' ' ' </proc/${pid}/cmdline; echo; tr '\\0' '\\n' </proc/${pid}/environ`]);
    expect(proc.stdout).toMatch(/surveillance-receiver|cli\.js/);
    const credentials = /^CREDENTIALS_DIRECTORY=(.+)$/m.exec(proc.stdout)?.[1];
    expect(credentials).toBe('/run/credentials/surveillance-notify.service');
    // LoadCredential=notify:/etc/surveillance/notify.d hands each file over as notify_FILE.
    expect((await box.run(['ls', credentials!])).stdout.trim()).toBe('notify_mqtt-password');
    expect(proc.stdout).not.toContain(PASSWORD);
    expect(await journal()).not.toContain(PASSWORD);
  });

  it('a frame stored through surveillance.socket: discovery, ON, the snapshot, then OFF after the gap', async () => {
    const watcher = await subscriber(broker.port, ['surveillance/#', 'homeassistant/#']);
    try {
      const jpeg = JPEGS[1]!;
      const frame = Buffer.concat([encodeHeader({ camera: 'porch', id: 'u-0001', time: new Date(), length: jpeg.length, reason: 'motion', score: 0.4 }), jpeg]);
      expect((await exchange(port, [frame])).lines[0]).toMatch(/^OK u-0001 porch\//);
      await watcher.waitFor((m) => m.topic === 'homeassistant/binary_sensor/surveillance_porch/motion/config', 'discovery config');
      await watcher.waitFor((m) => m.topic === 'surveillance/porch/motion' && m.payload.toString() === 'ON', 'motion ON');
      const snapshot = await watcher.waitFor((m) => m.topic === 'surveillance/porch/snapshot', 'snapshot');
      expect(snapshot.payload.equals(jpeg)).toBe(true);
      await watcher.waitFor((m) => m.topic === 'surveillance/porch/motion' && m.payload.toString() === 'OFF', 'motion OFF');
    } finally {
      await watcher.client.endAsync();
    }
  });

  it('a stop says offline (retained)', async () => {
    await box.systemctl('stop', 'surveillance-notify.service');
    const watcher = await subscriber(broker.port, ['surveillance/availability']);
    try {
      await watcher.waitFor((m) => m.topic === 'surveillance/availability' && m.payload.toString() === 'offline', 'offline');
    } finally {
      await watcher.client.endAsync();
    }
  });
});
