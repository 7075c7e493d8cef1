import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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

/** The `.wants` folders of a unit folder that hold links, and the links in each, sorted. */
function wants(unitDir: string): Record<string, string[]> {
  return Object.fromEntries(
    readdirSync(unitDir)
      .filter((d) => d.endsWith('.wants'))
      .sort()
      .map((d) => [d, readdirSync(join(unitDir, d)).sort()])
      .filter(([, links]) => links!.length > 0),
  );
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
      `+ systemctl --root=${root} reenable surveillance-capture.service surveillance-sender.service`,
    ]);
    expect(r.stdout).toContain(`    | ExecStart=${BIN} watch\n`);
    expect(r.stdout).toContain('    | SURVEILLANCE_TO=192.168.1.10:4444\n');
    expect(readdirSync(root)).toEqual([]);
  });

  it.each([
    ['the daemon', [], 'surveillance-sender-once.timer', 'surveillance-sender.service'],
    ['the timer variant', ['--timer'], 'surveillance-sender.service', 'surveillance-sender-once.timer'],
  ])('on a running system, switches to %s: stops the other variant, (re)starts this one', (_what, args, other, chosen) => {
    const r = install(['--dry-run', '--bin', BIN, ...args]);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('+ systemctl'))).toEqual([
      '+ systemctl daemon-reload',
      `+ systemctl disable --now ${other}`,
      `+ systemctl reenable surveillance-capture.service ${chosen}`,
      `+ systemctl restart ${chosen}`,
    ]);
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

    it('installs units, rule, users and options; capture goes with the camera, the sender with the system', () => {
      mkdirSync(root);
      // A link an earlier version made: the sender was part of the camera target then.
      mkdirSync(join(root, 'etc/systemd/system/surveillance-camera.target.wants'), { recursive: true });
      symlinkSync('/etc/systemd/system/surveillance-sender.service', join(root, 'etc/systemd/system/surveillance-camera.target.wants/surveillance-sender.service'));
      result = install(['--root', root, '--to', '192.168.1.10:4444', '--camera', 'porch', '--vendor', '1d6b', '--product', '0102', '--bin', BIN]);
      expect(result.stderr).not.toMatch(/warning|fail|error/i);
      expect(result.status).toBe(0);
      const unitDir = join(root, 'etc/systemd/system');
      for (const u of SENDER_UNITS) expect(existsSync(join(unitDir, u))).toBe(true);
      expect(readFileSync(join(unitDir, 'surveillance-sender.service'), 'utf8')).toContain(`\nExecStart=${BIN} watch\n`);
      expect(wants(unitDir)).toEqual({
        'multi-user.target.wants': ['surveillance-sender.service'],
        'surveillance-camera.target.wants': ['surveillance-capture.service'],
      });
      expect(readlinkSync(join(unitDir, 'multi-user.target.wants/surveillance-sender.service'))).toBe('/etc/systemd/system/surveillance-sender.service');
      expect(existsSync(join(root, 'usr/local/bin/surveillance-sender'))).toBe(false); // --bin names the command
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
      expect(wants(join(root, 'etc/systemd/system'))).toEqual({
        'surveillance-camera.target.wants': ['surveillance-capture.service'],
        'timers.target.wants': ['surveillance-sender-once.timer'],
      });
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

  it('installs a surveillance-sender command when no --bin is given, names it in the units, and the hint uses it', () => {
    const root = join(tmp.path, 'command');
    mkdirSync(root);
    const r = install(['--root', root, '--to', '192.168.1.10:4444']);
    expect(r.status).toBe(0);
    const command = join(root, 'usr/local/bin/surveillance-sender');
    expect(statSync(command).mode & 0o777).toBe(0o755);
    expect(readFileSync(command, 'utf8')).toMatch(/\nexec '\/\S+\/node' '[^']+\/packages\/sender\/bin\/surveillance-sender\.js' "\$@"\n$/);
    for (const unit of ['surveillance-sender.service', 'surveillance-sender-once.service']) {
      expect(readFileSync(join(root, 'etc/systemd/system', unit), 'utf8')).toMatch(/^ExecStart=\/usr\/local\/bin\/surveillance-sender (watch|once)$/m);
    }
    expect(r.stdout).toContain('sudo surveillance-sender status --spool /var/lib/surveillance-sender --to 192.168.1.10:4444\n');
    // The command runs this checkout's sender.
    const run = spawnSync(command, ['status', '--spool', join(tmp.path, 'no-spool'), '--json'], { encoding: 'utf8', env: cleanEnv() });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout).backlog).toMatchObject({ files: 0 });
  });

  it('installs per-user units that a user manager can run, prints the udev rule for root, and they verify', () => {
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
    const spool = '/home/cam/.local/state/surveillance-sender';
    for (const u of SENDER_UNITS) {
      const text = readFileSync(join(unitDir, u), 'utf8');
      // What a user manager cannot do, or does elsewhere (StateDirectory= below ~/.config in systemd 252).
      expect(text).not.toMatch(/^(User|Group|SupplementaryGroups|StateDirectory|StateDirectoryMode|IPAddressAllow|IPAddressDeny|ProtectKernelLogs)=/m);
      expect(text).not.toMatch(/^ProtectHome=yes$/m);
      expect(text).not.toMatch(/^WantedBy=multi-user\.target$/m);
      if (/^NoNewPrivileges=yes$/m.test(text)) expect(text).toMatch(/^NoNewPrivileges=yes\nPrivateUsers=yes$/m);
    }
    for (const u of ['surveillance-sender.service', 'surveillance-sender-once.service']) {
      expect(readFileSync(join(unitDir, u), 'utf8')).toMatch(new RegExp(`^Environment=SURVEILLANCE_SPOOL=${spool}\nReadWritePaths=${spool}\n(.|\n)*^ProtectHome=read-only$`, 'm'));
    }
    expect(statSync(join(root, spool)).mode & 0o777).toBe(0o700);
    expect(wants(unitDir)).toEqual({
      'default.target.wants': ['surveillance-sender.service'],
      'surveillance-camera.target.wants': ['surveillance-capture.service'],
    });
    expect(r.stdout).toContain(`${bin} status --spool ${spool} --to receiver.lan:4444\n`);
    expect(existsSync(join(root, 'home/cam/.config/surveillance/sender.env'))).toBe(true);
    expect(existsSync(join(root, 'etc'))).toBe(false); // nothing outside the user's home

    // Switching to the timer variant takes the daemon's link away.
    expect(install(['--user', '--root', root, '--bin', bin, '--timer'], { HOME: '/home/cam', XDG_CONFIG_HOME: '' }).status).toBe(0);
    expect(wants(unitDir)).toEqual({
      'surveillance-camera.target.wants': ['surveillance-capture.service'],
      'timers.target.wants': ['surveillance-sender-once.timer'],
    });
    expect(install(['--user', '--root', root, '--bin', bin], { HOME: '/home/cam', XDG_CONFIG_HOME: '' }).status).toBe(0);

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
