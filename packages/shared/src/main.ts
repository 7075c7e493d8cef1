import { EXIT, SurveillanceError, type ErrorCode } from './errors.ts';
import { writeStderr } from './stdout.ts';

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
      writeStderr(`${program}: ${e.code}: ${e.message}\n`);
      process.exitCode = STATUS[e.code] ?? EXIT.failure;
    } else {
      // A bug: its stack (the original's, when it was wrapped as `internal`) and status 70.
      const bug = e instanceof SurveillanceError && e.cause !== undefined ? e.cause : e;
      writeStderr(`${program}: internal error: ${(bug as Error)?.stack ?? String(bug)}\n`);
      process.exitCode = EXIT.software;
    }
  }
}
