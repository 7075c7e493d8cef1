import type { Duplex } from 'node:stream';
import {
  HeaderReader,
  JpegScanner,
  SurveillanceError,
  classify,
  formatAck,
  type Ack,
  type FrameHeader,
  type Logger,
} from '@surveillance/shared';
import type { FrameStore, FrameWriter } from './frame-store.ts';

/**
 * One connection, whatever started it (inetd-style fd 0, a listener on fd 3, or --listen):
 * reads units back to back, stores each frame and answers each with one line
 * (docs/protocol.md). The first error ends the connection: after bad bytes the stream has no
 * trustworthy frame boundary left.
 */

export interface ConnectionOptions {
  store: FrameStore;
  log: Logger;
  /** The peer's address, used for logs and as the camera name of raw frames. */
  peer: string;
  maxFrameBytes: number;
  /** How long the peer may send nothing before the connection is closed. */
  idleTimeoutMs: number;
  /**
   * How long one frame may take from its first byte to its last: a peer that trickles a byte
   * every few seconds never goes idle, and would hold a connection slot for ever.
   */
  frameTimeoutMs: number;
  now?: () => Date;
}

export interface ConnectionResult {
  /** The error that ended the connection, if one did. */
  error?: SurveillanceError;
}

/** How long a closing connection waits for the peer to close its side too. */
const CLOSE_GRACE_MS = 1000;

type Unit =
  | { kind: 'raw'; scanner: JpegScanner; writer: FrameWriter; id: string; time: Date; started: number }
  | { kind: 'header'; reader: HeaderReader; started: number }
  | { kind: 'framed'; header: FrameHeader; scanner: JpegScanner; writer: FrameWriter; remaining: number; started: number };

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

