import {
  checkCaptureTime,
  HeaderReader,
  JpegScanner,
  SurveillanceError,
  classify,
  formatAck,
  type Ack,
  type CaptureWindow,
  type FfSearch,
  type FrameHeader,
  type Logger,
} from '@surveillance/shared';
import type { FrameMeta, FrameSink, FrameWriter } from '../store/store.ts';

/**
 * One connection, whatever started it (inetd-style fd 0, a listener on fd 3, or --listen):
 * reads units back to back, stores each frame and answers each with one line
 * (docs/protocol.md). The first error ends the connection: after bad bytes the stream has no
 * trustworthy frame boundary left.
 *
 * A connection is in one state at a time, and each socket event is one method:
 *
 *   awaiting-unit --first byte--> reading-raw | reading-header | reading-magic (neither)
 *   reading-magic --8 bytes, or the end--> closing (bad-magic, the bytes described)
 *   reading-header --LF--> reading-framed (a frame) | awaiting-unit (a ping, answered)
 *   reading-raw | reading-framed --last byte--> committing
 *   committing --stored, OK/DUP sent--> awaiting-unit
 *   any --error--> closing (ERR sent, our side ended) --> closed
 *
 * While a frame is committing the socket is paused: the bytes after it wait in the kernel, and
 * answers leave in the order the units came.
 */

/**
 * What a connection uses of its socket: a net.Socket (listeners), a TLSSocket (camera keys) or
 * an FdSocket (fd-socket.ts: a plaintext connection under Accept=yes).
 */
export interface ConnectionSocket {
  readonly writable: boolean;
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  write(data: string): boolean;
  end(): unknown;
  destroy(): unknown;
  /** An idle timeout that emits 'timeout' (net.Socket's). */
  setTimeout?(ms: number): unknown;
}

export interface ConnectionOptions {
  store: FrameSink;
  log: Logger;
  /** The peer's address, used for logs and as the camera name of raw frames. */
  peer: string;
  /**
   * The camera this connection proved to be in the TLS handshake, on a receiver with keys: the
   * only name it may store under (a header naming another is refused with `auth`), and the
   * name of its raw frames.
   */
  camera?: string;
  maxFrameBytes: number;
  /** Frames whose SOF claims more pixels are refused (too-large) before they are stored. */
  maxPixels: number;
  /** Capture times believed, around `now` (docs/protocol.md, "Capture times"). */
  captureWindow: CaptureWindow;
  /** How long the peer may send nothing before the connection is closed. */
  idleTimeoutMs: number;
  /**
   * How long one frame may take from its first byte to its last: a peer that trickles a byte
   * every few seconds never goes idle, and would hold a connection slot for ever.
   */
  frameTimeoutMs: number;
  /** How the JPEG scanner finds FF bytes (jpeg-scanner.ts says which suits whom); `copy` when absent. */
  ffSearch?: FfSearch;
  now?: () => Date;
}

export interface ConnectionResult {
  /** The error that ended the connection, if one did. */
  error?: SurveillanceError;
  /** A bug (not a SurveillanceError) ended it: logged with its stack; the process should exit 70. */
  bug?: unknown;
}

/** Bytes of a unit that is none that its refusal describes (describeBytes reads 8). */
const MAGIC_BYTES = 8;

/** How long a closing connection waits for the peer to close its side too. */
const CLOSE_GRACE_MS = 1000;

type State =
  | { name: 'awaiting-unit' }
  | { name: 'reading-header'; reader: HeaderReader }
  /**
   * Bytes that begin no unit: the refusal describes the first MAGIC_BYTES of them (an HTTP
   * request, a TLS handshake...), so they are collected first, however the peer's writes
   * were cut (found by fuzzing the connection: the message depended on the first read).
   */
  | { name: 'reading-magic'; seen: Buffer }
  | { name: 'reading-raw'; scanner: JpegScanner; writer: FrameWriter; id: string; time: Date }
  | { name: 'reading-framed'; header: FrameHeader; scanner: JpegScanner; writer: FrameWriter; remaining: number }
  | { name: 'committing'; writer: FrameWriter }
  | { name: 'closing' }
  | { name: 'closed' };

let rawFrames = 0;

/**
 * An id for a raw frame, which brings none: unique among all receivers running at once (pid)
 * and within this one (a counter), and the name's millisecond time separates it from any later
 * process that gets the same pid. Not a content hash: node:crypto costs a tenth of a Node
 * start-up, paid per connection.
 */
function rawFrameId(): string {
  return `r${process.pid.toString(36)}-${(++rawFrames).toString(36)}`;
}

/** A camera name for raw frames, from the peer's address: `::ffff:10.0.0.5` becomes `10.0.0.5`. */
export function cameraFromPeer(peer: string): string {
  return peer.replace(/^::ffff:/, '').replace(/[^A-Za-z0-9.-]/g, '-').replace(/^-+/, '') || 'unknown';
}

