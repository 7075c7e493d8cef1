import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './receiver.ts';

/**
 * A real systemd manager for tests: the host's own systemd (from its /usr) booted as PID 1 of
 * a systemd-nspawn container, since PID 1 of the test machine is not systemd. Nothing is
 * downloaded: the container's root is a skeleton (symlinks into /usr, os-release, passwd,
 * group, an empty machine-id) with the host's /usr bound read-only. It shares the host's
 * network, so a socket unit on 127.0.0.1:PORT inside is reachable from the test.
 *
 *   const box = await Container.boot({ ownDirs: ['/usr/local'] });
 *   await box.systemctl('start', 'surveillance.socket');
 *   const entries = await box.journal('-u', 'surveillance@*');
 *   await box.stop();   // in afterAll; a crashed test process still kills it (exit handler)
 *
 * Needs root, systemd-nspawn (Debian: systemd-container), nsenter and a writable cgroup tree.
 * The manager gets the unified cgroup hierarchy, CAP_BPF and the bpf() system call, so that
 * eBPF features (IPAddressDeny=, IP accounting) work as on a current distribution, and
 * CAP_NET_ADMIN, so that PrivateNetwork= can bring up the loopback device of its namespaces.
 */

/**
 * Masked in every container. dbus-daemon never reports READY under nspawn on these machines,
 * so boot would hang for minutes on it and on logind (which needs it); systemctl talks to the
 * manager over /run/systemd/private and needs neither. Without logind, `startUserManager`
 * stands in for `loginctl enable-linger`.
 */
const ALWAYS_MASKED = ['dbus.service', 'dbus.socket', 'systemd-logind.service', 'console-getty.service'];
const PATH_INSIDE = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** SIGRTMIN+4: systemd as PID 1 powers off on it (systemd(1), "Signals"). */
const SIGNAL_POWEROFF = 38;
/** Where a process's cgroups are: the unified tree alone, or the named v1 tree and the unified one of a hybrid host. */
const CGROUP_TREES = existsSync('/sys/fs/cgroup/cgroup.controllers') ? ['/sys/fs/cgroup'] : ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'].filter(existsSync);

/**
 * The repository inside every container, read-only. Not at its host path: CI may clone below
 * /tmp, which PrivateTmp=yes hides from the services under test, and a checkout in /home or
 * /root is hidden by ProtectHome=. Units and wrappers in tests name programs through this.
 */
export const REPO_IN_CONTAINER = '/opt/surveillance';

export interface BootOptions {
  /** Host folders visible read-only at the same path inside (the repository: REPO_IN_CONTAINER). */
  bindReadOnly?: string[];
  /**
   * Folders that the container gets from its own root instead of the host's /usr, e.g.
   * `/usr/local`: what an installer writes to `root/usr/local` is then what runs inside.
   */
  ownDirs?: string[];
  /** More units to mask before boot. */
  mask?: string[];
  /** Called with the root folder before boot, to place units and files. */
  prepare?: (root: string) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Extra environment (the command otherwise gets only PATH). */
  env?: Record<string, string>;
  /** Run as this user (name or uid) instead of root. */
  user?: string;
  /** Throw on a non-zero exit (default true). */
  check?: boolean;
  timeoutMs?: number;
}

export interface JournalEntry {
  message: string;
  priority: number;
  /** The system unit (user@UID.service for a user's units). */
  unit: string | undefined;
  /** The unit in a user manager. */
  userUnit: string | undefined;
  identifier: string | undefined;
  fields: Record<string, unknown>;
}

/**
 * Use as `describe.skipIf(!needContainers())`: whether containers can be booted here (root,
 * systemd-nspawn, nsenter, a cgroup tree). Like needTools, a missing piece skips on a
 * developer's machine and fails under CI.
 */
export function needContainers(): boolean {
  const missing = [
    process.getuid?.() === 0 ? '' : 'root',
    existsSync('/usr/bin/systemd-nspawn') ? '' : 'systemd-nspawn (Debian: systemd-container)',
    existsSync('/usr/bin/nsenter') ? '' : 'nsenter (util-linux)',
    CGROUP_TREES.length > 0 ? '' : 'a cgroup tree',
  ].filter(Boolean);
  if (missing.length === 0) return true;
  if (process.env.CI) throw new Error(`booting systemd containers needs ${missing.join(', ')}`);
  console.warn(`skipping tests that boot systemd containers: no ${missing.join(', ')}`);
  return false;
}

