import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
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
// What reads the store, and so gets the NATS drop-in of --store nats://.
const STORE_SERVICES = [...SERVICES, 'surveillance-prune.service', 'surveillance-notify.service', 'surveillance-gallery.service'];
const NATS = 'nats://cam@10.0.0.1:4222,10.0.0.2:4222,10.0.0.3:4222/frames';
// A creds file names its user itself: the address has none.
const NATS_CREDS = 'nats://10.0.0.1:4222,10.0.0.2:4222,10.0.0.3:4222/frames';

/** Secret files for --nats-*, with text that must never be printed. */
function natsSecrets(dir: string): { password: string; creds: string; ca: string; secrets: string[] } {
  mkdirSync(dir, { recursive: true });
  const secrets = ['pw-9d1b4c7e2a', 'SUAFAKESEEDNEVERPRINTED0123456789'];
  const [password, creds, ca] = ['password', 'site.creds', 'ca.pem'].map((f) => join(dir, f)) as [string, string, string];
  writeFileSync(password, `${secrets[0]}\n`, { mode: 0o600 });
  writeFileSync(creds, `-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.e30.sig\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${secrets[1]}\n------END USER NKEY SEED------\n`, { mode: 0o600 });
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  return { password, creds, ca, secrets };
}

/** The drop-in the install script writes for a NATS store, as it prints and writes it. */
const natsDropin = (store: string, options: { password?: boolean; creds?: boolean; ca?: boolean; replicas?: number }) =>
  [
    `# Installed by ${join(ROOT, 'scripts/install-receiver-units.sh')} --store: the store is a NATS cluster.`,
    '[Service]',
    `Environment=SURVEILLANCE_STORE=${store}`,
    ...(options.replicas ? [`Environment=SURVEILLANCE_NATS_REPLICAS=${options.replicas}`] : []),
    ...(options.password ? ['LoadCredential=nats-password:/etc/surveillance/nats-password'] : []),
    ...(options.creds ? ['LoadCredential=nats.creds:/etc/surveillance/nats.creds'] : []),
    ...(options.ca ? ['Environment=SURVEILLANCE_NATS_CA=/etc/surveillance/nats-ca.pem'] : []),
    'PrivateNetwork=no',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    'IPAddressAllow=10.0.0.1 10.0.0.2 10.0.0.3',
  ];

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

  it('--dry-run --store nats://: the drop-ins, the secrets copied as credentials and never printed, nothing changed', () => {
    const root = join(tmp.path, 'dry-nats');
    mkdirSync(root);
    const { password, ca, secrets } = natsSecrets(join(tmp.path, 'dry-nats-secrets'));
    const r = install(['--dry-run', '--root', root, '--store', NATS, '--nats-replicas', '3', '--nats-password-file', password, '--nats-ca', ca]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    const commands = lines.filter((l) => l.startsWith('+ '));
    expect(commands).toEqual(
      expect.arrayContaining([
        `+ install -D -m 0600 ${password} ${root}/etc/surveillance/nats-password`,
        `+ install -D -m 0644 ${ca} ${root}/etc/surveillance/nats-ca.pem`,
        ...STORE_SERVICES.map((u) => `+ write ${root}/etc/systemd/system/${u}.d/nats.conf (mode 0644)`),
      ]),
    );
    const expected = natsDropin(NATS, { password: true, ca: true, replicas: 3 });
    for (const u of STORE_SERVICES) {
      const at = lines.indexOf(`+ write ${root}/etc/systemd/system/${u}.d/nats.conf (mode 0644)`);
      expect(lines.slice(at + 1, at + 1 + expected.length)).toEqual(expected.map((l) => `    | ${l}`));
    }
    expect(r.stdout).toContain(`frames go to the NATS store ${NATS}.`);
    for (const secret of secrets) expect(r.stdout + r.stderr).not.toContain(secret);
    expect(readdirSync(root)).toEqual([]);
  });

  it.each([
    ['a NATS server by name', ['--store', 'nats://nats.lan:4222/frames'], "install-receiver-units: --store: 'nats.lan:4222' is not IP:PORT; the units allow the cluster by address (IPAddressAllow=), so name its servers by IP"],
    ['a password in the NATS address', ['--store', 'nats://cam:pw@10.0.0.1:4222/frames'], "install-receiver-units: --store must be nats://[USER@]HOST:PORT[,HOST:PORT...]/BUCKET (no password in it); got 'nats://cam:pw@10.0.0.1:4222/frames'"],
    ['a NATS user without a password file', ['--store', 'nats://cam@10.0.0.1:4222/frames'], 'install-receiver-units: --store names a user: give its password with --nats-password-file FILE'],
    ['a --nats option without --store', ['--nats-replicas', '3'], 'install-receiver-units: --nats-* options need --store nats://...'],
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
      // The copy carries the build's code caches, and this Node takes them: said after the copy.
      expect(r.stdout).toMatch(/^installed .*\ncode cache: used\n/m);
    });

    it('changes nothing when run again, and --mode listener swaps the enabled socket', () => {
      const again = install(['--root', root, '--port', '4444']);
      expect(again.status).toBe(0);
      expect(again.stdout).toMatch(/^unchanged .*\ncode cache: used\n/m);
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

    it('--store nats:// with a creds file: drop-ins, the creds as a credential (0600), verify passes; without --store they go', () => {
      const { creds, secrets } = natsSecrets(join(tmp.path, 'system-nats-secrets'));
      const r = install(['--root', root, '--port', '4444', '--store', NATS_CREDS, '--nats-replicas', '3', '--nats-creds', creds]);
      expect(r.stderr).not.toMatch(/warning|fail|error/i);
      expect(r.status).toBe(0);
      for (const secret of secrets) expect(r.stdout + r.stderr).not.toContain(secret);
      const installed = join(root, 'etc/surveillance/nats.creds');
      expect(readFileSync(installed, 'utf8')).toBe(readFileSync(creds, 'utf8'));
      expect(statSync(installed).mode & 0o777).toBe(0o600);
      const units = join(root, 'etc/systemd/system');
      for (const u of STORE_SERVICES) expect(readFileSync(join(units, `${u}.d/nats.conf`), 'utf8')).toBe(`${natsDropin(NATS_CREDS, { creds: true, replicas: 3 }).join('\n')}\n`);
      const all = [...RECEIVER_UNITS, ...PRUNE_UNITS, ...NOTIFY_UNITS, ...GALLERY_UNITS].map((u) => join(units, u));
      expect(verifyUnits(root, all)).toEqual({ status: 0, stderr: '' });
      // verify reads the drop-ins: a broken one is caught.
      const dropin = join(units, 'surveillance-prune.service.d/nats.conf');
      const good = readFileSync(dropin, 'utf8');
      writeFileSync(dropin, `${good}IPAddressAllow=not-an-address\n`);
      expect(verifyUnits(root, all).stderr).toMatch(/not-an-address/);
      writeFileSync(dropin, good);
      // The hardening stays: the drop-in opens only the network to the cluster.
      for (const service of SERVICES) expect(exposure(root, service)).toBeLessThanOrEqual(2.5);

      expect(install(['--root', root, '--port', '4444']).status).toBe(0);
      for (const u of STORE_SERVICES) expect(existsSync(join(units, `${u}.d/nats.conf`))).toBe(false);
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
