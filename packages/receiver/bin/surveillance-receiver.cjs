#!/usr/bin/env node
// Thin entry: `pnpm build` (scripts/build.mjs) bundles the program into dist/. CommonJS on
// purpose: src/entry.ts says why.
require('../dist/entry.cjs');