/** Serves one connection; resolves once it is over (our side ended or the socket failed). */
export function handleConnection(socket: ConnectionSocket, options: ConnectionOptions): Promise<ConnectionResult> {
  return new Connection(socket, options).done;
}

/** The refusal of bytes that begin no unit (classify throws it for them). */
function badMagic(seen: Buffer): SurveillanceError {
  try {
    classify(seen);
  } catch (e) {
    if (e instanceof SurveillanceError) return e;
    throw e;
  }
  throw new Error(`bytes ${seen.toString('hex')} were taken for no unit, but classify accepts them`);
}

export class Connection {
  readonly done: Promise<ConnectionResult>;
  private state: State = { name: 'awaiting-unit' };
  private readonly result: ConnectionResult = {};
  private resolve!: (result: ConnectionResult) => void;
  private readonly now: () => Date;
  /** Units begun so far; a frame timer only fires for the unit it was set for. */
  private units = 0;
  /** When the current unit's first byte came, for the log. */
  private started = 0;
  /**
   * The sender's id of the frame in hand, once its header is read: an ERR names it even after
   * the unit is done. Raw frames bring none ("-"); the id the receiver gives them is its own.
   */
  private id = '-';
  private deadline: NodeJS.Timeout | undefined;
  /** Bytes of the chunk that came after the frame now committing. */
  private held: Buffer | undefined;
  /** What happened to the socket while a frame was committing, handled once it is stored. */
  private endedWhileCommitting = false;
  private idleWhileCommitting = false;
  /** Reasons to stop reading: a commit under way, answers the peer has not taken yet. */
  private readonly holds = new Set<'commit' | 'drain'>();
  private finished = false;
  /** A stop was asked for: the frame in hand is finished, no new unit is begun. */
  private stopRequested = false;
  /** When the last frame byte came (or the connection opened): pings alone do not keep it. */
  private lastFrameAt = Date.now();

  private readonly onData = (chunk: Buffer) => this.data(chunk);
  private readonly onEnd = () => this.end();
  private readonly onTimeout = () => this.idle();
  private readonly onError = (e: Error) => this.socketFailed(e);

  constructor(
    private readonly socket: ConnectionSocket,
    private readonly options: ConnectionOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.done = new Promise((resolve) => (this.resolve = resolve));
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    if (socket.setTimeout) {
      socket.setTimeout(options.idleTimeoutMs);
      socket.on('timeout', this.onTimeout);
    }
  }

  /** Stop request (a listener stopping): finish the frame in hand, begin no new unit, close. */
  stop(): void {
    this.stopRequested = true;
    if (this.state.name === 'awaiting-unit' || this.state.name === 'reading-header') this.close();
  }

  // Socket events.

  private data(chunk: Buffer): void {
    try {
      let rest = chunk;
      while (rest.length > 0 && this.isReading()) rest = this.step(rest);
      if (this.state.name === 'committing' && rest.length > 0) this.held = rest;
    } catch (e) {
      this.fail(e);
    }
  }

  private end(): void {
    switch (this.state.name) {
      case 'committing':
        this.endedWhileCommitting = true;
        return;
      case 'reading-raw':
      case 'reading-framed':
        return this.fail(new SurveillanceError('truncated', `connection closed after ${this.state.scanner.bytes} bytes, before the frame was complete`));
      case 'reading-header':
        return this.fail(new SurveillanceError('truncated', 'connection closed in the middle of a frame header'));
      case 'reading-magic':
        return this.fail(badMagic(this.state.seen));
      case 'awaiting-unit':
        if (this.units === 0) return this.fail(new SurveillanceError('empty', 'connection closed without sending a frame'));
        return this.close();
    }
  }

  private idle(): void {
    switch (this.state.name) {
      case 'committing':
        // Our own disk is slow, not the peer: decide once the frame is stored.
        this.idleWhileCommitting = true;
        return;
      case 'awaiting-unit':
        if (this.units > 0) return this.close();
        return this.fail(new SurveillanceError('timeout', `no data for ${this.options.idleTimeoutMs / 1000}s after connecting`));
      case 'reading-magic':
        return this.fail(badMagic(this.state.seen));
      case 'reading-header':
      case 'reading-raw':
      case 'reading-framed':
        return this.fail(new SurveillanceError('timeout', `no data for ${this.options.idleTimeoutMs / 1000}s in the middle of a frame`));
    }
  }

  private frameTimedOut(serial: number): void {
    if (serial !== this.units || !this.isReading() || this.state.name === 'awaiting-unit') return;
    this.fail(new SurveillanceError('timeout', `frame not complete after ${this.options.frameTimeoutMs / 1000}s (--frame-timeout)`));
  }

