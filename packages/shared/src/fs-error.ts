import { statSync } from 'node:fs';
import { dirname } from 'node:path';
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

/**
 * `WHAT: REASON` with Node's reason said once, less the path it names (often a temporary
 * file's or an internal folder's, which the user never named). ENOTDIR names the file that is
 * in the way instead: "/srv/afile is a file, not a folder".
 */
export function fsError(what: string, e: unknown, role: FileRole): Error {
  if (!isErrnoError(e)) return e instanceof Error ? e : new Error(String(e));
  // link and rename name two paths; the one in the way is the target's (dest).
  const where = (e as { dest?: string }).dest ?? e.path;
  const file = e.code === 'ENOTDIR' && where !== undefined ? fileInPath(where) : undefined;
  const reason = file === undefined ? e.message.replace(/, \w+ '.*$/s, '') : `${what.endsWith(` ${file}`) ? 'it' : file} is a file, not a folder`;
  return new SurveillanceError(fsErrorCode(e, role), `${what}: ${reason}`, { cause: e });
}

/** The first of `path` and its parents that exists and is not a folder: why ENOTDIR. */
export function fileInPath(path: string): string | undefined {
  for (let p = path; ; p = dirname(p)) {
    try {
      return statSync(p).isDirectory() ? undefined : p;
    } catch {
      // not there (or a file in its path): look further up
    }
    if (dirname(p) === p) return undefined;
  }
}
