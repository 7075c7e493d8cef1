import { connect, type Socket } from 'node:net';
import { encodeHeader, formatHostPort, parseAck, PING_LINE, SurveillanceError, type Ack, type HostPort, type Spec } from '@surveillance/shared';

/**
 * One TCP connection to the receiver in framed mode (docs/protocol.md): a header line and the
 * JPEG bytes per frame, one answer line per frame, in order. Several frames may share a
 * connection. An `ERR` answer ends the connection on the receiver's side, so the caller opens a
 * new one for whatever comes next.
 */

/** Where the receiver is and how long it may take to answer. */
export const clientSpec = {
  to: { kind: 'hostport', description: 'the receiver, HOST:PORT' },
  timeout: { kind: 'duration', description: 'give up on a connection attempt or an answer after this long', default: 10_000, min: 50 },
} as const satisfies Spec;

export interface OutgoingFrame {
  camera: string;
  id: string;
  time: Date;
  jpeg: Uint8Array;
}

interface Pending {
  id: string;
  resolve: (ack: Ack) => void;
  reject: (e: SurveillanceError) => void;
}

function unreachable(to: HostPort, why: string, cause?: unknown): SurveillanceError {
  return new SurveillanceError('unreachable', `receiver ${formatHostPort(to)}: ${why}`, { cause });
}

export class ReceiverConnection {
  private readonly pending: Pending[] = [];
  private text = '';
  private failure: SurveillanceError | undefined;
  /** Frames answered on this connection; a connection that answered before may be stale when reused. */
  answered = 0;

  private constructor(
    private readonly socket: Socket,
    to: HostPort,
    private readonly timeoutMs: number,
  ) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('timeout', () => this.fail(unreachable(to, `no answer within ${timeoutMs / 1000}s`)));
    socket.on('error', (e: NodeJS.ErrnoException) => this.fail(unreachable(to, `connection failed: ${e.code ?? e.message}`, e)));
    socket.on('end', () => this.fail(unreachable(to, 'the receiver closed the connection')));
    socket.on('close', () => this.fail(unreachable(to, 'connection closed')));
  }

  static open(to: HostPort, timeoutMs: number): Promise<ReceiverConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: to.host, port: to.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(unreachable(to, `no connection within ${timeoutMs / 1000}s`));
      }, timeoutMs);
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(unreachable(to, e.code === 'ECONNREFUSED' ? 'connection refused (is the receiver or its socket unit running?)' : `cannot connect: ${e.code ?? e.message}`, e));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new ReceiverConnection(socket, to, timeoutMs));
      });
    });
  }

  /** False once the connection failed or either side closed it. */
  get usable(): boolean {
    return this.failure === undefined && !this.socket.destroyed && this.socket.writable;
  }

  /** Sends one frame and resolves with the receiver's answer for it (OK, DUP or ERR). */
  send(frame: OutgoingFrame): Promise<Ack> {
    const header = encodeHeader({ camera: frame.camera, id: frame.id, time: frame.time, length: frame.jpeg.length });
    return this.request(frame.id, [header, frame.jpeg]);
  }

  /** `SVF1 ping`, answered `OK - pong`: does a receiver answer at all? */
  async ping(): Promise<void> {
    const ack = await this.request('-', [Buffer.from(`${PING_LINE}\n`, 'ascii')]);
    if (ack.status !== 'OK' || ack.name !== 'pong') throw new SurveillanceError('bad-reply', `receiver answered the ping with ${JSON.stringify(ack)}`);
  }

  /** Ends the connection politely: the receiver sees end of input after its last answer. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), this.timeoutMs).unref();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private request(id: string, parts: Uint8Array[]): Promise<Ack> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.push({ id, resolve, reject });
      this.socket.setTimeout(this.timeoutMs);
      this.socket.cork();
      for (const part of parts) this.socket.write(part);
      this.socket.uncork();
    });
  }

  private onData(chunk: string): void {
    this.text += chunk;
    let lf: number;
    while ((lf = this.text.indexOf('\n')) !== -1) {
      const line = this.text.slice(0, lf);
      this.text = this.text.slice(lf + 1);
      const waiting = this.pending.shift();
      if (!waiting) return this.fail(new SurveillanceError('bad-reply', `receiver sent ${JSON.stringify(line.slice(0, 80))} without being asked`));
      let ack: Ack;
      try {
        ack = parseAck(line);
      } catch (e) {
        waiting.reject(e as SurveillanceError);
        return this.fail(e as SurveillanceError);
      }
      // `-` stands for "no id" and is only good in an ERR (the receiver may refuse a frame
      // before it read its id); an OK or DUP must name the frame, or a stray answer (`OK -
      // pong`) would make the sender delete a frame the receiver never stored.
      if (ack.id !== waiting.id && !(ack.id === '-' && ack.status === 'ERR')) {
        const e = new SurveillanceError('bad-reply', `receiver answered for frame ${ack.id} while frame ${waiting.id} was waiting`);
        waiting.reject(e);
        return this.fail(e);
      }
      this.answered++;
      waiting.resolve(ack);
    }
    if (this.pending.length === 0) this.socket.setTimeout(0);
    if (this.text.length > 4096) this.fail(new SurveillanceError('bad-reply', 'receiver sent a line longer than 4096 bytes'));
  }

  private fail(e: SurveillanceError): void {
    this.failure ??= e;
    for (const p of this.pending.splice(0)) p.reject(this.failure);
    this.socket.destroy();
  }
}
