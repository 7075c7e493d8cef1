import { runMain } from '@surveillance/shared';
import { runCommand } from './command-run.ts';
import { REVIEW_COMMANDS } from './review-commands.ts';

/**
 * The review commands (review-commands.ts) bundled on their own as CommonJS, dist/review-entry.cjs,
 * which the bin hands `list`, `stats`... to. They are run from terminals and scripts, often in
 * loops, and mostly finish in tens of milliseconds: Node 20's ES module loader, which cli.ts
 * goes through, cost about a fifth of `list --day` (see `pnpm bench`), and CommonJS starts
 * faster. cli.ts runs the same commands the same way. The bin sends every command here; any
 * other than these is handed to cli.ts.
 */
const [name, ...argv] = process.argv.slice(2);
const load = name === undefined ? undefined : REVIEW_COMMANDS[name];
if (load) void runMain('surveillance-receiver', () => runCommand(load, argv));
else void import('./cli.ts');
