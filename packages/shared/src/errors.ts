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
  | 'rejected'
  // A bug: not the peer's, the user's or the system's doing. Logged with its stack; exit 70.
  | 'internal'
  // A file the user named cannot be read.
  | 'not-found'
  // A file the user named cannot be written (a missing or read-only folder, a full disk).
  | 'cannot-write';

export class SurveillanceError extends Error {
  override readonly name = 'SurveillanceError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
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
  software: 70,
  cantCreate: 73,
  ioErr: 74,
  tempFail: 75,
} as const;
