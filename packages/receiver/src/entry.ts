import { runMain } from '@surveillance/shared';
import { isConnectionOnStdin, run } from './receive.ts';

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
  void runMain('surveillance-receiver', () => run(first === 'receive' ? argv.slice(1) : argv));
} else {
  void import('./cli.ts');
}
