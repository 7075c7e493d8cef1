import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, FIXTURES, freePort, SENDER_BIN, startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { storedFrames } from './helpers/sender.ts';
import { needTools } from './helpers/tools.ts';

/** Runs the built sender to completion. */
function sender(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('node', [SENDER_BIN, ...args], { env: cleanEnv(env), encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const JPEG = join(FIXTURES, 'jpeg/cjpeg-baseline.jpg');
const OTHER_JPEG = join(FIXTURES, 'jpeg/ffmpeg-baseline.jpg');
const PNG = join(FIXTURES, 'bad/image.png');

describe('surveillance-sender command line', () => {
  const tmp = tempDir('sender-cli-');
  afterAll(() => tmp.remove());

  it('prints its commands with --help and exits 0', () => {
    const r = sender(['--help']);
    expect(r.status).toBe(0);
    for (const c of ['watch', 'once', 'send', 'status']) expect(r.stdout).toContain(`  ${c}`);
  });

  const optionsIn = (help: string) => [...help.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]);
  const DELIVERY = ['file', 'to', 'timeout', 'key', 'spool', 'spool-max-bytes', 'spool-max-files', 'camera', 'heartbeat', 'retry-min', 'retry-max', 'linger'];
  const DETECTOR = ['threshold', 'noise', 'mask', 'analysis-width'];
  const LOG = ['log-level', 'log-format'];
  const WATCHER = ['interval', 'min-gap', 'stale-after', 'timer-only', 'poll', 'poll-interval'];
  it.each([
    ['send', ['to', 'timeout', 'key', 'camera', 'time']],
    ['status', ['to', 'timeout', 'key', 'spool', 'spool-max-bytes', 'spool-max-files', 'json']],
    ['once', [...DELIVERY, ...DETECTOR, ...LOG]],
    ['watch', [...DELIVERY, ...WATCHER, ...DETECTOR, ...LOG]],
  ])('%s --help lists the options it reads, and only those, with their environment names', (command, reads) => {
    const r = sender([command, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: surveillance-sender ${command}`));
    expect(optionsIn(r.stdout).sort()).toEqual([...reads, 'help', 'config'].sort());
    expect(r.stdout).toContain('[SURVEILLANCE_TO]');
    expect(r.stdout).toContain("The other commands' options are accepted too (one config file serves them all) and change nothing here.");
  });

  it.each(['watch', 'once', 'status'])('%s --help says --spool is required outside systemd', (command) => {
    const r = sender([command, '--help']);
    expect(r.stdout).toMatch(new RegExp(`^Usage: surveillance-sender ${command} .*--spool DIR(?! *\\])`));
    expect(r.stdout).toContain('--spool may be left out only under systemd, whose StateDirectory= sets $STATE_DIRECTORY.');
    expect(r.stdout).toContain('required, unless systemd sets $STATE_DIRECTORY');
  });

  it('send --help says where the capture time comes from and offers --time now', () => {
    const r = sender(['send', '--help']);
    expect(r.stdout).toContain('--time now stores it as captured when');
    expect(r.stdout).toMatch(/--time STRING +the capture time of each file: its modification time \(mtime\) or the time of sending \(now\) \(default: mtime\)/);
  });

  const good = ['--file', '/nonexistent/monitor.jpg', '--to', '127.0.0.1:9', '--spool', '/nonexistent/spool', '--camera', 'front'];
  it.each([
    ['no command', [], 'surveillance-sender: usage: no command given; commands: watch, once, send, status (see --help)'],
    ['an unknown command', ['wach'], 'surveillance-sender: usage: unknown command "wach"; did you mean watch? Commands: watch, once, send, status'],
    ['an unknown option', ['watch', ...good, '--intervall', '1s'], "surveillance-sender: usage: Unknown option '--intervall'; did you mean --interval?"],
    ['a bad duration', ['watch', ...good, '--interval', 'soon'], 'surveillance-sender: usage: option interval (from --interval): "soon" is not valid: expected a duration such as 500ms, 10s, 5m, 2h or 7d'],
    ['a duration below the minimum', ['watch', ...good, '--interval', '1ms'], 'surveillance-sender: usage: option interval (from --interval): "1ms" is not valid: must be at least 10ms'],
    ['a bad receiver address', ['watch', ...good, '--to', 'laptop'], 'surveillance-sender: usage: option to (from --to): "laptop" is not valid: expected HOST:PORT, such as 127.0.0.1:4444 or [::1]:4444'],
    ['a bad size', ['watch', ...good, '--spool-max-bytes', 'lots'], 'surveillance-sender: usage: option spool-max-bytes (from --spool-max-bytes): "lots" is not valid: expected a size such as 16MiB, 300KB or 1G'],
    ['a bad camera name', ['watch', ...good, '--camera', '../etc'], 'surveillance-sender: usage: option camera: camera name "../etc" must be 1-64 letters, digits, \'.\', \'_\' or \'-\', not starting with \'.\', \'_\' or \'-\''],
    ['a missing --file', ['watch', '--to', '127.0.0.1:9', '--spool', '/x', '--camera', 'c'], "surveillance-sender: usage: missing --file (or SURVEILLANCE_FILE): the camera's picture to watch"],
    ['a missing --to', ['once', '--file', '/x.jpg', '--spool', '/x', '--camera', 'c'], 'surveillance-sender: usage: missing --to (or SURVEILLANCE_TO): the receiver to deliver frames to'],
    ['a missing spool', ['watch', '--file', '/x.jpg', '--to', '127.0.0.1:9', '--camera', 'c'], 'surveillance-sender: usage: no spool folder: pass --spool DIR or set SURVEILLANCE_SPOOL'],
    ['a stray argument', ['watch', ...good, 'extra'], 'surveillance-sender: usage: unexpected argument "extra"; see --help'],
    ['timer-only with poll', ['watch', ...good, '--timer-only', '--poll'], 'surveillance-sender: usage: options timer-only and poll exclude each other: --timer-only uses no file watcher at all'],
    ['a bad detector option', ['watch', ...good, '--noise', 'loud'], 'surveillance-sender: usage: option noise: "loud" is not valid: expected \'auto\' or a number of grey levels from 0 to 255'],
    ['send without files', ['send', '--to', '127.0.0.1:9', '--camera', 'c'], 'surveillance-sender: usage: no FILE given: send --to HOST:PORT FILE...'],
  ])('refuses %s with a usage error and exit 64', (_what, args, message) => {
    const r = sender(args as string[]);
    expect(r.stderr.trim()).toBe(message);
    expect(r.status).toBe(64);
    expect(r.stdout).toBe('');
  });

  it.each([
    ['environment', { SURVEILLANCE_INTERVAL: 'often' }, 'option interval (from $SURVEILLANCE_INTERVAL): "often" is not valid'],
    ['config file', { SURVEILLANCE_CONFIG: 'CONFIG' }, 'unknown option "intervall"; did you mean "interval"?'],
  ])('reads the same option names from the %s', (_where, env, message) => {
    const config = join(tmp.path, 'config.json');
    writeFileSync(config, JSON.stringify({ intervall: '1s' }));
    const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === 'CONFIG' ? config : v]));
    const r = sender(['watch', ...good], resolved);
    expect(r.stderr).toContain(message);
    expect(r.status).toBe(64);
  });

  it('takes every option from a config file shared by all commands', () => {
    const config = join(tmp.path, 'shared.json');
    writeFileSync(config, JSON.stringify({ spool: join(tmp.path, 'from-config'), to: '127.0.0.1:9', camera: 'front', threshold: 0.01, json: true }));
    const r = sender(['status', '--config', config]);
    expect(JSON.parse(r.stdout).spool).toBe(join(tmp.path, 'from-config'));
  });
});

describe.skipIf(!needTools('systemd-socket-activate'))('surveillance-sender send and status, against the receiver', () => {
  const tmp = tempDir('sender-send-');
  let receiver: RunningReceiver;
  const store = join(tmp.path, 'store');
  beforeAll(async () => {
    receiver = await startReceiver('inetd', store);
  });
  afterAll(async () => {
    await receiver.stop();
    tmp.remove();
  });

  it('delivers good files, reports a missing file and a PNG, and exits non-zero', () => {
    const r = sender(['send', '--to', `127.0.0.1:${receiver.port}`, '--camera', 'porch', JPEG, join(tmp.path, 'missing.jpg'), PNG, OTHER_JPEG]);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(new RegExp(`^${JPEG}: OK porch/\\d{4}-\\d{2}-\\d{2}/\\d{8}T\\d{6}\\.\\d{3}Z_[0-9a-f]{16}\\.jpg \\(capture time: the file's modification time; --time now uses the time of sending\\)$`));
    expect(lines[1]).toBe(`${join(tmp.path, 'missing.jpg')}: ERR not-found cannot read: ENOENT`);
    expect(lines[2]).toBe(`${PNG}: ERR bad-jpeg not a JPEG: a PNG image (only JPEG is accepted)`);
    expect(lines[3]).toMatch(new RegExp(`^${OTHER_JPEG}: OK porch/`));
    expect(r.status).toBe(65);
    expect(storedFrames(store).filter((f) => f.startsWith('porch/'))).toHaveLength(2);
  });

  it('goes on sending when its output is closed early (send ... | head -1), quietly', () => {
    const files = ['cjpeg-baseline.jpg', 'cjpeg-progressive.jpg', 'ffmpeg-444.jpg', 'fill-bytes.jpg'].map((f) => join(FIXTURES, 'jpeg', f));
    const r = spawnSync('sh', ['-c', 'node "$@" | head -c 1 >/dev/null', 'sh', SENDER_BIN, 'send', '--to', `127.0.0.1:${receiver.port}`, '--camera', 'piped', ...files], {
      env: cleanEnv(),
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(storedFrames(store).filter((f) => f.startsWith('piped/'))).toHaveLength(4);
  });

  it('answers DUP for a file sent again, and exits 0', () => {
    const copy = join(tmp.path, 'again.jpg');
    copyFileSync(JPEG, copy);
    const first = sender(['send', '--to', `127.0.0.1:${receiver.port}`, '--camera', 'again', copy]);
    const second = sender(['send', '--to', `127.0.0.1:${receiver.port}`, '--camera', 'again', copy]);
    expect(first.stdout).toMatch(/: OK again\//);
    expect(second.stdout).toBe(first.stdout.replace(': OK ', ': DUP '));
    expect(second.status).toBe(0);
    expect(storedFrames(store).filter((f) => f.startsWith('again/'))).toHaveLength(1);
  });

  it("takes the file's modification time as capture time, or with --time now the time of sending, and says which", () => {
    const old = join(tmp.path, 'old.jpg');
    copyFileSync(OTHER_JPEG, old);
    // A month old: within the receiver's --max-frame-age, and clearly not the time of sending.
    const taken = new Date(Math.floor(Date.now() / 1000 - 30 * 86_400) * 1000 + 789);
    const iso = taken.toISOString();
    const stamp = `${iso.slice(0, 10)}/${iso.slice(0, 19).replace(/[-:]/g, '')}\\.789Z`;
    utimesSync(old, taken, taken);
    const byMtime = sender(['send', '--to', `127.0.0.1:${receiver.port}`, '--camera', 'timed', old]);
    expect(byMtime.stdout).toMatch(
      new RegExp(`^${old}: OK timed/${stamp}_[0-9a-f]{16}\\.jpg \\(capture time: the file's modification time; --time now uses the time of sending\\)\\n$`),
    );
    const fresh = join(tmp.path, 'fresh.jpg');
    copyFileSync(JPEG, fresh);
    utimesSync(fresh, taken, taken);
    const byNow = sender(['send', '--to', `127.0.0.1:${receiver.port}`, '--camera', 'timed', '--time', 'now', fresh]);
    expect(byNow.stdout).toMatch(new RegExp(`^${fresh}: OK timed/\\S+\\.jpg \\(capture time: the time of sending\\)\\n$`));
    expect(byNow.stdout).not.toContain(iso.slice(0, 19).replace(/[-:]/g, ''));
    expect(byNow.status).toBe(0);
    const bad = sender(['send', '--to', `127.0.0.1:${receiver.port}`, '--time', 'ctime', fresh]);
    expect(bad.stderr).toBe('surveillance-sender: usage: option time (from --time): "ctime" is not valid: choose one of mtime, now\n');
    expect(bad.status).toBe(64);
  });

  it('reports a receiver that refuses the connection, for every file, and exits 69', async () => {
    const closed = await freePort();
    const r = sender(['send', '--to', `127.0.0.1:${closed}`, '--camera', 'c', JPEG, OTHER_JPEG]);
    expect(r.stdout).toBe(
      [JPEG, OTHER_JPEG].map((f) => `${f}: ERR unreachable receiver 127.0.0.1:${closed}: connection refused (is the receiver or its socket unit running?)\n`).join(''),
    );
    expect(r.status).toBe(69);
  });

  it('status: shows an empty spool and a receiver that answers the ping', () => {
    const spool = join(tmp.path, 'empty-spool');
    mkdirSync(spool);
    const before = storedFrames(store);
    const r = sender(['status', '--spool', spool, '--to', `127.0.0.1:${receiver.port}`, '--json']);
    expect(r.status).toBe(0);
    const status = JSON.parse(r.stdout);
    expect(status.backlog).toMatchObject({ files: 0, bytes: 0, rejected: 0 });
    expect(status.lastSent).toBeNull();
    expect(status.receiver).toMatchObject({ address: `127.0.0.1:${receiver.port}`, answers: true });
    expect(storedFrames(store)).toEqual(before); // a ping stores nothing
  });

  it('status: exits 69 when the receiver does not answer, in words without --json', async () => {
    const closed = await freePort();
    const r = sender(['status', '--spool', join(tmp.path, 'none'), '--to', `127.0.0.1:${closed}`]);
    expect(r.status).toBe(69);
    expect(r.stdout).toContain('backlog    none\n');
    expect(r.stdout).toContain(`receiver   127.0.0.1:${closed} does not answer: unreachable: receiver 127.0.0.1:${closed}: connection refused`);
  });
});
