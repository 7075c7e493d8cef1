import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, ROOT, tempDir } from './helpers/receiver.ts';
import { needTools } from './helpers/tools.ts';

/**
 * The camera box's units as an admin installs them: the install script into a temporary root,
 * then systemd's own checks on the installed tree.
 */

const INSTALL = join(ROOT, 'scripts/install-sender-units.sh');
const UNITS = join(ROOT, 'units');
const SENDER_UNITS = [
  'surveillance-camera.target',
  'surveillance-camera-arm.timer',
  'surveillance-capture.service',
  'surveillance-sender.service',
  'surveillance-sender-once.service',
  'surveillance-sender-once.timer',
];
const SERVICES = SENDER_UNITS.filter((u) => u.endsWith('.service'));
/** Where the units will find the sender in the test root; a stub, since verify only checks it exists. */
const BIN = '/opt/surveillance/bin/surveillance-sender';

function install(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('bash', [INSTALL, ...args], { env: cleanEnv(env), encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A root with what systemd-analyze needs to resolve the units: systemd's own units and the binaries. */
function prepareRoot(root: string): void {
  mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
  cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  for (const bin of [BIN, '/usr/bin/ffmpeg']) {
    mkdirSync(join(root, bin, '..'), { recursive: true });
    writeFileSync(join(root, bin), '#!/bin/sh\n');
    chmodSync(join(root, bin), 0o755);
  }
}

describe.skipIf(!needTools('systemd-analyze', 'systemctl', 'systemd-sysusers'))('camera box units', () => {
  const tmp = tempDir('sender-units-');
  afterAll(() => tmp.remove());

  it('--dry-run shows every file and command, and changes nothing', () => {
    const root = join(tmp.path, 'dry');
    mkdirSync(root);
    const r = install(['--dry-run', '--root', root, '--to', '192.168.1.10:4444', '--camera', 'porch', '--bin', BIN]);
    expect(r.status).toBe(0);
    const actions = r.stdout.split('\n').filter((l) => l.startsWith('+ '));
    expect(actions).toEqual([
      ...SENDER_UNITS.map((u) => `+ write ${root}/etc/systemd/system/${u} (mode 0644)`),
      `+ write ${root}/etc/surveillance/sender.env (mode 0640)`,
      `+ write ${root}/etc/sysusers.d/surveillance-camera.conf (mode 0644)`,
      `+ write ${root}/etc/udev/rules.d/99-surveillance-camera.rules (mode 0644)`,
      `+ systemd-sysusers --root=${root} ${root}/etc/sysusers.d/surveillance-camera.conf`,
      `+ systemctl --root=${root} disable surveillance-sender-once.timer`,
      `+ systemctl --root=${root} enable surveillance-capture.service surveillance-sender.service`,
    ]);
    expect(r.stdout).toContain(`    | ExecStart=${BIN} watch\n`);
    expect(r.stdout).toContain('    | SURVEILLANCE_TO=192.168.1.10:4444\n');
    expect(readdirSync(root)).toEqual([]);
  });

  it.each([
    ['an unknown option', ['--usr'], 'install-sender-units: unknown option --usr (see --help)'],
    ['a bad USB id', ['--vendor', '46d'], "install-sender-units: USB ids are 4 hex digits, like 046d; got '46d'"],
    ['a bad receiver', ['--to', 'laptop'], "install-sender-units: --to must be HOST:PORT; got 'laptop'"],
    ['a bad camera name', ['--camera', '../x'], "install-sender-units: --camera must be 1-64 letters, digits, '.', '_' or '-'; got '../x'"],
    ['a missing value', ['--root'], 'install-sender-units: option --root needs a value'],
  ])('refuses %s with exit 64', (_what, args, message) => {
    const r = install(['--dry-run', ...args]);
    expect(r.stderr.trim()).toBe(message);
    expect(r.status).toBe(64);
  });

  describe('installed as system units', () => {
    const root = join(tmp.path, 'system');
    let result: ReturnType<typeof install>;

    it('installs units, rule, users and options, and enables capture and sender', () => {
      mkdirSync(root);
      result = install(['--root', root, '--to', '192.168.1.10:4444', '--camera', 'porch', '--vendor', '1d6b', '--product', '0102', '--bin', BIN]);
      expect(result.stderr).not.toMatch(/warning|fail|error/i);
      expect(result.status).toBe(0);
      const unitDir = join(root, 'etc/systemd/system');
      for (const u of SENDER_UNITS) expect(existsSync(join(unitDir, u))).toBe(true);
      expect(readFileSync(join(unitDir, 'surveillance-sender.service'), 'utf8')).toContain(`\nExecStart=${BIN} watch\n`);
      expect(readdirSync(join(unitDir, 'surveillance-camera.target.wants')).sort()).toEqual(['surveillance-capture.service', 'surveillance-sender.service']);
      expect(readlinkSync(join(unitDir, 'surveillance-camera.target.wants/surveillance-sender.service'))).toBe('/etc/systemd/system/surveillance-sender.service');
      const rule = readFileSync(join(root, 'etc/udev/rules.d/99-surveillance-camera.rules'), 'utf8');
      expect(rule).toContain('ATTRS{idVendor}=="1d6b", ATTRS{idProduct}=="0102"');
      expect(rule).toContain('ENV{SYSTEMD_WANTS}+="surveillance-camera-arm.timer"');
      const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
      expect(passwd).toMatch(/^surveillance-capture:x:\d+:\d+:/m);
      expect(passwd).toMatch(/^surveillance-sender:x:\d+:\d+:/m);
      expect(readFileSync(join(root, 'etc/surveillance/sender.env'), 'utf8')).toMatch(/^SURVEILLANCE_TO=192\.168\.1\.10:4444\nSURVEILLANCE_CAMERA=porch$/m);
    });

    it('keeps an existing options file when installed again, and --timer swaps the daemon for the timer', () => {
      writeFileSync(join(root, 'etc/surveillance/sender.env'), 'SURVEILLANCE_TO=10.1.1.1:4444\n');
      const r = install(['--root', root, '--timer', '--bin', BIN]);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`keeping ${root}/etc/surveillance/sender.env`);
      expect(readFileSync(join(root, 'etc/surveillance/sender.env'), 'utf8')).toBe('SURVEILLANCE_TO=10.1.1.1:4444\n');
      expect(readdirSync(join(root, 'etc/systemd/system/surveillance-camera.target.wants')).sort()).toEqual(['surveillance-capture.service', 'surveillance-sender-once.timer']);
    });

    it('passes systemd-analyze verify on the installed tree, without a single warning', () => {
      prepareRoot(root);
      const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...SENDER_UNITS.map((u) => join(root, 'etc/systemd/system', u))], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    });

    it.each(SERVICES)('%s has an exposure of at most 2.0 (systemd-analyze security)', (service) => {
      const r = spawnSync('systemd-analyze', ['security', '--offline=true', `--root=${root}`, service], { encoding: 'utf8' });
      const score = Number(/Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout)?.[1]);
      expect(score).toBeLessThanOrEqual(2.0);
    });
  });

  it('installs per-user units without service users, prints the udev rule for root, and they verify', () => {
    const root = join(tmp.path, 'user');
    mkdirSync(root);
    // `systemd-analyze --user` has no --root: the sender must exist on this machine.
    const bin = join(tmp.path, 'bin/surveillance-sender');
    mkdirSync(join(tmp.path, 'bin'));
    writeFileSync(bin, '#!/bin/sh\n');
    chmodSync(bin, 0o755);
    const r = install(['--user', '--root', root, '--bin', bin], { HOME: '/home/cam', XDG_CONFIG_HOME: '' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('ENV{SYSTEMD_USER_WANTS}+="surveillance-camera-arm.timer"');
    const unitDir = join(root, 'home/cam/.config/systemd/user');
    for (const u of SENDER_UNITS) expect(readFileSync(join(unitDir, u), 'utf8')).not.toMatch(/^(User|Group|SupplementaryGroups)=/m);
    expect(readdirSync(join(unitDir, 'surveillance-camera.target.wants')).sort()).toEqual(['surveillance-capture.service', 'surveillance-sender.service']);
    expect(existsSync(join(root, 'home/cam/.config/surveillance/sender.env'))).toBe(true);
    expect(existsSync(join(root, 'etc'))).toBe(false); // nothing outside the user's home

    const runtime = join(tmp.path, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    const verify = spawnSync('systemd-analyze', ['--user', 'verify', ...SENDER_UNITS.map((u) => join(unitDir, u))], {
      encoding: 'utf8',
      env: cleanEnv({ HOME: join(root, 'home/cam'), XDG_RUNTIME_DIR: runtime }),
    });
    expect(verify.stderr).toBe('');
    expect(verify.status).toBe(0);
  });

  it('explains every directive of the camera box units in units/README.md', () => {
    const readme = readFileSync(join(UNITS, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Camera box (sender)'), readme.indexOf('\n## ', readme.indexOf('## Camera box (sender)') + 1));
    const directives = new Set<string>();
    for (const u of SENDER_UNITS) {
      for (const m of readFileSync(join(UNITS, u), 'utf8').matchAll(/^([A-Za-z]+)=/gm)) directives.add(m[1]!);
    }
    const missing = [...directives].filter((d) => !section.includes(`${d}=`));
    expect(missing).toEqual([]);
    for (const file of readdirSync(UNITS).filter((f) => /^(surveillance-(camera|capture|sender)|99-surveillance|sender\.env)/.test(f))) {
      expect(section).toContain(file.replace(/\.(service|timer)$/, ''));
    }
  });
});
