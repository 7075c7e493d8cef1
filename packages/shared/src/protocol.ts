import { SurveillanceError, type ErrorCode } from './errors.ts';

/**
 * The wire protocol between sender and receiver (docs/protocol.md is the spec). Pure code over
 * bytes and strings: no sockets here.
 *
 * A connection carries units back to back. Each unit is either a raw JPEG (starts with FF D8,
 * what `cat frame.jpg | socat - TCP:...` sends) or a framed JPEG: one header line that starts
 * with `SVF1 ` followed by exactly `length` bytes of JPEG. The receiver answers every unit with
 * one acknowledgement line.
 */

export const HEADER_MAGIC = 'SVF1 ';
/** A header longer than this is refused before it is buffered any further. */
export const MAX_HEADER_BYTES = 1024;

/** A unit that stores nothing and is answered `OK - pong`: lets a sender check the receiver. */
export const PING_LINE = `${HEADER_MAGIC}ping`;

/**
 * The camera name and frame id rules, unanchored, for other patterns to build on (the spool's
 * and the store's file names hold both): one definition, so that a name the protocol accepts
 * is always one the files can hold.
 */
export const CAMERA_NAME_PATTERN = '[A-Za-z0-9][A-Za-z0-9._-]{0,63}';
export const FRAME_ID_PATTERN = '[A-Za-z0-9-]{1,64}';
const NAME_RE = new RegExp(`^${CAMERA_NAME_PATTERN}$`);
const ID_RE = new RegExp(`^${FRAME_ID_PATTERN}$`);
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const KEY_RE = /^[a-z][a-z0-9-]{0,31}$/;

export interface FrameHeader {
  camera: string;
  /** Chosen by the sender, the same every time the frame is sent again. */
  id: string;
  /** Capture time. */
  time: Date;
  /** Bytes of JPEG that follow the header line. */
  length: number;
}

/** A camera name is a directory name in the store: no separators, no dot-dot, no hidden files. */
export function checkCameraName(name: string): string | undefined {
  if (!NAME_RE.test(name)) {
    return `camera name ${JSON.stringify(name.slice(0, 80))} must be 1-64 letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'`;
  }
  return undefined;
}

export function checkFrameId(id: string): string | undefined {
  return ID_RE.test(id) ? undefined : `frame id ${JSON.stringify(id.slice(0, 80))} must be 1-64 letters, digits or '-'`;
}

export function encodeHeader(h: FrameHeader): Buffer {
  const line = `${HEADER_MAGIC}camera=${h.camera} id=${h.id} time=${h.time.toISOString()} length=${h.length}\n`;
  return Buffer.from(line, 'ascii');
}

function badHeader(reason: string): SurveillanceError {
  return new SurveillanceError('bad-header', `bad frame header: ${reason}`);
}

/** True when `text` (ISO 8601 UTC, milliseconds optional) names exactly `time`. */
function sameInstantText(time: Date, text: string): boolean {
  return time.toISOString().startsWith(text.slice(0, -1));
}

/** Parses one header line (without its LF). Unknown keys are ignored, for later extensions. */
export function parseHeader(line: string): FrameHeader {
  if (!line.startsWith(HEADER_MAGIC)) throw badHeader(`does not start with ${JSON.stringify(HEADER_MAGIC)}`);
  const fields = new Map<string, string>();
  for (const field of line.slice(HEADER_MAGIC.length).split(' ')) {
    const eq = field.indexOf('=');
    const key = field.slice(0, eq);
    if (eq < 1 || !KEY_RE.test(key)) throw badHeader(`field ${JSON.stringify(field.slice(0, 40))} is not key=value`);
    if (fields.has(key)) throw badHeader(`field ${key} appears twice`);
    fields.set(key, field.slice(eq + 1));
  }
  const need = (key: string): string => {
    const v = fields.get(key);
    if (v === undefined) throw badHeader(`missing ${key}=`);
    return v;
  };
  const camera = need('camera');
  const id = need('id');
  const timeText = need('time');
  const lengthText = need('length');
  const cameraProblem = checkCameraName(camera);
  if (cameraProblem) throw badHeader(cameraProblem);
  const idProblem = checkFrameId(id);
  if (idProblem) throw badHeader(idProblem);
  const time = new Date(timeText);
  // Round-tripped, so that a day that does not exist (02-30, 24:00) is refused, not rolled over.
  if (!TIME_RE.test(timeText) || Number.isNaN(time.getTime()) || !sameInstantText(time, timeText)) {
    throw badHeader(`time ${JSON.stringify(timeText.slice(0, 40))} is not an ISO 8601 UTC time like 2026-11-21T05:53:00.123Z`);
  }
  if (!/^[1-9]\d{0,15}$/.test(lengthText)) throw badHeader(`length ${JSON.stringify(lengthText.slice(0, 20))} is not a positive integer`);
  return { camera, id, time, length: Number(lengthText) };
}

