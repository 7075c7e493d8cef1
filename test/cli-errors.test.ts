import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, freePort, RECEIVER_BIN, SENDER_BIN, tempDir } from './helpers/receiver.ts';

/**
 * System errors as a person meets them at the command line: said once (not Node's
 * `EADDRINUSE listen EADDRINUSE`), naming what the user gave (not an internal folder), with
 * what to do, and an exit status that tells a usage error (64) from a missing resource (69).
 */

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(bin: string, args: string[]): Promise<Result> {
  // stdin is /dev/null: a socket or pipe there would be taken for a connection (Accept=yes).
  const child = spawn(process.execPath, [bin, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

const R = 'surveillance-receiver';
const dir = tempDir();
/** A gallery token for scripts, as a file of mode 600 (never on the command line). */
const tokenFile = join(dir.path, 'token');
let blocker: Server;
let busy: number;

beforeAll(async () => {
  writeFileSync(join(dir.path, 'afile'), 'not a folder');
  writeFileSync(tokenFile, 'a-token-long-enough-for-the-gallery\n', { mode: 0o600 });
  busy = await freePort();
  blocker = createServer();
  await new Promise<void>((r) => blocker.listen(busy, '127.0.0.1', r));
});

afterAll(() => {
  blocker.close();
  dir.remove();
});

describe('the store path', () => {
  it('is a file: said so, once, without the internal folder, exit 73', async () => {
    const store = join(dir.path, 'afile');
    const result = await run(RECEIVER_BIN, ['--store', store, '--listen', '127.0.0.1:1']);
    expect(result.stderr).toBe(`${R}: store-failed: cannot create the store at ${store}: it is a file, not a folder\n`);
    expect(result.code).toBe(73);
  });

  it('lies under a file: the file is named', async () => {
    const store = join(dir.path, 'afile', 'store');
    const result = await run(RECEIVER_BIN, ['--store', store, '--listen', '127.0.0.1:1']);
    expect(result.stderr).toBe(`${R}: store-failed: cannot create the store at ${store}: ${join(dir.path, 'afile')} is a file, not a folder\n`);
    expect(result.code).toBe(73);
  });
});

describe('an address that cannot be listened on', () => {
  const inUse = (port: number) =>
    `cannot listen on 127.0.0.1:${port}: the address is in use: another receiver or program listens there (see which: ss -ltnp 'sport = :${port}'), or choose another port`;

  it.each([
    ['the receiver', [RECEIVER_BIN, '--store', 'STORE', '--min-free', '0', '--listen']],
    ['the gallery', [RECEIVER_BIN, 'serve', '--store', 'STORE', '--listen']],
  ])('in use, %s: exit 69 (unavailable), said once, with a hint', async (_who, [bin, ...args]) => {
    const result = await run(bin!, [...args.map((a) => (a === 'STORE' ? dir.path : a)), `127.0.0.1:${busy}`]);
    expect(result.stderr).toBe(`${R}: unavailable: ${inUse(busy)}\n`);
    expect(result.code).toBe(69);
  });

  it.each([
    ['the receiver', [RECEIVER_BIN, '--store', 'STORE', '--min-free', '0', '--listen']],
    ['the gallery', [RECEIVER_BIN, 'serve', '--store', 'STORE', '--token-file', 'TOKEN', '--insecure-http', '--listen']],
  ])('not of this machine (192.0.2.1, a documentation address), %s: exit 69', async (_who, [bin, ...args]) => {
    const result = await run(bin!, [...args.map((a) => (a === 'STORE' ? dir.path : a === 'TOKEN' ? tokenFile : a)), '192.0.2.1:4444']);
    expect(result.stderr).toBe(
      `${R}: unavailable: cannot listen on 192.0.2.1:4444: 192.0.2.1 is not an address of this machine (see ip -brief address), or use 0.0.0.0 for all of them\n`,
    );
    expect(result.code).toBe(69);
  });
});

describe('HOST:PORT is checked before it reaches the resolver (usage, exit 64)', () => {
  it.each([
    ['999.1.1.1:4444', '999.1.1.1 is not an IPv4 address (four numbers from 0 to 255)'],
    ['1.2.3:4444', '1.2.3 is not an IPv4 address (four numbers from 0 to 255)'],
    ['cam_1.local:4444', 'cam_1.local is not a host name (letters, digits and -, between dots) or an address'],
    ['a..b:4444', 'a..b is not a host name (letters, digits and -, between dots) or an address'],
    ['[::g]:4444', '[::g] is not an IPv6 address'],
    ['127.0.0.1:70000', 'port 70000 is not between 1 and 65535'],
    ['127.0.0.1:0', 'port 0 is not between 1 and 65535'],
    ['127.0.0.1', 'expected HOST:PORT, such as 127.0.0.1:4444 or [::1]:4444'],
  ])('--listen %s', async (hostport, why) => {
    const result = await run(RECEIVER_BIN, ['--store', dir.path, '--listen', hostport]);
    expect(result.stderr).toBe(`${R}: usage: option listen (from --listen): ${JSON.stringify(hostport)} is not valid: ${why}\n`);
    expect(result.code).toBe(64);
  });

  it('the gallery and the sender read HOST:PORT the same way', async () => {
    const gallery = await run(RECEIVER_BIN, ['serve', '--store', dir.path, '--listen', '999.1.1.1:8080']);
    expect(gallery.stderr).toBe(`${R}: usage: option listen (from --listen): "999.1.1.1:8080" is not valid: 999.1.1.1 is not an IPv4 address (four numbers from 0 to 255)\n`);
    expect(gallery.code).toBe(64);
    const sender = await run(SENDER_BIN, ['send', '--to', '999.1.1.1:4444', join(dir.path, 'afile')]);
    expect(sender.stderr).toBe(
      'surveillance-sender: usage: option to (from --to): "999.1.1.1:4444" is not valid: 999.1.1.1 is not an IPv4 address (four numbers from 0 to 255)\n',
    );
    expect(sender.code).toBe(64);
  });

  it.each(['[::1]:4444', 'localhost:4444', 'cam-1.example.org:4444', '10.0.0.1:4444'])('accepts %s', async (hostport) => {
    // Well-formed: refused for the token file that is not there, not for its syntax.
    const result = await run(RECEIVER_BIN, ['serve', '--store', dir.path, '--listen', hostport, '--token-file', join(dir.path, 'no-token')]);
    expect(result.stderr).toMatch(/^surveillance-receiver: not-found: token file .* cannot be read/);
  });
});
