import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeHeader } from '@surveillance/shared';
import { exchange } from './helpers/client.ts';
import { cleanEnv, FIXTURES, RECEIVER_BIN, startReceiver, tempDir } from './helpers/receiver.ts';
import { storedFrames } from './helpers/sender.ts';
import { needTools } from './helpers/tools.ts';

/**
 * The per-connection receiver serves a plaintext connection that systemd names (REMOTE_ADDR)
 * from fd 0 with node:fs (src/receive/fd-socket.ts); receiver.test.ts runs its cases that way.
 * These are the edges of that: a launcher that names no peer, a socket left non-blocking, and a
 * peer that will not close.
 */

const baseline = readFileSync(join(FIXTURES, 'jpeg/cjpeg-baseline.jpg'));
const framed = (id: string, time = new Date()) => Buffer.concat([encodeHeader({ camera: 'front', id, time, length: baseline.length }), baseline]);
const exitStatuses = (stderr: string) => [...stderr.matchAll(/Child \d+ died with code (\d+)/g)].map((m) => Number(m[1]));

async function until(what: () => boolean, label: string, ms = 10_000): Promise<void> {
  for (const start = Date.now(); !what(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${label}`);
  }
}

describe.skipIf(!needTools('systemd-socket-activate'))('the per-connection receiver on its fd', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('without REMOTE_ADDR (a launcher that names no peer) asks the socket, and names raw frames after the peer', async () => {
    const receiver = await startReceiver('inetd', join(dir.path, 'unnamed'), [], { REMOTE_ADDR: '' });
    try {
      const { lines } = await exchange(receiver.port, [baseline]);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^OK r[0-9a-z]+-1 127\.0\.0\.1\/\d{4}-\d{2}-\d{2}\//);
      expect(storedFrames(join(dir.path, 'unnamed'))).toHaveLength(1);
    } finally {
      await receiver.stop();
    }
  });

  it('closes our side as soon as the peer has ended and the answers are written', async () => {
    const receiver = await startReceiver('inetd', join(dir.path, 'ended'));
    try {
      const { lines } = await exchange(receiver.port, [framed('e-1'), framed('e-2')]);
      expect(lines.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['OK e-1', 'OK e-2']);
      await until(() => exitStatuses(receiver.stderr()).length === 1, 'the connection to exit');
      expect(exitStatuses(receiver.stderr())).toEqual([0]);
    } finally {
      await receiver.stop();
    }
  });

  it('hands a socket left non-blocking (EAGAIN) to a net.Socket and loses nothing', async () => {
    // A socket of this process: libuv made it non-blocking, and the child shares that flag.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    const accepted = await new Promise<Socket>((r) => server.once('connection', r));
    const store = join(dir.path, 'nonblocking');
    const child = spawn('node', [RECEIVER_BIN, '--store', store, '--min-free', '0'], { stdio: [accepted, accepted, 'pipe'], env: cleanEnv({ REMOTE_ADDR: '127.0.0.1' }) });
    accepted.destroy();
    let answers = '';
    client.on('data', (d) => (answers += d));
    client.end(Buffer.concat([framed('nb-1'), framed('nb-2'), framed('nb-3')]));
    const status = await new Promise((r) => child.on('close', r));
    client.destroy();
    server.close();
    expect(answers.trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['OK nb-1', 'OK nb-2', 'OK nb-3']);
    expect(status).toBe(0);
    expect(storedFrames(store)).toHaveLength(3);
  });

  it('cuts off a peer that stays open and silent after its ERR: end of stream at once, the process gone after the close grace', async () => {
    const receiver = await startReceiver('inetd', join(dir.path, 'silent'), ['--idle-timeout', '300ms']);
    const events: string[] = [];
    const socket = connect({ port: receiver.port, host: '127.0.0.1', allowHalfOpen: true });
    try {
      socket.on('data', (d) => events.push(String(d)));
      socket.on('end', () => events.push('end')); // and stays open, sending nothing
      await until(() => events.includes('end'), 'our end of stream');
      expect(events[0]).toMatch(/^ERR - timeout /);
      // A read that waits cannot be cancelled: the process ends by SIGKILL (9) after the grace.
      await until(() => exitStatuses(receiver.stderr()).length === 1, 'the connection process to end', 5_000);
      expect(exitStatuses(receiver.stderr())).toEqual([9]);
      expect(storedFrames(join(dir.path, 'silent'))).toEqual([]);
    } finally {
      socket.destroy();
      await receiver.stop();
    }
  });
});
