import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Container, needContainers, REPO_IN_CONTAINER } from './helpers/nspawn.ts';
import { ROOT, SENDER_BIN, startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { storedFrames, waitFor } from './helpers/sender.ts';

/**
 * The camera box's units run by a real systemd 252 (PID 1 of a container, helpers/nspawn.ts),
 * installed by the install script, sandbox and service users as written, delivering to a real
 * receiver on the host's loopback. Two stand-ins: a container has no udev, so no
 * dev-mywebcam.device, and the lines binding to it are taken out (stopping the camera target
 * stands in for unplugging the camera); and no camera, so capture reads ffmpeg's test source
 * instead of /dev/mywebcam (a drop-in replacing ExecStart=).
 */

const SENDER_UNITS = ['surveillance-camera.target', 'surveillance-camera-arm.timer', 'surveillance-capture.service', 'surveillance-sender.service', 'surveillance-sender-once.service', 'surveillance-sender-once.timer'];
const UNIT_DIR = 'etc/systemd/system';
const SPOOL = '/var/lib/surveillance-sender';
const COMMAND = '/usr/local/bin/surveillance-sender';
const INSTALL = join(ROOT, 'scripts/install-sender-units.sh');
/** The picture is missing until capture writes it, and whenever the camera is gone: said once each time. */
const PICTURE_MISSING = /monitor\.jpg cannot be read \(it does not exist\); waiting for it to appear/;

function install(args: string[], env: Record<string, string> = {}): void {
  const r = spawnSync('bash', [INSTALL, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  if (r.status !== 0) throw new Error(`install-sender-units.sh ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
}

/** What stands in for the camera in a container (see the comment at the top), in a unit folder. */
function withoutCamera(unitDir: string): void {
  for (const unit of SENDER_UNITS) {
    const path = join(unitDir, unit);
    writeFileSync(path, readFileSync(path, 'utf8').replace(/^BindsTo=dev-mywebcam\.device\n/m, '').replace(/^After=dev-mywebcam\.device\n/m, ''));
  }
  const dropIn = (unit: string, text: string) => {
    mkdirSync(join(unitDir, `${unit}.d`), { recursive: true });
    writeFileSync(join(unitDir, `${unit}.d`, 'test.conf'), text);
  };
  dropIn(
    'surveillance-capture.service',
    '[Service]\nExecStart=\nExecStart=/usr/bin/ffmpeg -nostdin -hide_banner -loglevel warning -re -f lavfi -i testsrc2=size=320x240:rate=4 -q:v 5 -f image2 -update 1 -atomic_writing 1 %t/surveillance-camera/monitor.jpg\n',
  );
  // Armed one second after the timer starts instead of a minute.
  dropIn('surveillance-camera-arm.timer', '[Timer]\nOnActiveSec=\nOnActiveSec=1s\n');
}

describe.skipIf(!needContainers())('camera box units under systemd', () => {
  const tmp = tempDir('sender-live-');
  const store = join(tmp.path, 'store');
  let receiver: RunningReceiver;
  let box: Container;
  const stored = (camera = 'box') => storedFrames(store).filter((f) => f.startsWith(`${camera}/`));
  const activeState = async (unit: string) => (await box.run(['systemctl', 'is-active', unit], { check: false })).stdout.trim();
  const settled = async (unit: string) => {
    let state: string;
    while (['activating', 'deactivating'].includes((state = await activeState(unit)))) await new Promise((r) => setTimeout(r, 50));
    return `${unit} ${state}`;
  };
  const queued = () => readdirSync(box.path(join(SPOOL, 'queue')));

  beforeAll(async () => {
    receiver = await startReceiver('inetd', store);
    box = await Container.boot({
      ownDirs: ['/usr/local'],
      prepare: (root) => {
        // The installed program: a wrapper around this checkout's build, as --bin would name it.
        mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
        writeFileSync(join(root, COMMAND), `#!/bin/sh\nexec /usr/bin/node ${SENDER_BIN.replace(ROOT, `${REPO_IN_CONTAINER}/`)} "$@"\n`);
        chmodSync(join(root, COMMAND), 0o755);
        install(['--root', root, '--bin', COMMAND, '--to', `127.0.0.1:${receiver.port}`, '--camera', 'box']);
        // Retries within a second: the test takes the receiver away and brings it back.
        appendFileSync(join(root, 'etc/surveillance/sender.env'), 'SURVEILLANCE_RETRY_MAX=1s\n');
        withoutCamera(join(root, UNIT_DIR));
      },
    });
  });
  afterAll(async () => {
    await box?.stop();
    await receiver?.stop();
    tmp.remove();
  });

  it('runs the sender from boot, without a camera, saying once that there is no picture', async () => {
    expect(await settled('surveillance-sender.service')).toBe('surveillance-sender.service active');
    expect(await activeState('surveillance-capture.service')).toBe('inactive');
    const said = await waitFor(async () => {
      const lines = (await box.journal('-u', 'surveillance-sender.service', '-p', 'warning')).map((e) => e.message);
      return lines.length > 0 && lines;
    }, 'the missing picture warning');
    expect(said).toEqual([expect.stringMatching(PICTURE_MISSING)]);
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
    expect(trouble.filter((m) => !PICTURE_MISSING.test(m))).toEqual([]);
  });

  it('keeps the spool in its StateDirectory, owned by the sender user, readable by nobody else', async () => {
    const ls = (await box.run(['stat', '-c', '%U %a', SPOOL, `${SPOOL}/queue`])).stdout;
    expect(ls).toBe('surveillance-sender 700\nsurveillance-sender 700\n');
    const status = JSON.parse((await box.run([COMMAND, 'status', '--spool', SPOOL, '--to', `127.0.0.1:${receiver.port}`, '--json'])).stdout);
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

  it('stops only capture when the camera goes; the sender keeps running and delivers the backlog', async () => {
    await box.systemctl('start', 'surveillance-sender.service');
    // Frames pile up while the receiver is away...
    const port = receiver.port;
    await receiver.stop();
    await waitFor(() => queued().length >= 2, 'frames to be spooled while the receiver is away');
    // ...then the camera goes (what unplugging it does to the target, BindsTo=).
    await box.systemctl('stop', 'surveillance-camera.target');
    expect(await settled('surveillance-capture.service')).toBe('surveillance-capture.service inactive');
    // The capture's runtime folder goes with it: no stale picture outlives the camera.
    expect(readdirSync(box.path('run')).includes('surveillance-camera')).toBe(false);
    expect(await activeState('surveillance-sender.service')).toBe('active');
    const backlog = queued().length;
    const before = stored().length;

    receiver = await startReceiver('inetd', store, [], {}, port);
    await waitFor(() => queued().length === 0, 'the backlog to be delivered after the camera went');
    expect(stored().length).toBe(before + backlog);
    expect(await activeState('surveillance-sender.service')).toBe('active');
    // Said at boot, and when the camera went (on the sender's next look at the picture).
    await waitFor(async () => (await box.journal('-u', 'surveillance-sender.service', '-p', 'warning')).filter((e) => PICTURE_MISSING.test(e.message)).length === 2, 'the missing picture warning');
  });

  describe('per-user units (--user), for an unprivileged user', () => {
    const user = 'camuser';
    let home: string;
    let uid: number;
    const userState = async (unit: string) => (await box.run(['systemctl', '--user', 'is-active', unit], { user, env: { XDG_RUNTIME_DIR: `/run/user/${uid}` }, check: false })).stdout.trim();

    beforeAll(async () => {
      const passwd = readFileSync(box.path('etc/passwd'), 'utf8');
      uid = 4321;
      while (new RegExp(`^[^:]*:[^:]*:${uid}:`, 'm').test(passwd)) uid++;
      appendFileSync(box.path('etc/passwd'), `${user}:x:${uid}:${uid}:Camera user:/home/${user}:/bin/sh\n`);
      appendFileSync(box.path('etc/group'), `${user}:x:${uid}:\n`);
      home = box.path(`home/${user}`);
      mkdirSync(home, { recursive: true });
      install(['--user', '--root', box.root, '--bin', COMMAND, '--to', `127.0.0.1:${receiver.port}`, '--camera', 'userbox'], { HOME: `/home/${user}` });
      appendFileSync(join(home, '.config/surveillance/sender.env'), 'SURVEILLANCE_RETRY_MAX=1s\n');
      withoutCamera(join(home, '.config/systemd/user'));
      spawnSync('chown', ['-R', `${uid}:${uid}`, home]);
      // loginctl enable-linger, without logind (helpers/nspawn.ts says why): starts the sender.
      await box.startUserManager(user);
    });

    it("runs the sender in the user's manager, captures and delivers, spooling in ~/.local/state", async () => {
      expect(await userState('surveillance-sender.service')).toBe('active');
      await box.userSystemctl(user, 'start', 'surveillance-camera-arm.timer');
      await waitFor(() => stored('userbox').length >= 2, "frames from the user's units to be stored", 45_000);
      expect(await userState('surveillance-capture.service')).toBe('active');
      const spool = join(home, '.local/state/surveillance-sender');
      expect(statSync(join(spool, 'queue')).uid).toBe(uid);
      expect(statSync(join(spool, 'last-sent.json')).uid).toBe(uid);
      // Nothing the user manager could not apply, nothing worse than the missing picture.
      // (The manager's own complaint about the system bus is the container's: dbus is masked.)
      const warnings = (await box.journal(`_UID=${uid}`, '-p', 'warning')).map((e) => e.message);
      expect(warnings.filter((m) => m !== 'Failed to connect to system bus: No such file or directory' && !PICTURE_MISSING.test(m))).toEqual([]);
    });

    it('switches between the daemon and the timer variant on the running manager: the other one stops, the chosen one runs', async () => {
      const installInside = (...args: string[]) =>
        box.run(['bash', `${REPO_IN_CONTAINER}/scripts/install-sender-units.sh`, '--user', '--bin', COMMAND, ...args], { user, env: { HOME: `/home/${user}`, XDG_RUNTIME_DIR: `/run/user/${uid}` } });
      await installInside('--timer');
      expect(await userState('surveillance-sender.service')).toBe('inactive');
      expect(await userState('surveillance-sender-once.timer')).toBe('active');
      await installInside();
      expect(await userState('surveillance-sender-once.timer')).toBe('inactive');
      expect(await userState('surveillance-sender.service')).toBe('active');
    });
  });
});
