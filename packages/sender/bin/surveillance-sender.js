#!/usr/bin/env node
// Thin entry: the program is bundled to dist/ by `pnpm build` (scripts/build.mjs).
import '../dist/cli.js';
