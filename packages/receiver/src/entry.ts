import { writeSync } from 'node:fs';
import { formatAck, runMain, SurveillanceError } from '@surveillance/shared';
import { isConnectionOnStdin, run } from './receive/receive.ts';
import { sizeThreadPool } from './receive/thread-pool.ts';

/**
 * The process entry, bundled on its own as CommonJS (dist/entry.cjs). Started by systemd for
 * one connection (Accept=yes), the receiver answers it from here: this bundle holds only that
 * path, and CommonJS starts faster than ES modules, which matters once per connection (see
 * `pnpm bench`). Every other use (a terminal, the listener modes, the review commands) loads
 * the full ES module CLI.
 */
const argv = process.argv.slice(2);
const first = argv[0];

if ((first === undefined || first.startsWith('-') || first === 'receive') && isConnectionOnStdin(process.env)) {
  void runMain('surveillance-receiver', async () => {
    try {
      return await run(first === 'receive' ? argv.slice(1) : argv);
    } catch (e) {
      // The receiver could not start (a bad option in receiver.env, a store it cannot create):
      // the peer still gets its one line, and the journal the whole story. Anything but a
      // SurveillanceError is a bug: `internal`, and runMain prints its stack and exits 70.
      const error = e instanceof SurveillanceError ? e : new SurveillanceError('internal', 'internal error: see the receiver log');
      try {
        writeSync(0, formatAck({ status: 'ERR', id: '-', code: error.code, reason: `receiver cannot start: ${error.message}` }));
      } catch {
        // the peer is gone
      }
      throw e;
    }
  });
} else {
  // The listener modes come this way (and a terminal's mistakes, for which it costs nothing).
  sizeThreadPool();
  void import('./cli.ts');
}
