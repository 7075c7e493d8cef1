import { SurveillanceError, type ErrorCode } from './errors.ts';

/**
 * A file-system error as the user's error code. Which code depends on whose file it is:
 * - `store`: the program's own data (the receiver's store, the sender's spool). A full file
 *   system is `store-full` (try again once space is freed: a sender keeps the frame), anything
 *   else `store-failed`.
 * - `output`: a file the user named (an export's --out). Everything, a full disk included, is
 *   `cannot-write`: the user picks another place.
 * - `input`: a file the user named to read: `not-found`.
 *
 * An error without an errno code (a TypeError, a RangeError) is a bug, not a file-system
 * answer: it is returned unchanged, so that it is never relabelled as an operational error.
 */
export type FileRole = 'store' | 'output' | 'input';

/** An error from a system call (ENOENT, EACCES, ENOSPC...), as opposed to a bug. */
export function isErrnoError(e: unknown): e is NodeJS.ErrnoException {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return e instanceof Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

export function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export function fsErrorCode(e: unknown, role: FileRole): ErrorCode {
  if (role === 'output') return 'cannot-write';
  if (role === 'input') return 'not-found';
  return isDiskFull(e) ? 'store-full' : 'store-failed';
}

/** `WHAT: REASON` with Node's reason, less the path it names (often a temporary file's). */
export function fsError(what: string, e: unknown, role: FileRole): Error {
  if (!isErrnoError(e)) return e instanceof Error ? e : new Error(String(e));
  const reason = e.message.replace(/, \w+ '.*$/s, '');
  return new SurveillanceError(fsErrorCode(e, role), `${what}: ${reason}`, { cause: e });
}