export function handleConnection(socket: Duplex, options: ConnectionOptions): Promise<ConnectionResult> {
  const { store, log, peer, maxFrameBytes } = options;
  const now = options.now ?? (() => new Date());
  const result: ConnectionResult = {};
  let unit: Unit | undefined;
  /**
   * The sender's id of the frame in hand, once its header is read: an ERR names it even after
   * the unit is done. Raw frames bring none ("-"); the id the receiver gives them is its own.
   */
  let id = '-';
  let units = 0;
  let finished = false;
  let deadline: NodeJS.Timeout | undefined;

  return new Promise((resolve) => {
    const send = (ack: Ack) => {
      // A peer that sends without reading our answers must not make us queue them without
      // bound (a flood of pings would): stop reading until it has taken what we wrote.
      if (socket.writable && !socket.write(formatAck(ack))) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    };

    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('timeout', onTimeout);
      socket.off('error', onError);
      socket.on('error', () => {}); // late resets from the peer change nothing now
      resolve(result);
    };

    const fail = (error: SurveillanceError) => {
      if (unit && unit.kind !== 'header') unit.writer.abort();
      unit = undefined;
      result.error = error;
      log.warn({ peer, code: error.code }, `rejected: ${error.message}`);
      send({ status: 'ERR', id, code: error.code, reason: error.message });
      socket.off('data', onData);
      close();
    };

    /**
     * Ends our side and keeps reading (and dropping) what the peer still sends, for a moment:
     * closing with unread input would make the kernel reset the connection, and the peer would
     * never read our last line. A peer that never closes its side is cut off after that moment.
     */
    const close = () => {
      socket.on('data', () => {});
      socket.end();
      const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
      finish();
    };

    const complete = (meta: { camera: string; time: Date; id: string }, writer: FrameWriter, started: number) => {
      const saved = writer.commit(meta);
      send({ status: saved.duplicate ? 'DUP' : 'OK', id: meta.id, name: saved.name });
      log.info(
        { peer, camera: meta.camera, id: meta.id, bytes: writer.bytes, file: saved.name, ms: Date.now() - started },
        saved.duplicate ? 'duplicate' : 'stored',
      );
    };

    /** Feeds one chunk to the current unit; returns the bytes that belong to the next unit. */
    const step = (chunk: Buffer): Buffer => {
      if (!unit) {
        const serial = ++units;
        id = '-';
        const started = Date.now();
        clearTimeout(deadline);
        deadline = setTimeout(() => {
          if (unit && units === serial) {
            fail(new SurveillanceError('timeout', `frame not complete after ${options.frameTimeoutMs / 1000}s (--frame-timeout)`));
          }
        }, options.frameTimeoutMs);
        if (classify(chunk) === 'raw') {
          const writer = store.begin();
          unit = { kind: 'raw', scanner: new JpegScanner(maxFrameBytes), writer, id: rawFrameId(), time: now(), started };
        } else {
          unit = { kind: 'header', reader: new HeaderReader(), started };
        }
      }
      switch (unit.kind) {
        case 'raw': {
          const used = unit.scanner.push(chunk);
          const part = chunk.subarray(0, used);
          unit.writer.write(part);
          if (unit.scanner.done) {
            const { writer, id, time, started } = unit;
            unit = undefined;
            complete({ camera: cameraFromPeer(peer), time, id }, writer, started);
          }
          return chunk.subarray(used);
        }
        case 'header': {
          const used = unit.reader.push(chunk);
          const header = unit.reader.header;
          if (header === 'ping') {
            unit = undefined;
            send({ status: 'OK', id: '-', name: 'pong' });
          } else if (header) {
            id = header.id;
            if (header.length > maxFrameBytes) {
              throw new SurveillanceError('too-large', `frame of ${header.length} bytes is larger than the limit of ${maxFrameBytes} bytes`);
            }
            const { started } = unit;
            unit = { kind: 'framed', header, scanner: new JpegScanner(maxFrameBytes), writer: store.begin(header.length), remaining: header.length, started };
          }
          return chunk.subarray(used);
        }
        case 'framed': {
          const take = Math.min(unit.remaining, chunk.length);
          const part = chunk.subarray(0, take);
          if (unit.scanner.push(part) < take) {
            throw new SurveillanceError('bad-jpeg', `frame ${unit.header.id}: JPEG ends (EOI) before the ${unit.header.length} bytes its header announced`);
          }
          unit.writer.write(part);
          unit.remaining -= take;
          if (unit.remaining === 0) {
            if (!unit.scanner.done) {
              throw new SurveillanceError('bad-jpeg', `frame ${unit.header.id}: ${unit.header.length} bytes announced, but the JPEG has no EOI by then`);
            }
            const { header, writer, started } = unit;
            unit = undefined;
            complete(header, writer, started);
          }
          return chunk.subarray(take);
        }
      }
    };

    const onData = (chunk: Buffer) => {
      try {
        let rest = chunk;
        while (rest.length > 0 && !finished) rest = step(rest);
      } catch (e) {
        fail(asSurveillanceError(e));
      }
    };

    const onEnd = () => {
      if (unit) {
        const what = unit.kind === 'raw' ? unit.scanner : unit.kind === 'framed' ? unit.scanner : undefined;
        const reason = what
          ? `connection closed after ${what.bytes} bytes, before the frame was complete`
          : 'connection closed in the middle of a frame header';
        fail(new SurveillanceError('truncated', reason));
      } else if (units === 0) {
        fail(new SurveillanceError('empty', 'connection closed without sending a frame'));
      } else {
        close();
      }
    };

    const onTimeout = () => {
      if (unit || units === 0) {
        fail(new SurveillanceError('timeout', `no data for ${options.idleTimeoutMs / 1000}s ${unit ? 'in the middle of a frame' : 'after connecting'}`));
      } else {
        close();
      }
    };

    const onError = (e: Error) => {
      if (unit && unit.kind !== 'header') unit.writer.abort();
      unit = undefined;
      result.error = new SurveillanceError('truncated', `connection failed: ${e.message}`, { cause: e });
      log.warn({ peer, code: 'truncated' }, `connection failed: ${e.message}`);
      socket.destroy();
      finish();
    };

    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    if ('setTimeout' in socket && typeof socket.setTimeout === 'function') {
      (socket as Duplex & { setTimeout(ms: number): void }).setTimeout(options.idleTimeoutMs);
      socket.on('timeout', onTimeout);
    }
  });
}

function asSurveillanceError(e: unknown): SurveillanceError {
  if (e instanceof SurveillanceError) return e;
  return new SurveillanceError('store-failed', `internal error: ${(e as Error).message}`, { cause: e });
}
