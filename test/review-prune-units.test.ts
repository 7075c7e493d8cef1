import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Container, needContainers, REPO_IN_CONTAINER } from './helpers/nspawn.ts';
import { RECEIVER_BIN, ROOT } from './helpers/receiver.ts';
import { storeTempDir, writeStore, type FixtureFrame } from './helpers/store-fixture.ts';
import { needTools } from './helpers/tools.ts';

// The prune timer's units: checked offline by systemd-analyze, then run by a real systemd 252
// (PID 1 of a container, helpers/nspawn.ts) against a store in /var/lib/surveillance.

const UNITS = ['surveillance-prune.service', 'surveillance-prune.timer'];
const UID = 987;

/** A scratch root holding the units, the manager's own units and a stand-in binary. */
let roots = 0;
function scratchRoot(dir: string): string {
  const root = join(dir, `root-${++roots}`);
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
  cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  writeFileSync(join(root, 'usr/local/bin/surveillance-receiver'), '#!/bin/sh\n');
  chmodSync(join(root, 'usr/local/bin/surveillance-receiver'), 0o755);
  for (const unit of UNITS) cpSync(join(ROOT, 'units', unit), join(root, 'etc/systemd/system', unit));
  return root;
}

describe.skipIf(!needTools('systemd-analyze'))('prune units, offline', () => {
  const dir = storeTempDir('review-units-');
  afterAll(() => dir.remove());

  it('pass systemd-analyze verify without a single warning', () => {
    const root = scratchRoot(dir.path);
    const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...UNITS.map((u) => `/etc/systemd/system/${u}`)], { encoding: 'utf8' });
    // verify exits 0 on unknown keys and only warns on stderr: both must be clean.
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('rate as SAFE in systemd-analyze security', () => {
    const root = scratchRoot(dir.path);
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', `--root=${root}`, '--no-pager', 'surveillance-prune.service'], { encoding: 'utf8' });
    const score = Number(/Overall exposure level for surveillance-prune\.service: ([\d.]+)/.exec(r.stdout)?.[1]);
    expect(score).toBeLessThanOrEqual(1.0);
  });
});

describe.skipIf(!needContainers())('prune timer under systemd', () => {
  let box: Container;
  let frames: FixtureFrame[] = [];
  const store = 'var/lib/surveillance';

  beforeAll(async () => {
    box = await Container.boot({
      ownDirs: ['/usr/local'],
      prepare: (root) => {
        for (const unit of UNITS) cpSync(join(ROOT, 'units', unit), join(root, 'etc/systemd/system', unit));
        // The installed program, as the install puts it: here a wrapper around the built one.
        mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
        writeFileSync(join(root, 'usr/local/bin/surveillance-receiver'), `#!/bin/sh\nexec /usr/bin/node ${RECEIVER_BIN.replace(ROOT, `${REPO_IN_CONTAINER}/`)} "$@"\n`);
        chmodSync(join(root, 'usr/local/bin/surveillance-receiver'), 0o755);
        appendFileSync(join(root, 'etc/passwd'), `surveillance:x:${UID}:${UID}:Surveillance receiver:/nonexistent:/usr/sbin/nologin\n`);
        appendFileSync(join(root, 'etc/group'), `surveillance:x:${UID}:\n`);
        // Forty days of frames up to now, two cameras, hourly: the unit's 30d default cuts ten days.
        const now = Date.now();
        frames = writeStore(join(root, store), [
          { camera: 'front', from: new Date(now - 40 * 86_400_000), to: new Date(now), everyMs: 3_600_000 },
          { camera: 'back-yard', from: new Date(now - 40 * 86_400_000 + 1_800_000), to: new Date(now), everyMs: 3_600_000 },
        ]);
        spawnSync('chown', ['-R', `${UID}:${UID}`, join(root, store)]);
        chownSync(join(root, store), UID, UID);
      },
    });
  });
  afterAll(async () => {
    await box?.stop();
  });

  const framesLeft = () =>
    readdirSync(box.path(store), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.jpg') && !e.parentPath.includes('/.')).length;

  it('the service prunes by the unit\'s default age, as user surveillance, and says so in the journal', async () => {
    await box.systemctl('start', 'surveillance-prune.service');
    const recent = frames.filter((f) => f.time.getTime() >= Date.now() - 30 * 86_400_000 + 60_000);
    const show = await box.systemctl('show', 'surveillance-prune.service', '-p', 'Result', '-p', 'ExecMainStatus', '-p', 'User');
    expect(show).toContain('Result=success');
    expect(show).toContain('ExecMainStatus=0');
    const entry = (await box.journal('-u', 'surveillance-prune.service')).find((e) => e.message.startsWith('prune: '));
    expect(entry?.fields._UID).toBe(String(UID));
    const summary = entry?.message;
    expect(summary).toMatch(/^prune: removed \d+ frames \(.+\) of 2 camera\(s\) captured .+ \(\d+ older than 30d\) and \d+ emptied folder\(s\)$/);
    expect(Math.abs(framesLeft() - recent.length)).toBeLessThanOrEqual(2); // the frames right at the cut-off move with the clock
    // .incoming and .thumbs are not the prune's to touch.
    expect(existsSync(box.path(`${store}/.incoming/4242-1-abc.part`))).toBe(true);
    expect(existsSync(box.path(`${store}/.thumbs/front/x.jpg`))).toBe(true);
  });

  it('takes its retention from /etc/surveillance/prune.env', async () => {
    const keep = 24;
    const left = frames.slice(-keep);
    mkdirSync(box.path('etc/surveillance'), { recursive: true });
    writeFileSync(box.path('etc/surveillance/prune.env'), `SURVEILLANCE_MAX_BYTES=${left.reduce((a, f) => a + f.bytes, 0)}\n`);
    await box.systemctl('start', 'surveillance-prune.service');
    expect(framesLeft()).toBe(keep);
    const lines = (await box.journal('-u', 'surveillance-prune.service')).map((e) => e.message).filter((m) => m.startsWith('prune: '));
    expect(lines.at(-1)).toMatch(/over [\d.]+ KiB\) and \d+ emptied folder\(s\); keeps 24 frames/);
    rmSync(box.path('etc/surveillance/prune.env'));
  });

  it('the timer is scheduled once enabled', async () => {
    await box.systemctl('enable', '--now', 'surveillance-prune.timer');
    const show = await box.systemctl('show', 'surveillance-prune.timer', '-p', 'ActiveState', '-p', 'NextElapseUSecRealtime', '-p', 'Persistent', '-p', 'RandomizedDelayUSec');
    expect(show).toContain('ActiveState=active');
    expect(show).toMatch(/NextElapseUSecRealtime=\S+/);
    expect(show).toContain('Persistent=yes');
    expect(show).toContain('RandomizedDelayUSec=1h');
  });
});