/**
 * Collects one header line across chunks, holding at most MAX_HEADER_BYTES. `push` returns how
 * many bytes of the chunk it used; `header` is set once the LF has arrived.
 */
export class HeaderReader {
  private readonly buffer = Buffer.alloc(MAX_HEADER_BYTES);
  private filled = 0;
  /** The parsed header, or 'ping' for the line `SVF1 ping`, which asks only for an `OK - pong`. */
  header: FrameHeader | 'ping' | undefined;

  push(chunk: Uint8Array): number {
    const lf = chunk.indexOf(0x0a);
    const take = lf === -1 ? chunk.length : lf;
    if (this.filled + take > MAX_HEADER_BYTES - 1) throw badHeader(`no line end within ${MAX_HEADER_BYTES} bytes`);
    this.buffer.set(chunk.subarray(0, take), this.filled);
    this.filled += take;
    if (lf === -1) return take;
    const bytes = this.buffer.subarray(0, this.filled);
    if (bytes.some((b) => b < 0x20 || b > 0x7e)) throw badHeader('header line holds bytes other than printable ASCII');
    const line = bytes.toString('ascii');
    this.header = line === PING_LINE ? 'ping' : parseHeader(line);
    return take + 1;
  }

  get bytes(): number {
    return this.filled;
  }
}

/** What the first bytes of a unit say it is. */
export type UnitKind = 'raw' | 'framed';

/**
 * Tells raw from framed by the first byte: FF starts a JPEG, 'S' a header line (whose magic
 * HeaderReader checks). Anything else is refused with a reason naming what it looks like.
 */
export function classify(first: Uint8Array): UnitKind {
  if (first[0] === 0xff) return 'raw';
  if (first[0] === HEADER_MAGIC.charCodeAt(0)) return 'framed';
  throw new SurveillanceError('bad-magic', `expected a JPEG (FF D8) or a frame header (SVF1), got ${describeBytes(first)}`);
}

/** Names common wrong guests so that the log says what knocked, not just which bytes. */
export function describeBytes(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const ascii = b.subarray(0, 8).toString('latin1');
  if (b[0] === 0x16 && b[1] === 0x03) return 'a TLS handshake (this port speaks plain TCP)';
  if (b[0] === 0x89 && ascii.startsWith('\x89PNG')) return 'a PNG image (only JPEG is accepted)';
  if (/^(GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT) /.test(ascii)) return 'an HTTP request (this port is not a web server)';
  if (ascii.startsWith('SSH-')) return 'an SSH client';
  if (ascii.startsWith('GIF8')) return 'a GIF image (only JPEG is accepted)';
  const shown = [...b.subarray(0, 8)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
  return `bytes ${shown}`;
}

export type Ack =
  | { status: 'OK' | 'DUP'; id: string; name: string }
  | { status: 'ERR'; id: string; code: ErrorCode; reason: string };

/** One acknowledgement line, LF-terminated. Reasons are single-line printable text. */
export function formatAck(ack: Ack): string {
  if (ack.status === 'ERR') {
    const reason = ack.reason.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 400);
    return `ERR ${ack.id} ${ack.code} ${reason}\n`;
  }
  return `${ack.status} ${ack.id} ${ack.name}\n`;
}

export function parseAck(line: string): Ack {
  const m = /^(OK|DUP) (\S+) (\S+)$/.exec(line);
  if (m) return { status: m[1] as 'OK' | 'DUP', id: m[2]!, name: m[3]! };
  const e = /^ERR (\S+) ([a-z-]+) (.*)$/.exec(line);
  if (e) return { status: 'ERR', id: e[1]!, code: e[2] as ErrorCode, reason: e[3]! };
  throw new SurveillanceError('bad-reply', `receiver answered ${JSON.stringify(line.slice(0, 80))}, not an OK, DUP or ERR line`);
}
