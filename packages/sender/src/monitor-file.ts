import { closeSync, fstatSync, openSync, readFileSync, statSync, type BigIntStats } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrnoError, scanJpeg, SurveillanceError, type JpegInfo, type Spec } from '@surveillance/shared';

/**
 * Reads the camera's picture (monitor.jpg) and says whether it holds one whole JPEG. Capture
 * programs either rename a finished file over it (the tutorial's `mv`, ffmpeg -atomic_writing)
 * or rewrite it in place; in the second case a read can catch it half-written, and a JPEG is
 * only taken when the scanner saw its EOI and the file did not change while it was read.
 */

export const pictureSpec = {
  file: { kind: 'path', description: "the camera's picture, rewritten in place or renamed over by the capture program" },
} as const satisfies Spec;

export interface MonitorFrame {
  /** The JPEG, from SOI to EOI: bytes after the EOI would make the receiver refuse the frame. */
  jpeg: Buffer;
  /** What the scanner found walking it (size in pixels above all): no one walks it again. */
  info: JpegInfo;
  /** The file's modification time, the best capture time there is. */
  time: Date;
  /** Changes whenever the file is rewritten or replaced. */
  identity: string;
}

export type MonitorRead =
  | { state: 'missing'; why: string }
  | { state: 'incomplete'; why: string; identity: string }
  | { state: 'complete'; frame: MonitorFrame };

/** How soon a half-written file is looked at again: writers finish a frame in milliseconds. */
export const INCOMPLETE_RETRY_MS = 20;
/** A file still incomplete after this long was left broken by its writer; wait for the next write. */
export const INCOMPLETE_GIVE_UP_MS = 2000;

function identityOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
}

/** The identity without reading the file, or undefined when it is missing. */
export function statIdentity(path: string): string | undefined {
  try {
    return identityOf(statSync(path, { bigint: true }));
  } catch {
    return undefined;
  }
}

export function readMonitorFile(path: string): MonitorRead {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return { state: 'missing', why: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  }
  try {
    const before = fstatSync(fd, { bigint: true });
    if (!before.isFile()) return { state: 'missing', why: 'not a regular file' };
    const bytes = readFileSync(fd);
    const after = fstatSync(fd, { bigint: true });
    const identity = identityOf(after);
    if (identityOf(before) !== identity) return { state: 'incomplete', why: 'the file changed while it was read', identity };
    let info: JpegInfo;
    try {
      info = scanJpeg(bytes);
    } catch (e) {
      if (!(e instanceof SurveillanceError)) throw e;
      return { state: 'incomplete', why: e.message, identity };
    }
    return { state: 'complete', frame: { jpeg: bytes.subarray(0, info.bytes), info, time: new Date(Number(after.mtimeNs / 1_000_000n)), identity } };
  } catch (e) {
    if (!isErrnoError(e)) throw e; // a bug, not a missing file
    return { state: 'missing', why: e.code! };
  } finally {
    closeSync(fd);
  }
}

/** Reads the file, retrying shortly while it is incomplete; throws when it is missing or stays broken. */
export async function readCompleteFrame(path: string, giveUpMs = INCOMPLETE_GIVE_UP_MS): Promise<MonitorFrame> {
  const started = Date.now();
  for (;;) {
    const read = readMonitorFile(path);
    if (read.state === 'complete') return read.frame;
    if (read.state === 'missing') throw new SurveillanceError('not-found', `cannot read ${path}: ${read.why}`);
    if (Date.now() - started > giveUpMs) {
      throw new SurveillanceError('bad-jpeg', `${path} is still not one whole JPEG after ${giveUpMs / 1000}s: ${read.why}`);
    }
    await sleep(INCOMPLETE_RETRY_MS);
  }
}
