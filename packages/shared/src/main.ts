import { writeSync } from 'node:fs';
import { EXIT, SurveillanceError, type ErrorCode } from './errors.ts';

const STATUS: Partial<Record<ErrorCode, number>> = {
  usage: EXIT.usage,
  'not-found': EXIT.noInput,
  'cannot-write': EXIT.cantCreate,
  'bad-jpeg': EXIT.dataErr,
  'store-failed': EXIT.cantCreate,
  'store-full': EXIT.tempFail,
  unreachable: EXIT.unavailable,
  unavailable: EXIT.unavailable,
  auth: EXIT.noPerm,
  internal: EXIT.software,
};

/**
 * The single edge where errors become words and exit statuses. Known errors print one line,
 * `PROGRAM: CODE: message`, and exit with a sysexits status; anything else is a bug and prints
 * its stack. The exit status is set, not forced, so that replies still in flight on a socket
 * are written before the process ends.
 */
export async function runMain(program: string, main: () => Promise<number | void>): Promise<void> {
  try {
    const status = await main();
    if (typeof status === 'number' && process.exitCode === undefined) process.exitCode = status;
  } catch (e) {
    if (e instanceof SurveillanceError && e.code !== 'internal') {
      say(`${program}: ${e.code}: ${e.message}\n`);
      process.exitCode = STATUS[e.code] ?? EXIT.failure;
    } else {
      // A bug: its stack (the original's, when it was wrapped as `internal`) and status 70.
      const bug = e instanceof SurveillanceError && e.cause !== undefined ? e.cause : e;
      say(`${program}: internal error: ${(bug as Error)?.stack ?? String(bug)}\n`);
      process.exitCode = EXIT.software;
    }
  }
}

function say(text: string): void {
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
