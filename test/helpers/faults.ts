import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { scanJpeg } from '@surveillance/shared';
import { storedFrames, storedId, waitFor } from './sender.ts';

/**
 * Tools of the fault suites (test/faults.test.ts, test/load.test.ts): a proxy between sender and
 * receiver that holds a frame half-way so that a process can be killed at a known point, and
 * the accounting of a store after the fault (frames, duplicates, partial files, hashes).
 */

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface Cut {
  /** Answers the receiver must have sent on this connection before the cut frame starts. */
  afterAcks: number;
  /**
   * Called with the frame half-way through (its first bytes passed, the rest held).
   * `pushHeld` passes one more held byte on and resolves once it is written.
   */
  onHold: (pushHeld: () => Promise<void>) => Promise<void>;
}

/** How much of the cut frame passes before it is held: past its header, well inside its JPEG. */
const PASS_BYTES = 8192;

/**
 * A TCP proxy 127.0.0.1:port -> 127.0.0.1:target. Connection k (from 0) is cut as `cuts[k]`
 * says; after the last cut, bytes flow untouched. A cut connection is destroyed on both sides
 * once `onHold` has done its work.
 */
export async function faultProxy(
  target: number,
  cuts: Cut[],
): Promise<{ port: number; cutsDone: () => number; retarget: (port: number) => void; close: () => Promise<void> }> {
  let done = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ host: '127.0.0.1', port: target, allowHalfOpen: true });
    sockets.add(client).add(upstream);
    const cut = cuts[done];
    let acks = 0;
    let passed = 0;
    let holding = false;
    const destroy = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('data', (d: Buffer) => {
      for (const b of d) if (b === 0x0a) acks++;
      client.write(d);
    });
    client.on('data', (d: Buffer) => {
      if (holding) return;
      if (!cut || acks < cut.afterAcks || done >= cuts.length) {
        upstream.write(d);
        return;
      }
      const room = PASS_BYTES - passed;
      if (d.length < room) {
        passed += d.length;
        upstream.write(d);
        return;
      }
      upstream.write(d.subarray(0, room));
      holding = true;
      done++;
      client.pause();
      const held = d.subarray(room);
      const pushHeld = () => new Promise<void>((resolve) => (held.length > 0 ? upstream.write(held.subarray(0, 1), () => resolve()) : resolve()));
      void cut.onHold(pushHeld).finally(destroy);
    });
    client.on('end', () => !holding && upstream.end());
    upstream.on('end', () => !holding && client.end());
    client.on('error', destroy);
    upstream.on('error', destroy);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    cutsDone: () => done,
    /** Later connections go to `port`: a receiver started again need not win back the old one. */
    retarget: (port: number) => {
      target = port;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Temporary files of frames being received: STORE/.incoming/*.part, with their sizes. */
export function partFiles(store: string): { name: string; size: number }[] {
  const dir = join(store, '.incoming');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.part'))
    .map((name) => {
      try {
        return { name, size: statSync(join(dir, name)).size };
      } catch {
        return { name, size: -1 }; // removed since readdir
      }
    })
    .filter((p) => p.size >= 0);
}

/** Waits until the receiver has written part of a frame to disk: the cut is really mid-frame. */
/**
 * A frame begun: its temporary file in .incoming/. A listener holds a frame's first bytes in
 * memory (AsyncDurableFile writes them in one writev at commit), so the file may still be empty.
 */
export function waitForPart(store: string): Promise<unknown> {
  return waitFor(() => partFiles(store).length > 0, 'a frame begun in .incoming/');
}

export interface StoreAccount {
  stored: number;
  duplicates: number;
  /** Stored files that are not whole JPEGs, or not byte for byte one of the frames sent. */
  partial: number;
  /** Ids stored, sorted. */
  ids: string[];
  /** Temporary files left in .incoming/ (never visible as frames). */
  leftoverParts: number;
}

/** Accounts for a store against the frames that were sent (distinct JPEGs). */
export function account(store: string, sent: Buffer[]): StoreAccount {
  const names = storedFrames(store);
  const want = new Set(sent.map(sha256));
  const seen = new Map<string, number>();
  let partial = 0;
  for (const name of names) {
    const bytes = readFileSync(join(store, name));
    const hash = sha256(bytes);
    let whole = true;
    try {
      whole = scanJpeg(bytes).bytes === bytes.length;
    } catch {
      whole = false;
    }
    if (!whole || !want.has(hash)) partial++;
    seen.set(hash, (seen.get(hash) ?? 0) + 1);
  }
  const duplicates = [...seen.values()].reduce((a, n) => a + n - 1, 0);
  return { stored: names.length, duplicates, partial, ids: names.map(storedId).sort(), leftoverParts: partFiles(store).length };
}

/** Children of a process (the per-connection receivers of `systemd-socket-activate --inetd`). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * SIGKILLs `pid` and waits until it is gone or a zombie. With `unread`, the process is stopped
 * first and `unread` puts bytes in its socket that it never reads: a socket closed with unread
 * input is reset, not closed with FIN, so the listening port is not left in TIME_WAIT
 * (systemd-socket-activate binds without SO_REUSEADDR, and a restart on the same port would
 * fail for a minute).
 */
export async function killHard(pid: number, unread?: () => Promise<void>): Promise<void> {
  try {
    if (unread) {
      process.kill(pid, 'SIGSTOP');
      await unread();
    }
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitFor(() => {
    try {
      return /^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return true;
    }
  }, `process ${pid} to die`);
}
