import { readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { formatAck, pskServerOptions, type Logger } from '@surveillance/shared';
import type { CameraKeys } from './camera-keys.ts';
import type { CameraSeen } from './camera-seen.ts';

/**
 * The receiver's side of the camera link when it has keys (docs/protocol.md, "TLS"): every
 * connection must complete a TLS-PSK handshake as a paired camera before a byte of it reaches
 * the frame reader, and the camera it proved to be is the only name it may store under.
 *
 * The first byte decides: a TLS handshake starts with 0x16 (a handshake record). Anything else
 * is plaintext (a raw JPEG from the tutorial's socat, a framed header from an old sender) and
 * gets one plain `ERR - auth ...` line, which such a peer can read; nothing of it is stored,
 * not even as a temporary file, because the frame reader never sees it.
 *
 * node:tls is loaded here, on the first connection, not at start-up: a receiver without keys
 * never pays for it.
 */

export interface CameraLinkOptions {
  /**
   * The key folder, one object for all of a listener's connections: a camera paired while it
   * runs is found by CameraKeys.lookup, which reads the folder again for a key it does not
   * know, at most every RELIST_MS.
   */
  keys: CameraKeys;
  seen: CameraSeen;
  log: Logger;
  peer: string;
  /** How long the handshake may take, from the connection's start. */
  timeoutMs: number;
  gate: FailureGate;
  now?: () => Date;
}

export type CameraLink = { ok: true; socket: TLSSocket; camera: string; keyId: string } | { ok: false; reason: string };

const TLS_HANDSHAKE = 0x16;

export const PLAINTEXT_REFUSED = 'this receiver takes frames only over TLS from paired cameras (see surveillance-receiver camera add, and the sender\'s --key)';

export function acceptCameraLink(raw: Socket, options: CameraLinkOptions): Promise<CameraLink> {
  const { log, peer } = options;
  return new Promise((resolve) => {
    let settled = false;
    const refuse = (reason: string, detail?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (options.gate.allow()) log.warn({ peer, code: 'auth', ...(detail ? { detail } : {}) }, `refused: ${reason}`);
      resolve({ ok: false, reason });
    };
    const timer = setTimeout(() => {
      refuse('no TLS handshake in time');
      raw.destroy();
    }, options.timeoutMs);
    raw.once('error', (e) => {
      refuse('connection failed before the handshake', e.message);
      raw.destroy();
    });
    raw.once('end', () => {
      refuse('connection closed before the handshake');
      raw.destroy();
    });
    raw.once('data', (first: Buffer) => {
      raw.pause();
      raw.removeAllListeners('end');
      if (first[0] !== TLS_HANDSHAKE) {
        refuse('plaintext from a peer, on a receiver that has keys');
        answerPlain(raw, formatAck({ status: 'ERR', id: '-', code: 'auth', reason: PLAINTEXT_REFUSED }));
        return;
      }
      raw.unshift(first);
      // node:tls loads only for a TLS handshake; getBuiltinModule, not import(): the first
      // import() of a process starts Node's ES module loader, milliseconds per connection.
      const { TLSSocket } = process.getBuiltinModule('node:tls');
      let who: { camera: string; keyId: string } | undefined;
      let lookupProblem: string | undefined;
      const tls = new TLSSocket(raw, {
        isServer: true,
        ...pskServerOptions(
          (camera, keyId) => {
            try {
              if (options.seen.isRetired(camera, keyId)) {
                lookupProblem = `key ${keyId} of camera ${camera} is retired (the camera connected with a newer key)`;
                return undefined;
              }
              const { key: found, relisted } = options.keys.lookup(camera, keyId);
              if (relisted) log.debug({ peer, camera, keyId, found: found !== undefined }, `key folder read again for a key it did not list`);
              const key = found?.key;
              if (!key) lookupProblem = `no key ${keyId} for camera ${camera} (unknown camera, or a removed key)`;
              return key;
            } catch (e) {
              // A key file open to other users, or unreadable: refused, and said loudly.
              lookupProblem = (e as Error).message;
              log.error({ peer, camera, keyId }, `key folder: ${lookupProblem}`);
              return undefined;
            }
          },
          (_socket, id) => (who = id),
        ),
      });
      tls.once('secure', () => {
        if (settled || !who) return tls.destroy();
        settled = true;
        clearTimeout(timer);
        tls.removeAllListeners('error');
        try {
          options.seen.note(who.camera, who.keyId, (options.now ?? (() => new Date()))());
        } catch (e) {
          // Only a hint for rotation: the frames matter more than noting it.
          log.warn({ peer, camera: who.camera }, `cannot note the camera's key as seen: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        resolve({ ok: true, socket: tls, camera: who.camera, keyId: who.keyId });
      });
      tls.once('error', (e: Error) => {
        const why = lookupProblem
          ? lookupProblem
          : who
            ? `the peer does not hold key ${who.keyId} of camera ${who.camera} (a wrong or altered key)`
            : `not a TLS-PSK client we understand (${(e as NodeJS.ErrnoException).code ?? e.message.slice(0, 120)})`;
        refuse(`TLS handshake refused: ${why}`);
        tls.destroy();
      });
    });
  });
}

/** One line to a plaintext peer, then close without a reset (it may still be sending). */
function answerPlain(socket: Duplex, line: string): void {
  socket.on('data', () => {});
  socket.resume();
  socket.end(line);
  const timer = setTimeout(() => socket.destroy(), 1000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/**
 * How many refused connections get a log line: at most `burst` per `windowMs`, then one line
 * saying how many were not logged. A flood of handshakes cannot fill the journal. In inetd
 * mode every connection is a process of its own, so the count lives in a small file
 * (STORE/.cameras/.refused), read and written only when a connection is refused.
 */
export class FailureGate {
  private windowStart = 0;
  private count = 0;

  constructor(
    private readonly log: Logger,
    private readonly burst = 20,
    private readonly windowMs = 60_000,
    private readonly file?: string,
    private readonly now: () => number = Date.now,
  ) {}

  allow(): boolean {
    const now = this.now();
    if (this.file) this.load();
    if (now - this.windowStart >= this.windowMs) {
      const suppressed = this.count - this.burst;
      if (suppressed > 0) this.log.warn({ code: 'auth', suppressed }, `${suppressed} more refused connection(s) were not logged in the last ${this.windowMs / 1000} s`);
      this.windowStart = now;
      this.count = 0;
    }
    this.count++;
    if (this.file) this.save();
    return this.count <= this.burst;
  }

  private load(): void {
    try {
      const [start, count] = readFileSync(this.file!, 'utf8').trim().split(' ').map(Number);
      if (Number.isFinite(start) && Number.isFinite(count)) {
        this.windowStart = start!;
        this.count = count!;
      }
    } catch {
      // first refusal, or no state folder: count from here
    }
  }

  private save(): void {
    try {
      writeFileSync(this.file!, `${this.windowStart} ${this.count}\n`, { mode: 0o600 });
    } catch {
      // not worth failing a refusal for
    }
  }
}