const live = new Set<Container>();
let counter = 0;

export class Container {
  private exited = false;

  private constructor(
    readonly name: string,
    /** The container's root folder on the host. */
    readonly root: string,
    private readonly nspawn: ChildProcess,
    /** The host pid of the container's systemd (PID 1 inside). */
    readonly leader: number,
    private readonly logPath: string,
  ) {
    nspawn.once('exit', () => (this.exited = true));
  }

  static async boot(options: BootOptions = {}): Promise<Container> {
    const name = `svt-${process.pid}-${++counter}`;
    const root = mkdtempSync(join(tmpdir(), `${name}-`));
    // mkdtemp makes it 0700: no service user inside could even reach its working directory.
    chmodSync(root, 0o755);
    makeSkeleton(root, [...ALWAYS_MASKED, ...(options.mask ?? [])]);
    // An own folder lives beside the root and is linked from inside it: writes to
    // root/usr/local land there, and nspawn can bind it (a source below root/usr would resolve
    // through the /usr bind to the host's folder).
    const own = `${root}.own`;
    for (const dir of options.ownDirs ?? []) {
      mkdirSync(join(own, dir), { recursive: true });
      mkdirSync(dirname(join(root, dir)), { recursive: true });
      symlinkSync(join(own, dir), join(root, dir));
    }
    options.prepare?.(root);

    const binds = new Set([`${ROOT.replace(/\/$/, '')}:${REPO_IN_CONTAINER}`, ...nodeOutsideUsr(), ...(options.bindReadOnly ?? [])]);
    const args = [
      '-D', root, '-M', name, '--boot', '--register=no', '--keep-unit', '--console=passive',
      '--bind-ro=/usr', '--bind-ro=/etc/alternatives',
      '--capability=CAP_BPF,CAP_NET_ADMIN', '--system-call-filter=bpf',
      ...[...binds].map((p) => `--bind-ro=${p}`),
      ...(options.ownDirs ?? []).map((d) => `--bind=${join(own, d)}:${d}`),
    ];
    // The starting shell moves itself into a cgroup of its own first: nspawn (--keep-unit,
    // no machined here) builds the container's cgroups below its own, and they can then be
    // removed afterwards without touching anyone else's.
    const cgroups = CGROUP_TREES.map((tree) => join(tree, name));
    for (const dir of cgroups) mkdirSync(dir, { recursive: true });
    const join$$ = cgroups.map((dir) => `echo $$ > ${dir}/cgroup.procs`).join('; ');
    const logPath = `${root}.log`;
    const log = openSync(logPath, 'w');
    const child = spawn('sh', ['-c', `${join$$}; exec setsid systemd-nspawn "$@"`, 'sh', ...args], {
      stdio: ['ignore', log, log],
      // Even on a hybrid host: eBPF filters need the manager on the unified hierarchy.
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
    });
    closeSync(log);

    let container: Container | undefined;
    try {
      const leader = await waitForLeader(child, logPath);
      container = new Container(name, root, child, leader, logPath);
      live.add(container);
      await container.waitUntilBooted();
      return container;
    } catch (e) {
      if (container) await container.stop();
      else killTree(name, child.pid, root);
      throw e;
    }
  }

  /** The host path of a path inside the container's own root or own folders (not below a bound folder). */
  path(inside: string): string {
    return join(this.root, inside);
  }

