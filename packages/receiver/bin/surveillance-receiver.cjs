#!/usr/bin/env node
// Thin entry: `pnpm build` (scripts/build.mjs) bundles the program into dist/. Receiving (the
// default, and under systemd one process per connection) goes to the CommonJS entry, whose
// source, src/entry.ts, says why it is CommonJS; deciding here spares each command the parse of
// that entry. It runs from V8's code cache made by the build (src/code-cache.ts says why). A
// command (list, serve, camera...) goes to src/review-entry.ts, a CommonJS bundle that runs the
// review commands (src/review-commands.ts, the one list of them) itself and hands any other to
// the ES module CLI.
const first = process.argv[2];
if (first !== undefined && !first.startsWith('-') && first !== 'receive') require('../dist/review-entry.cjs');
else require('../dist/code-cache.cjs').runCommonJs(require('node:path').join(__dirname, '../dist/entry.cjs'), require);