  private socketFailed(e: Error): void {
    this.abortWriter();
    this.result.error = new SurveillanceError('truncated', `connection failed: ${e.message}`, { cause: e });
    this.options.log.warn({ peer: this.options.peer, code: 'truncated' }, `connection failed: ${e.message}`);
    this.socket.destroy();
    this.state = { name: 'closed' };
    this.finish();
  }

  // Reading units.

  private isReading(): boolean {
    const s = this.state.name;
    return s === 'awaiting-unit' || s === 'reading-header' || s === 'reading-magic' || s === 'reading-raw' || s === 'reading-framed';
  }

  /** Feeds one chunk to the current unit; returns the bytes that belong to what comes next. */
  private step(chunk: Buffer): Buffer {
    switch (this.state.name) {
      case 'awaiting-unit':
        this.beginUnit(chunk);
        return chunk;
      case 'reading-header':
        return this.readHeader(this.state, chunk);
      case 'reading-magic': {
        const take = Math.min(MAGIC_BYTES - this.state.seen.length, chunk.length);
        this.state.seen = Buffer.concat([this.state.seen, chunk.subarray(0, take)]);
        if (this.state.seen.length >= MAGIC_BYTES) throw badMagic(this.state.seen);
        return chunk.subarray(take);
      }
      case 'reading-raw':
        return this.readRaw(this.state, chunk);
      case 'reading-framed':
        return this.readFramed(this.state, chunk);
      default:
        return chunk;
    }
  }

  private beginUnit(chunk: Buffer): void {
    const serial = ++this.units;
    this.id = '-';
    this.started = Date.now();
    clearTimeout(this.deadline);
    this.deadline = setTimeout(() => this.frameTimedOut(serial), this.options.frameTimeoutMs);
    let kind: 'raw' | 'framed';
    try {
      kind = classify(chunk);
    } catch (e) {
      if (chunk.length >= MAGIC_BYTES) throw e;
      this.state = { name: 'reading-magic', seen: Buffer.alloc(0) };
      return;
    }
    if (kind === 'raw') {
      const writer = this.options.store.begin();
      this.state = { name: 'reading-raw', scanner: new JpegScanner(this.options.maxFrameBytes, this.options.maxPixels, this.options.ffSearch), writer, id: rawFrameId(), time: this.now() };
    } else {
      this.state = { name: 'reading-header', reader: new HeaderReader() };
    }
  }

  private readHeader(state: Extract<State, { name: 'reading-header' }>, chunk: Buffer): Buffer {
    const used = state.reader.push(chunk);
    const header = state.reader.header;
    if (header === 'ping') {
      // Pings answer a question; they do not make a connection useful. A peer that sends only
      // pings would otherwise hold a connection slot for ever.
      const idle = this.options.idleTimeoutMs;
      if (Date.now() - this.lastFrameAt > idle) throw new SurveillanceError('timeout', `no frame for ${idle / 1000}s, only pings (--idle-timeout)`);
      this.state = { name: 'awaiting-unit' };
      this.send({ status: 'OK', id: '-', name: 'pong' });
    } else if (header) {
      this.id = header.id;
      const proved = this.options.camera;
      if (proved !== undefined && header.camera !== proved) {
        throw new SurveillanceError('auth', `this connection is camera ${proved}'s (its key says so): it may not store frames as camera ${header.camera}`);
      }
      const max = this.options.maxFrameBytes;
      if (header.length > max) throw new SurveillanceError('too-large', `frame of ${header.length} bytes is larger than the limit of ${max} bytes`);
      const implausible = checkCaptureTime(header.time, this.now(), this.options.captureWindow);
      if (implausible) throw new SurveillanceError('bad-header', `bad frame header: ${implausible}`);
      const writer = this.options.store.begin(header.length);
      this.state = { name: 'reading-framed', header, scanner: new JpegScanner(max, this.options.maxPixels, this.options.ffSearch), writer, remaining: header.length };
    }
    return chunk.subarray(used);
  }

  private readRaw(state: Extract<State, { name: 'reading-raw' }>, chunk: Buffer): Buffer {
    const used = state.scanner.push(chunk);
    this.lastFrameAt = Date.now();
    state.writer.write(chunk.subarray(0, used));
    if (state.scanner.done) this.commit(state.writer, { camera: this.options.camera ?? cameraFromPeer(this.options.peer), time: state.time, id: state.id });
    return chunk.subarray(used);
  }

