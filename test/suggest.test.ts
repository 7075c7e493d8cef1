import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nearest } from '../packages/shared/src/suggest.ts';
import { cleanEnv, RECEIVER_BIN, SENDER_BIN, tempDir } from './helpers/receiver.ts';
import { ensureBuilt, receiverCommands } from './helpers/review-cli.ts';

// A mistyped option, config key or command is answered with the one it most likely meant.

const OPTIONS = ['store', 'name-pattern', 'log-level', 'log-format', 'listen', 'max-frame-bytes', 'idle-timeout', 'frame-timeout', 'min-free', 'help'];

describe('nearest', () => {
  it.each([
    ['stor', 'store'], // one letter missing
    ['sotre', 'store'], // two letters swapped
    ['STORE', 'store'], // case
    ['lsiten', 'listen'],
    ['log-levle', 'log-level'],
    ['log-formt', 'log-format'],
    ['max-frame-byte', 'max-frame-bytes'],
    ['idle-timout', 'idle-timeout'],
    ['max-f', 'max-frame-bytes'], // the only name it begins
    ['log', undefined], // begins two names
    ['x', undefined],
    ['frobnicate', undefined],
    ['hepl', 'help'],
  ])('%s -> %s', (typed, expected) => {
    expect(nearest(typed, OPTIONS)).toBe(expected);
  });
});

describe('in the commands', () => {
  const dir = tempDir('suggest-');
  const config = join(dir.path, 'config.json');
  beforeAll(() => {
    ensureBuilt();
    writeFileSync(config, JSON.stringify({ 'min-fre': '1GiB' }));
  });
  afterAll(() => dir.remove());
  const R = 'surveillance-receiver: usage:';
  const COMMANDS = receiverCommands();
  const S = 'surveillance-sender: usage:';

  it.each([
    [RECEIVER_BIN, ['lsit'], `${R} unknown command "lsit"; did you mean list? Commands: ${COMMANDS}`],
    [RECEIVER_BIN, ['serv'], `${R} unknown command "serv"; did you mean serve? Commands: ${COMMANDS}`],
    [RECEIVER_BIN, ['frobnicate'], `${R} unknown command "frobnicate"; commands: ${COMMANDS}`],
    [RECEIVER_BIN, ['list', '--stor', 'x'], `${R} Unknown option '--stor'; did you mean --store?`],
    [RECEIVER_BIN, ['--lisen', '127.0.0.1:1'], `${R} Unknown option '--lisen'; did you mean --listen?`],
    [RECEIVER_BIN, ['list', '--frobnicate'], `${R} Unknown option '--frobnicate'; see --help`],
    [RECEIVER_BIN, ['--config', config], `${R} config file ${config}: unknown option "min-fre"; did you mean "min-free"?`],
    [SENDER_BIN, ['wacth'], `${S} unknown command "wacth"; did you mean watch? Commands: watch, once, send, status`],
    [SENDER_BIN, ['stauts'], `${S} unknown command "stauts"; did you mean status? Commands: watch, once, send, status`],
    [SENDER_BIN, ['send', '--too', '127.0.0.1:1'], `${S} Unknown option '--too'; did you mean --to?`],
    [SENDER_BIN, ['watch', '--treshold', '3'], `${S} Unknown option '--treshold'; did you mean --threshold?`],
  ])('%s %j', (bin, args, message) => {
    const r = spawnSync(process.execPath, [bin, ...args], { env: cleanEnv(), encoding: 'utf8' });
    expect(r.stderr).toBe(`${message}\n`);
    expect(r.status).toBe(64);
  });
});
