/**
 * The one error type of the project. `code` is stable: it appears on the wire in `ERR` lines,
 * in log lines and in tests, so that a user (or the sender) can act on it without parsing prose.
 */
export type ErrorCode =
  // The command line, the environment or the config file holds a value we cannot use.
  | 'usage'
  // A peer sent bytes that are neither a JPEG nor a frame header.
  | 'bad-magic'
  // A frame header that does not follow docs/protocol.md.
  | 'bad-header'
  // Bytes that claim to be a JPEG but break its marker/segment structure.
  | 'bad-jpeg'
  // The connection ended (or went idle) in the middle of a frame, or before any frame.
  | 'truncated'
  | 'empty'
  | 'timeout'
  // The frame is larger than the configured limit.
  | 'too-large'
  // The store refuses: below the free-space reserve, or the file system said no.
  | 'store-full'
  | 'store-failed'
  // Sender side: the receiver cannot be reached or answered something we do not understand.
  | 'unreachable'
  | 'bad-reply'
  // An address to listen on is taken (another program listens there), not of this machine, or
  // its host name does not resolve: nothing the command line can fix by itself, so not `usage`.
  | 'unavailable'
  // The TLS handshake failed or the peer's identity was refused (a wrong or unknown key).
  | 'auth'
  // A file the user named cannot be read.
  | 'not-found'
  // A file the user named cannot be written (a missing or read-only folder, a full disk).
  | 'cannot-write'
  // A bug: something that is not a SurveillanceError was thrown. It exists so that a peer that
  // waits for an answer hears `ERR <id> internal ...` instead of a made-up operational reason
  // (a bug shown as `unreachable` or `store-failed` would be retried for ever, and hidden).
  // The process then ends with EXIT.software (70), a status no operational error has.
  | 'internal';

/**
 * Marks our errors so that `instanceof` holds across copies of this module: the per-connection
 * receiver (dist/entry.cjs) bundles its own copy, and the NATS store, loaded on demand from an
 * ES module output, throws with the other copy's class. Without it a store-failed from there
 * would look like a bug (`internal`, exit 70) to the connection.
 */
const BRAND = Symbol.for('surveillance.SurveillanceError');

export class SurveillanceError extends Error {
  override readonly name = 'SurveillanceError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    Object.defineProperty(this, BRAND, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** A `usage` error: the command line, the environment or the config file is wrong. */
export function usage(message: string): SurveillanceError {
  return new SurveillanceError('usage', message);
}

/**
 * Whatever was thrown, as the error a peer or a log may hear: a SurveillanceError as it is,
 * anything else as `internal` (a bug), keeping the original as its cause for the stack.
 */
export function asSurveillanceError(e: unknown): SurveillanceError {
  if (e instanceof SurveillanceError) return e;
  return new SurveillanceError('internal', `internal error (a bug): ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/** True for a thrown value that is not a SurveillanceError, or one that says `internal`: a bug. */
export function isBug(e: unknown): boolean {
  return !(e instanceof SurveillanceError) || e.code === 'internal';
}

export function isSurveillanceError(e: unknown, code?: ErrorCode): e is SurveillanceError {
  return e instanceof SurveillanceError && (code === undefined || e.code === code);
}

/** Exit statuses from sysexits.h, so that shell scripts and systemd can tell them apart. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 64,
  dataErr: 65,
  noInput: 66,
  unavailable: 69,
  /** A bug (an internal error): distinct from every operational status. */
  software: 70,
  cantCreate: 73,
  ioErr: 74,
  tempFail: 75,
  noPerm: 77,
} as const;