  /** Runs a command inside, in all of the container's namespaces, with a clean environment. */
  run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    const env = Object.entries({ PATH: PATH_INSIDE, ...options.env }).map(([k, v]) => `${k}=${v}`);
    // nsenter switches user itself: runuser and su need PAM, which the skeleton lacks.
    const asUser = options.user ? ['-S', String(this.account(options.user).uid), '-G', String(this.account(options.user).gid)] : [];
    const full = ['-t', String(this.leader), '-m', '-u', '-i', '-n', '-p', '-C', ...asUser, '--', 'env', '-i', ...env, ...argv];
    return new Promise((resolve, reject) => {
      execFile('nsenter', full, { encoding: 'utf8', timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        if (code !== 0 && options.check !== false) {
          reject(new Error(`in container ${this.name}: ${argv.join(' ')} exited ${code}: ${stderr.trim() || stdout.trim()}`));
        } else {
          resolve({ code, stdout, stderr });
        }
      });
    });
  }

  /** A user of the container, from its /etc/passwd. */
  account(user: string): { uid: number; gid: number; home: string } {
    const line = readFileSync(this.path('etc/passwd'), 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[0] === user || f[2] === user);
    if (!line) throw new Error(`no user ${user} in container ${this.name}`);
    return { uid: Number(line[2]), gid: Number(line[3]), home: line[5]! };
  }

  /** `systemctl ARGS` inside; returns stdout, throws on failure. */
  async systemctl(...args: string[]): Promise<string> {
    return (await this.run(['systemctl', '--no-pager', ...args])).stdout;
  }

  /** `systemctl --user ARGS` for a user whose manager runs (see startUserManager). */
  async userSystemctl(user: string, ...args: string[]): Promise<string> {
    const { uid } = this.account(user);
    return (await this.run(['systemctl', '--user', '--no-pager', ...args], { user, env: { XDG_RUNTIME_DIR: `/run/user/${uid}` } })).stdout;
  }

  /** Journal entries of this boot, filtered by journalctl ARGS (e.g. '-u', 'x.service', '-p', 'warning'). */
  async journal(...args: string[]): Promise<JournalEntry[]> {
    const { stdout } = await this.run(['journalctl', '-b', '--no-pager', '-o', 'json', ...args], { check: false });
    return stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const fields = JSON.parse(line) as Record<string, unknown>;
        const raw = fields.MESSAGE;
        const message = Array.isArray(raw) ? Buffer.from(raw as number[]).toString('utf8') : String(raw ?? '');
        return {
          message,
          priority: Number(fields.PRIORITY ?? 6),
          unit: (fields._SYSTEMD_UNIT ?? fields.UNIT) as string | undefined,
          userUnit: (fields._SYSTEMD_USER_UNIT ?? fields.USER_UNIT) as string | undefined,
          identifier: fields.SYSLOG_IDENTIFIER as string | undefined,
          fields,
        };
      });
  }

  /**
   * Starts the user manager (user@UID.service) of `user`, as `loginctl enable-linger` would
   * with logind there. Without logind, two stand-ins (drop-ins): user-runtime-dir@ makes
   * /run/user/UID itself instead of asking logind for its size, and user@ runs without its
   * PAM session (the skeleton has no /etc/pam.d), setting XDG_RUNTIME_DIR as pam_systemd would.
   */
  async startUserManager(user: string): Promise<void> {
    const { uid } = this.account(user);
    const dropIns: Record<string, string> = {
      'user-runtime-dir@.service.d/no-logind.conf':
        '[Service]\nExecStart=\nExecStart=/bin/sh -c \'install -d -m 0700 -o %i -g "$$(id -g %i)" /run/user/%i\'\nExecStop=\nExecStop=/bin/rm -rf /run/user/%i\n',
      'user@.service.d/no-pam.conf': '[Service]\nPAMName=\nEnvironment=XDG_RUNTIME_DIR=/run/user/%i\n',
    };
    for (const [file, text] of Object.entries(dropIns)) {
      const path = this.path(join('etc/systemd/system', file));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
    }
    await this.systemctl('daemon-reload');
    // PID 1 makes this mount point the first time it sandboxes a service, and a user manager
    // cannot make it: without it every sandboxed user unit fails (status 226/NAMESPACE).
    await this.run(['mkdir', '-p', '/run/systemd/unit-root']);
    await this.systemctl('start', `user@${uid}.service`);
    await this.run(['systemctl', '--user', 'is-system-running', '--wait'], { user, env: { XDG_RUNTIME_DIR: `/run/user/${uid}` }, check: false });
  }

  /** Powers the container off, waits for it, and removes its cgroups and root folder. */
  async stop(): Promise<void> {
    live.delete(this);
    if (!this.exited) {
      const gone = new Promise<void>((resolve) => {
        if (this.exited) resolve();
        else this.nspawn.once('exit', () => resolve());
      });
      try {
        process.kill(this.leader, SIGNAL_POWEROFF);
      } catch {
        // already gone
      }
      const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 30_000).unref());
      if ((await Promise.race([gone, timer])) === 'late') killTree(this.name, this.nspawn.pid, undefined);
      await gone;
    }
    killTree(this.name, undefined, this.root);
  }

  /** @internal For the exit handler: no waiting, no power off, just gone. */
  killNow(): void {
    killTree(this.name, this.nspawn.pid, this.root);
  }

  /** What nspawn printed (the boot messages), for failure reports. */
  bootLog(): string {
    return readFileSync(this.logPath, 'utf8');
  }

  private async waitUntilBooted(): Promise<void> {
    const started = Date.now();
    while ((await this.run(['test', '-S', '/run/systemd/private'], { check: false })).code !== 0) {
      if (this.exited || Date.now() - started > 30_000) throw new Error(`container ${this.name} did not start its manager:\n${this.bootLog()}`);
      await sleep(50);
    }
    const state = await this.run(['systemctl', 'is-system-running', '--wait'], { check: false, timeoutMs: 90_000 });
    if (state.stdout.trim() !== 'running') {
      const failed = await this.systemctl('--failed', '--plain', '--no-legend');
      throw new Error(`container ${this.name} booted ${state.stdout.trim() || 'nowhere'}; failed units:\n${failed}`);
    }
  }
}

