import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPretty } from '../packages/shared/src/log-pretty.ts';
import { exchange } from './helpers/client.ts';
import { cleanEnv, FIXTURES, SENDER_BIN, startReceiver, tempDir } from './helpers/receiver.ts';
import { ensureBuilt } from './helpers/review-cli.ts';
import { needTools } from './helpers/tools.ts';

// --log-format: JSON for the journal and pipes, lines a person reads on a terminal. A terminal
// is a real pseudo-terminal from script(1); the sender's `once` without a picture logs one
// warning and exits, a command that logs without any timing in the test.

const dir = tempDir('log-format-');
afterAll(() => dir.remove());
beforeAll(() => ensureBuilt());

describe('formatPretty', () => {
  const record = { level: 40, time: Date.UTC(2026, 10, 21, 5, 53, 0, 7), pid: 12, name: 'surveillance-sender', msg: 'spool full', dropped: 3, file: '/tmp/a b.jpg', ok: true, none: null, to: { host: 'h', port: 1 } };
  const TZ = process.env.TZ;
  beforeAll(() => void (process.env.TZ = 'UTC'));
  afterAll(() => void (TZ === undefined ? delete process.env.TZ : (process.env.TZ = TZ)));

  it.each([
    [false, '05:53:00.007 WARN  spool full dropped=3 file="/tmp/a b.jpg" ok=true none=null to={"host":"h","port":1}\n'],
    [true, '\x1b[2m05:53:00.007\x1b[0m \x1b[33mWARN \x1b[0m spool full \x1b[2mdropped=\x1b[0m3 \x1b[2mfile=\x1b[0m"/tmp/a b.jpg" \x1b[2mok=\x1b[0mtrue \x1b[2mnone=\x1b[0mnull \x1b[2mto=\x1b[0m{"host":"h","port":1}\n'],
  ])('colour %s', (colour, line) => {
    expect(formatPretty(record, colour)).toBe(line);
  });

  it('an error: its message in the line, its stack below', () => {
    const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (a.js:1:1)\n    at g (b.js:2:2)' };
    expect(formatPretty({ level: 50, time: 0, msg: 'failed', err }, false)).toBe(`${formatPretty({ level: 50, time: 0, msg: 'failed' }, false).trimEnd()} err=boom\n    at f (a.js:1:1)\n    at g (b.js:2:2)\n`);
  });
});

const PRETTY = /^\d\d:\d\d:\d\d\.\d{3} WARN  cannot read \/nope\/monitor\.jpg: ENOENT: .* file=\/nope\/monitor\.jpg code=not-found\r?\n$/;
const COLOURED = /^\x1b\[2m\d\d:\d\d:\d\d\.\d{3}\x1b\[0m \x1b\[33mWARN \x1b\[0m cannot read .* \x1b\[2mfile=\x1b\[0m\/nope\/monitor\.jpg \x1b\[2mcode=\x1b\[0mnot-found\r?\n$/;

let runs = 0;
/** `surveillance-sender once` with no picture, on a terminal or not; stderr (and, on a terminal, stdout) as text. */
function once(args: string[], env: Record<string, string>, terminal: boolean): string {
  const argv = [SENDER_BIN, 'once', '--file', '/nope/monitor.jpg', '--to', '127.0.0.1:1', '--spool', join(dir.path, `spool-${runs++}`), '--camera', 'c', ...args];
  if (!terminal) {
    const r = spawnSync(process.execPath, argv, { env: cleanEnv(env), encoding: 'utf8' });
    expect(r.status).toBe(0);
    return r.stderr;
  }
  const command = [process.execPath, ...argv].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { env: cleanEnv(env), encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stdout;
}

describe.skipIf(!needTools('script'))('--log-format in a command', () => {
  it.each([
    ['auto on a terminal: pretty, in colour', [], {}, true, COLOURED],
    ['auto on a terminal with NO_COLOR: pretty, no colour', [], { NO_COLOR: '1' }, true, PRETTY],
    ['auto into a pipe: JSON', [], {}, false, /^\{"level":40,"time":\d+,"pid":\d+,"name":"surveillance-sender","file":"\/nope\/monitor\.jpg","code":"not-found","msg":"cannot read .*"\}\n$/],
    ['json on a terminal: JSON', ['--log-format', 'json'], {}, true, /^\{"level":40,.*"msg":"cannot read .*"\}\r?\n$/],
    ['pretty into a pipe: pretty, no colour', ['--log-format', 'pretty'], {}, false, PRETTY],
    ['SURVEILLANCE_LOG_FORMAT=pretty: the same funnel as every option', [], { SURVEILLANCE_LOG_FORMAT: 'pretty' }, false, PRETTY],
  ])('%s', (_what, args, env, terminal, expected) => {
    expect(once(args, env as Record<string, string>, terminal)).toMatch(expected);
  });

  it('a format that does not exist', () => {
    const r = spawnSync(process.execPath, [SENDER_BIN, 'once', '--log-format', 'fancy'], { env: cleanEnv(), encoding: 'utf8' });
    expect(r.stderr).toBe('surveillance-sender: usage: option log-format (from --log-format): "fancy" is not valid: choose one of auto, json, pretty\n');
    expect(r.status).toBe(64);
  });
});

describe.skipIf(!needTools('systemd-socket-activate'))('the per-connection receiver', () => {
  it('logs JSON by default (its stderr is the journal), pretty when told', async () => {
    const jpeg = readFileSync(join(FIXTURES, 'jpeg/cjpeg-baseline.jpg'));
    for (const [args, expected] of [
      [[], /\{"level":30,"time":\d+,"pid":\d+,"name":"surveillance-receiver",.*"msg":"stored"\}\n/],
      [['--log-format', 'pretty'], /\n\d\d:\d\d:\d\d\.\d{3} INFO  stored .*bytes=\d+/],
    ] as const) {
      const receiver = await startReceiver('inetd', join(dir.path, `store-${runs++}`), [...args]);
      try {
        const { lines } = await exchange(receiver.port, [jpeg]);
        expect(lines[0]).toMatch(/^OK /);
        // The line may follow the answer by a moment: wait for it, at most 10 s.
        for (let i = 0; i < 100 && !expected.test(receiver.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
        expect(receiver.stderr()).toMatch(expected);
      } finally {
        await receiver.stop();
      }
    }
  });
});
