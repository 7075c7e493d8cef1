import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Container, needContainers, REPO_IN_CONTAINER } from './helpers/nspawn.ts';
import { ROOT, SENDER_BIN, startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { storedFrames, waitFor } from './helpers/sender.ts';

/**
 * The camera box's units run by a real systemd 252 (PID 1 of a container, helpers/nspawn.ts),
 * installed by the install script, sandbox and service users as written, delivering to a real
 * receiver on the host's loopback. Two stand-ins: a container has no udev, so no
 * dev-mywebcam.device, and the lines binding to it are taken out; and no camera, so capture
 * reads ffmpeg's test source instead of /dev/mywebcam (a drop-in replacing ExecStart=).
 */

const SENDER_UNITS = ['surveillance-camera.target', 'surveillance-camera-arm.timer', 'surveillance-capture.service', 'surveillance-sender.service', 'surveillance-sender-once.service', 'surveillance-sender-once.timer'];
const UNIT_DIR = 'etc/systemd/system';

function dropIn(root: string, unit: string, text: string): void {
  const dir = join(root, UNIT_DIR, `${unit}.d`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'test.conf'), text);
}

describe.skipIf(!needContainers())('camera box units under systemd', () => {
  const tmp = tempDir('sender-live-');
  const store = join(tmp.path, 'store');
  let receiver: RunningReceiver;
  let box: Container;
  const stored = () => storedFrames(store).filter((f) => f.startsWith('box/'));
  const activeState = async (unit: string) => (await box.run(['systemctl', 'is-active', unit], { check: false })).stdout.trim();

  beforeAll(async () => {
    receiver = await startReceiver('inetd', store);
    box = await Container.boot({
      ownDirs: ['/usr/local'],
      prepare: (root) => {
        // The installed program: a wrapper around this checkout's build, as --bin would name it.
        mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
        writeFileSync(join(root, 'usr/local/bin/surveillance-sender'), `#!/bin/sh\nexec /usr/bin/node ${SENDER_BIN.replace(ROOT, `${REPO_IN_CONTAINER}/`)} "$@"\n`);
        chmodSync(join(root, 'usr/local/bin/surveillance-sender'), 0o755);
        const install = spawnSync('bash', [join(ROOT, 'scripts/install-sender-units.sh'), '--root', root, '--bin', '/usr/local/bin/surveillance-sender', '--to', `127.0.0.1:${receiver.port}`, '--camera', 'box'], { encoding: 'utf8' });
        if (install.status !== 0) throw new Error(`install failed: ${install.stderr}`);
        for (const unit of SENDER_UNITS) {
          const path = join(root, UNIT_DIR, unit);
          writeFileSync(path, readFileSync(path, 'utf8').replace(/^BindsTo=dev-mywebcam\.device\n/m, '').replace(/^After=dev-mywebcam\.device ?/m, 'After='));
        }
        dropIn(
          root,
          'surveillance-capture.service',
          '[Service]\nExecStart=\nExecStart=/usr/bin/ffmpeg -nostdin -hide_banner -loglevel warning -re -f lavfi -i testsrc2=size=320x240:rate=4 -q:v 5 -f image2 -update 1 -atomic_writing 1 %t/surveillance-camera/monitor.jpg\n',
        );
        // Armed one second after the timer starts instead of a minute.
        dropIn(root, 'surveillance-camera-arm.timer', '[Timer]\nOnActiveSec=\nOnActiveSec=1s\n');
      },
    });
  });
  afterAll(async () => {
    await box?.stop();
    await receiver?.stop();
    tmp.remove();
  });

  it('arms after the timer, captures as one user and delivers as another, from the sandbox', async () => {
    await box.systemctl('start', 'surveillance-camera-arm.timer');
    await waitFor(() => stored().length >= 2, 'frames from the container to be stored', 45_000);
    expect(await activeState('surveillance-camera.target')).toBe('active');
    expect(await activeState('surveillance-capture.service')).toBe('active');
    expect(await activeState('surveillance-sender.service')).toBe('active');
    const users = (await box.run(['ps', '-o', 'user:32=,comm=', '-C', 'ffmpeg,node'])).stdout;
    expect(users).toMatch(/^surveillance-capture\s+ffmpeg$/m);
    expect(users).toMatch(/^surveillance-sender\s+node$/m);
    // Nothing worse than "monitor.jpg is not there yet" from either service.
    const trouble = (await box.journal('-u', 'surveillance-sender.service', '-u', 'surveillance-capture.service', '-p', 'warning')).map((e) => e.message);
    expect(trouble.filter((m) => !/monitor\.jpg cannot be read \(it does not exist\)/.test(m))).toEqual([]);
  });

  it('keeps the spool in its StateDirectory, owned by the sender user, readable by nobody else', async () => {
    const ls = (await box.run(['stat', '-c', '%U %a', '/var/lib/surveillance-sender', '/var/lib/surveillance-sender/queue'])).stdout;
    expect(ls).toBe('surveillance-sender 700\nsurveillance-sender 700\n');
    const status = JSON.parse((await box.run(['/usr/local/bin/surveillance-sender', 'status', '--spool', '/var/lib/surveillance-sender', '--to', `127.0.0.1:${receiver.port}`, '--json'])).stdout);
    expect(status.receiver.answers).toBe(true);
    expect(status.lastSent.camera).toBe('box');
  });

  it('runs the timer variant (once) in the same sandbox', async () => {
    await box.systemctl('stop', 'surveillance-sender.service');
    const before = stored().length;
    await box.systemctl('start', 'surveillance-sender-once.service');
    expect((await box.run(['systemctl', 'show', '-P', 'Result', 'surveillance-sender-once.service'])).stdout.trim()).toBe('success');
    expect(stored().length).toBeGreaterThan(before);
  });

  it('stops capture and sender with the target', async () => {
    await box.systemctl('start', 'surveillance-sender.service');
    await box.systemctl('stop', 'surveillance-camera.target');
    // PartOf= queues their stop jobs alongside the target's: wait for them to finish.
    for (const unit of ['surveillance-capture.service', 'surveillance-sender.service']) {
      while ((await activeState(unit)) === 'deactivating') await new Promise((r) => setTimeout(r, 50));
      expect(`${unit} ${await activeState(unit)}`).toBe(`${unit} inactive`);
    }
    // The capture's runtime folder goes with it: no stale picture outlives the camera.
    expect(readdirSync(box.path('run')).includes('surveillance-camera')).toBe(false);
  });
});