function makeSkeleton(root: string, masked: string[]): void {
  for (const [link, target] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']] as const) {
    symlinkSync(target, join(root, link));
  }
  for (const dir of ['usr', 'etc/systemd/system', 'var', 'run', 'proc', 'sys', 'dev', 'root']) mkdirSync(join(root, dir), { recursive: true });
  // PrivateTmp= makes its private folders below both; a user manager cannot create them itself.
  for (const dir of ['tmp', 'var/tmp']) {
    mkdirSync(join(root, dir));
    chmodSync(join(root, dir), 0o1777);
  }
  writeFileSync(join(root, 'etc/os-release'), readFileSync('/usr/lib/os-release'));
  writeFileSync(join(root, 'etc/passwd'), readFileSync('/etc/passwd'));
  writeFileSync(join(root, 'etc/group'), readFileSync('/etc/group'));
  writeFileSync(join(root, 'etc/machine-id'), '');
  for (const unit of masked) symlinkSync('/dev/null', join(root, 'etc/systemd/system', unit));
}

/** Node's prefix, when node is not below /usr (which the container has anyway). */
function nodeOutsideUsr(): string[] {
  const node = realpathSync(process.execPath);
  return node.startsWith('/usr/') ? [] : [dirname(dirname(node))];
}

/** The container's systemd: nspawn's child, once it has become systemd. */
async function waitForLeader(child: ChildProcess, logPath: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`systemd-nspawn exited:\n${readFileSync(logPath, 'utf8')}`);
    const pid = child.pid!;
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
        if (readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'systemd') return Number(c);
      }
    } catch {
      // nspawn is still setting up
    }
    if (Date.now() - started > 30_000) throw new Error(`systemd did not start in the container:\n${readFileSync(logPath, 'utf8')}`);
    await sleep(20);
  }
}

/**
 * Kills everything left in the container's cgroups, removes them, and removes its root
 * folder. Synchronous, so that it can run from an exit handler.
 */
function killTree(name: string, nspawnPid: number | undefined, root: string | undefined): void {
  if (nspawnPid) signal(nspawnPid, 'SIGKILL');
  for (const tree of CGROUP_TREES) {
    const top = join(tree, name);
    if (!existsSync(top)) continue;
    for (let attempt = 0; attempt < 100; attempt++) {
      const dirs = cgroupDirs(top);
      const pids = dirs.flatMap((d) => readPids(d));
      for (const pid of pids) signal(pid, 'SIGKILL');
      for (const d of dirs) {
        try {
          rmdirSync(d);
        } catch {
          // still has processes (dying) or children: next round
        }
      }
      if (!existsSync(top)) break;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  if (root) {
    rmSync(root, { recursive: true, force: true });
    rmSync(`${root}.own`, { recursive: true, force: true });
    rmSync(`${root}.log`, { force: true });
  }
}

/** A cgroup folder and all below it, deepest first. */
function cgroupDirs(dir: string): string[] {
  const below = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => cgroupDirs(join(dir, e.name)));
  return [...below, dir];
}

function readPids(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// A test process that dies (a crash, Ctrl-C, a worker killed on timeout) takes its containers
// with it: no manager may outlive the tests that booted it.
const killAll = () => {
  for (const c of live) c.killNow();
  live.clear();
};
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killAll();
    process.kill(process.pid, sig);
  });
}
