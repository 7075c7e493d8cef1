#!/usr/bin/env node
// Thin entry: `pnpm build` (scripts/build.mjs) bundles the program into dist/. A command (list,
// serve, camera...) goes straight to the ES module CLI; receiving (the default, and under
// systemd one process per connection) to the CommonJS entry, whose source, src/entry.ts, says
// why it is CommonJS. Deciding here spares each command the parse of that entry. The review
// commands (src/review-commands.ts) have a CommonJS bundle of their own, src/review-entry.ts.
const first = process.argv[2];
const REVIEW = ['list', 'stats', 'show', 'open', 'events', 'export', 'prune', 'migrate'];
if (REVIEW.includes(first)) require('../dist/review-entry.cjs');
else if (first !== undefined && !first.startsWith('-') && first !== 'receive') import('../dist/cli.js');
else require('../dist/entry.cjs');