  private readFramed(state: Extract<State, { name: 'reading-framed' }>, chunk: Buffer): Buffer {
    const { header } = state;
    const take = Math.min(state.remaining, chunk.length);
    const part = chunk.subarray(0, take);
    if (state.scanner.push(part) < take) {
      throw new SurveillanceError('bad-jpeg', `frame ${header.id}: JPEG ends (EOI) before the ${header.length} bytes its header announced`);
    }
    this.lastFrameAt = Date.now();
    state.writer.write(part);
    state.remaining -= take;
    if (state.remaining === 0) {
      if (!state.scanner.done) throw new SurveillanceError('bad-jpeg', `frame ${header.id}: ${header.length} bytes announced, but the JPEG has no EOI by then`);
      this.commit(state.writer, { camera: header.camera, time: header.time, id: header.id, reason: header.reason, score: header.score });
    }
    return chunk.subarray(take);
  }

  // Storing and answering.

  /** Stops reading until the frame is stored and answered; then goes on with what was held. */
  private commit(writer: FrameWriter, meta: FrameMeta): void {
    this.state = { name: 'committing', writer };
    this.hold('commit');
    const started = this.started;
    writer.commit(meta).then(
      (saved) => {
        if (this.state.name !== 'committing') return; // the socket failed meanwhile
        this.state = { name: 'awaiting-unit' };
        clearTimeout(this.deadline);
        this.send({ status: saved.duplicate ? 'DUP' : 'OK', id: meta.id, name: saved.name });
        this.options.log.info(
          { peer: this.options.peer, camera: meta.camera, id: meta.id, bytes: writer.bytes, file: saved.name, ms: Date.now() - started },
          saved.duplicate ? 'duplicate' : 'stored',
        );
        if (saved.warning) this.options.log.warn({ camera: meta.camera, id: meta.id, file: saved.name }, saved.warning);
        this.afterCommit();
      },
      (e: unknown) => {
        if (this.state.name === 'committing') this.fail(e);
      },
    );
  }

  private afterCommit(): void {
    if (this.stopRequested) return this.close();
    const held = this.held;
    this.held = undefined;
    if (held) this.data(held);
    if (!this.isReading()) return; // committing the next frame already, or closing
    if (this.endedWhileCommitting) return this.end();
    if (this.idleWhileCommitting) {
      this.idleWhileCommitting = false;
      if (this.state.name === 'awaiting-unit') return this.close();
    }
    this.release('commit');
  }

  private send(ack: Ack): void {
    // A peer that sends without reading our answers must not make us queue them without
    // bound (a flood of pings would): stop reading until it has taken what we wrote.
    // One drain listener however many writes fail before it comes: one per write would pile up
    // under a ping flood (MaxListenersExceededWarning) and hold memory per answer.
    if (this.socket.writable && !this.socket.write(formatAck(ack)) && !this.holds.has('drain')) {
      this.hold('drain');
      this.socket.once('drain', () => this.release('drain'));
    }
  }

  private hold(reason: 'commit' | 'drain'): void {
    this.holds.add(reason);
    this.socket.pause();
  }

  private release(reason: 'commit' | 'drain'): void {
    this.holds.delete(reason);
    if (this.holds.size === 0 && this.isReading()) this.socket.resume();
  }

  // Ending.

  /**
   * The first error ends the connection. An error that is not a SurveillanceError is a bug:
   * it is logged with its stack and answered `internal`, never passed off as the store's or
   * the peer's fault.
   */
  private fail(e: unknown): void {
    this.abortWriter();
    this.state = { name: 'closing' };
    const { log, peer } = this.options;
    let error: SurveillanceError;
    if (e instanceof SurveillanceError) {
      error = e;
      log.warn({ peer, code: error.code }, `rejected: ${error.message}`);
    } else {
      this.result.bug = e;
      error = new SurveillanceError('internal', `internal error, see the receiver log: ${(e as Error)?.message ?? String(e)}`, { cause: e });
      log.error({ peer, code: error.code, err: (e as Error)?.stack ?? String(e) }, 'internal error');
    }
    this.result.error = error;
    this.send({ status: 'ERR', id: this.id, code: error.code, reason: error.message });
    this.close();
  }

  private abortWriter(): void {
    const s = this.state;
    if (s.name === 'reading-raw' || s.name === 'reading-framed' || s.name === 'committing') s.writer.abort();
  }

  /**
   * Ends our side and keeps reading (and dropping) what the peer still sends, for a moment:
   * closing with unread input would make the kernel reset the connection, and the peer would
   * never read our last line. A peer that never closes its side is cut off after that moment.
   */
  private close(): void {
    this.state = { name: 'closing' };
    this.socket.off('data', this.onData);
    this.socket.on('data', () => {});
    this.socket.resume();
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    timer.unref();
    this.socket.once('close', () => {
      clearTimeout(timer);
      this.state = { name: 'closed' };
    });
    this.finish();
  }

  /** The connection is over for us: no more events, and the result is known. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.deadline);
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('timeout', this.onTimeout);
    this.socket.off('error', this.onError);
    this.socket.on('error', () => {}); // late resets from the peer change nothing now
    this.resolve(this.result);
  }
}
