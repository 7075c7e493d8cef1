import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, ROOT, tempDir } from './helpers/receiver.ts';
import { analyzableRoot, exposure, verifyUnits } from './helpers/systemd-analyze.ts';
import { needTools } from './helpers/tools.ts';

/**
 * The receiver's units as the install script writes them into a scratch root, checked by
 * systemd's own offline tools (no manager needed; systemd-units.test.ts runs them for real).
 */

const INSTALL = join(ROOT, 'scripts/install-receiver-units.sh');
const UNITS = join(ROOT, 'units');
const RECEIVER_UNITS = ['surveillance.socket', 'surveillance@.service', 'surveillance-listener.socket', 'surveillance-listener.service'];
const SERVICES = RECEIVER_UNITS.filter((u) => u.endsWith('.service'));
// Installed along: the daily retention (its own README section and tests in review-prune-units).
const PRUNE_UNITS = ['surveillance-prune.service', 'surveillance-prune.timer'];
const NOTIFY_UNITS = ['surveillance-notify.service'];
// Installed along, enabled with --gallery (tests in gallery-unit.test.ts).
const GALLERY_UNITS = ['surveillance-gallery.service'];

function install(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('bash', [INSTALL, ...args], { env: cleanEnv(env), encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A root systemd-analyze can check, with a passwd and group for systemd-sysusers to add to. */
function scratchRoot(path: string): string {
  analyzableRoot(path);
  mkdirSync(join(path, 'etc'));
  cpSync('/etc/passwd', join(path, 'etc/passwd'));
  cpSync('/etc/group', join(path, 'etc/group'));
  return path;
}

describe.skipIf(!needTools('systemd-analyze', 'systemctl', 'systemd-sysusers'))('receiver units, installed and checked offline', () => {
  const tmp = tempDir('receiver-units-');
  afterAll(() => tmp.remove());

  it('--dry-run shows every file and command, and changes nothing', () => {
    const root = join(tmp.path, 'dry');
    mkdirSync(root);
    const r = install(['--dry-run', '--root', root, '--port', '5000', '--address', '192.168.1.10']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lib = `${root}/usr/local/lib/surveillance-receiver`;
    expect(r.stdout.split('\n').filter((l) => l.startsWith('+ '))).toEqual([
      expect.stringMatching(new RegExp(`^\\+ pnpm deploy surveillance-receiver to ${lib}/[0-9a-f]{12} \\(bin/, dist/, node_modules/\\)$`)),
      expect.stringMatching(new RegExp(`^\\+ ln -sfn [0-9a-f]{12} ${lib}/current$`)),
      `+ write ${root}/usr/local/bin/surveillance-receiver (mode 0755)`,
      ...[...RECEIVER_UNITS, ...PRUNE_UNITS, ...NOTIFY_UNITS, ...GALLERY_UNITS].map((u) => `+ write ${root}/etc/systemd/system/${u} (mode 0644)`),
      `+ write ${root}/etc/surveillance/receiver.env (mode 0640)`,
      `+ write ${root}/etc/surveillance/prune.env (mode 0640)`,
      `+ write ${root}/etc/surveillance/notify.env (mode 0640)`,
      `+ write ${root}/etc/surveillance/gallery.env (mode 0640)`,
      `+ write ${root}/etc/sysusers.d/surveillance.conf (mode 0644)`,
      `+ systemd-sysusers --root=${root} ${root}/etc/sysusers.d/surveillance.conf`,
      `+ install -d -m 0750 ${root}/var/lib/surveillance`,
      `+ install -d -m 0700 ${root}/etc/surveillance/camera-keys`,
      `+ mkdir -p -m 0700 ${root}/etc/surveillance/notify.d`,
      `+ mkdir -p -m 0700 ${root}/etc/surveillance/gallery.d`,
      `+ systemctl --root=${root} disable surveillance-listener.socket`,
      `+ systemctl --root=${root} enable surveillance.socket`,
      `+ systemctl --root=${root} enable surveillance-prune.timer`,
    ]);
    expect(r.stdout).toContain('    | ListenStream=192.168.1.10:5000\n    | FreeBind=yes\n');
    expect(r.stdout).toMatch(/ {4}\| exec "\/\S+\/node" "\/usr\/local\/lib\/surveillance-receiver\/current\/bin\/surveillance-receiver\.c?js" "\$@"\n/);
    expect(readdirSync(root)).toEqual([]);
  });

  it.each([
    ['an unknown option', ['--usr'], 'install-receiver-units: unknown option --usr (see --help)'],
    ['a bad mode', ['--mode', 'daemon'], "install-receiver-units: --mode must be inetd or listener; got 'daemon'"],
    ['a bad port', ['--port', '70000'], "install-receiver-units: --port must be a number from 1 to 65535; got '70000'"],
    ['a port that is no number', ['--port', 'http'], "install-receiver-units: --port must be a number from 1 to 65535; got 'http'"],
    ['a host name for an address', ['--address', 'laptop.lan'], "install-receiver-units: --address must be an IPv4 or IPv6 address; got 'laptop.lan' (for an interface, see BindToDevice= in units/README.md)"],
    ['a missing value', ['--root'], 'install-receiver-units: option --root needs a value'],
    ['a node that is not there', ['--node', '/nonexistent/node'], 'install-receiver-units: --node /nonexistent/node is not an executable'],
  ])('refuses %s with exit 64', (_what, args, message) => {
    const r = install(['--dry-run', ...args]);
    expect(r.stderr.trim()).toBe(message);
    expect(r.status).toBe(64);
  });

  describe('installed as system units', () => {
    const root = join(tmp.path, 'system');
    const lib = join(root, 'usr/local/lib/surveillance-receiver');

    it('installs a self-contained copy of the receiver, its command, the units, the user, and enables the socket', () => {
      scratchRoot(root);
      const r = install(['--root', root, '--port', '4444']);
      expect(r.stderr).not.toMatch(/warning|fail|error/i);
      expect(r.status).toBe(0);
      const units = join(root, 'etc/systemd/system');
      for (const u of [...RECEIVER_UNITS, ...PRUNE_UNITS, ...NOTIFY_UNITS, ...GALLERY_UNITS]) expect(readFileSync(join(units, u), 'utf8')).toBe(readFileSync(join(UNITS, u), 'utf8'));
      expect(readlinkSync(join(units, 'sockets.target.wants/surveillance.socket'))).toBe('/etc/systemd/system/surveillance.socket');
      expect(readlinkSync(join(units, 'timers.target.wants/surveillance-prune.timer'))).toBe('/etc/systemd/system/surveillance-prune.timer');
      expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).toMatch(/^surveillance:x:\d+:\d+:Surveillance frame receiver:\/var\/lib\/surveillance:\/usr\/sbin\/nologin$/m);
      expect(statSync(join(root, 'usr/local/bin/surveillance-receiver')).mode & 0o777).toBe(0o755);

      // The copy runs with nothing from this checkout: it is outside it, with its own node_modules.
      const copy = readlinkSync(join(lib, 'current'));
      expect(readdirSync(join(lib, copy)).sort()).toEqual(expect.arrayContaining(['bin', 'dist', 'node_modules', 'package.json']));
      const bin = readdirSync(join(lib, 'current/bin'))[0]!;
      const help = spawnSync(process.execPath, [join(lib, 'current/bin', bin), '--help'], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
      expect(help.stdout).toMatch(/^Usage: surveillance-receiver/);
      expect(help.status).toBe(0);
    });

    it('changes nothing when run again, and --mode listener swaps the enabled socket', () => {
      const again = install(['--root', root, '--port', '4444']);
      expect(again.status).toBe(0);
      expect(again.stdout.split('\n').filter((l) => /^(installed|unchanged|keeping) /.test(l)).every((l) => !l.startsWith('installed'))).toBe(true);
      expect(readdirSync(lib).filter((d) => d !== 'current')).toHaveLength(1);

      const listener = install(['--root', root, '--mode', 'listener']);
      expect(listener.status).toBe(0);
      expect(readdirSync(join(root, 'etc/systemd/system/sockets.target.wants'))).toEqual(['surveillance-listener.socket']);
    });

    it('passes systemd-analyze verify without a single warning', () => {
      const all = [...RECEIVER_UNITS, ...PRUNE_UNITS, ...NOTIFY_UNITS, ...GALLERY_UNITS].map((u) => join(root, 'etc/systemd/system', u));
      expect(verifyUnits(root, all)).toEqual({ status: 0, stderr: '' });
    });

    it.each(SERVICES)('%s has an exposure of at most 2.0 (systemd-analyze security)', (service) => {
      expect(exposure(root, service)).toBeLessThanOrEqual(2.0);
    });

    it('surveillance-gallery.service has an exposure of at most 2.0 (systemd-analyze security), recorded', () => {
      const value = exposure(root, 'surveillance-gallery.service');
      console.log(`surveillance-gallery.service exposure: ${value}`);
      expect(value).toBeLessThanOrEqual(2.0);
    });
  });

  it('installs per-user units: no service user, the store in ~/.local/state, nothing outside the home folder', () => {
    const root = join(tmp.path, 'user');
    mkdirSync(root);
    const r = install(['--user', '--root', root, '--port', '4444'], { HOME: '/home/me' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('loginctl enable-linger $USER');
    const units = join(root, 'home/me/.config/systemd/user');
    for (const service of [...SERVICES, 'surveillance-prune.service']) {
      const text = readFileSync(join(units, service), 'utf8');
      expect(text).not.toMatch(/^(User|Group|StateDirectory|IPAddressDeny|ProtectKernelLogs)=/m);
      expect(text).toMatch(/\nExecStart=\/home\/me\/\.local\/bin\/surveillance-receiver( prune)?\n/);
      expect(text).toContain('\nEnvironment=SURVEILLANCE_STORE=/home/me/.local/state/surveillance\nReadWritePaths=/home/me/.local/state/surveillance\n');
      expect(text).toContain('\nProtectHome=read-only\n');
    }
    expect(readlinkSync(join(units, 'sockets.target.wants/surveillance.socket'))).toBe('/home/me/.config/systemd/user/surveillance.socket');
    expect(readlinkSync(join(units, 'timers.target.wants/surveillance-prune.timer'))).toBe('/home/me/.config/systemd/user/surveillance-prune.timer');
    expect(readFileSync(join(units, 'surveillance-prune.service'), 'utf8')).toContain('\nEnvironmentFile=-/home/me/.config/surveillance/prune.env\n');
    expect(statSync(join(root, 'home/me/.local/state/surveillance')).isDirectory()).toBe(true);
    expect(existsSync(join(root, 'home/me/.local/lib/surveillance-receiver/current/dist'))).toBe(true);
    expect(readdirSync(root)).toEqual(['home']);
  });

  it('explains every directive of the gallery unit in units/README.md', () => {
    const readme = readFileSync(join(UNITS, 'README.md'), 'utf8');
    const start = readme.indexOf('## Gallery (laptop): surveillance-gallery.service');
    expect(start).toBeGreaterThan(0);
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const directives = new Set<string>();
    for (const m of readFileSync(join(UNITS, 'surveillance-gallery.service'), 'utf8').matchAll(/^([A-Za-z]+)=/gm)) directives.add(m[1]!);
    expect([...directives].filter((d) => !section.includes(`${d}=`))).toEqual([]);
    for (const file of ['gallery.env.example', 'gallery.d', '--gallery']) expect(section).toContain(file);
  });

  it('explains every directive of the receiver units in units/README.md', () => {
    const readme = readFileSync(join(UNITS, 'README.md'), 'utf8');
    const start = readme.indexOf('## Receiver (laptop)');
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const directives = new Set<string>();
    for (const u of RECEIVER_UNITS) {
      for (const m of readFileSync(join(UNITS, u), 'utf8').matchAll(/^([A-Za-z]+)=/gm)) directives.add(m[1]!);
    }
    expect([...directives].filter((d) => !section.includes(`${d}=`))).toEqual([]);
    for (const file of ['surveillance.sysusers', 'receiver.env.example', 'install-receiver-units.sh', ...RECEIVER_UNITS]) expect(section).toContain(file);
  });
});
