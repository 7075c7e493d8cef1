import { writeSync } from 'node:fs';
import { fsError } from './fs-error.ts';

/**
 * Output of the commands that print and end (the review commands), written straight to file
 * descriptor 1 rather than through process.stdout: making that stream loads node:stream and
 * its kin, a quarter of a bare Node start, which `list` paid on every run (see `pnpm bench`).
 *
 * As with process.stdout: the reader going away (EPIPE, `list | head`) stops the output and
 * not the work (ignoreClosedStdout), and a closed descriptor swallows it. A stdout that would
 * block (a pipe left non-blocking by another process) hands what is left, and everything after,
 * to process.stdout, which queues it in order. Any other failure (a full disk under
 * `> file`) is the user's output that could not be written: `cannot-write`.
 */
let stream: NodeJS.WriteStream | undefined;
let closed = false;

/**
 * `ascii`: the caller knows `text` is ASCII (a listing's lines), so it is written as Latin-1, its
 * bytes as they are, rather than encoded as UTF-8 and then measured again, two passes over what
 * is megabytes in a listing (--json of a day of 20,000 frames: 17 M instructions, now 7 M).
 */
export function writeStdout(text: string, ascii = false): void {
  if (closed || text === '') return;
  const encoding = ascii ? 'latin1' : 'utf8';
  if (stream) {
    stream.write(text, encoding);
    return;
  }
  let written = 0;
  try {
    written = writeSync(1, text, null, encoding);
    if (written === (ascii ? text.length : Buffer.byteLength(text))) return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPIPE' || code === 'EBADF') {
      closed = true;
      return;
    }
    if (code !== 'EAGAIN') throw fsError('standard output', e, 'output');
  }
  ignoreClosedStdout();
  stream = process.stdout;
  stream.write(written === 0 ? text : Buffer.from(text, encoding).subarray(written), encoding);
}

/** A line for the user on stderr (no stream either); lost when there is nowhere to write it. */
export function writeStderr(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // nowhere to report
  }
}

/**
 * `surveillance-sender send ... | head`, `list | head`: the reader going away is its choice, not
 * an error worth a stack trace. Output stops; the work goes on (a sender still sends every file)
 * and the exit status still tells how it went. Not for the per-connection receiver, whose
 * stdout is the client's socket.
 */
export function ignoreClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
  });
}
