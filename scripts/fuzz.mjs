#!/usr/bin/env node
// `pnpm fuzz`: the properties of test/fuzz.test.ts with many cases each (FUZZ_RUNS, default
// 500,000 per property, at least 1,000,000 in all), then the count of cases run. Each case is
// bounded (inputs of at most a few kB), so the run is bounded too: a few minutes on two cores.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const runs = Number(process.env.FUZZ_RUNS ?? 500_000);
const dir = mkdtempSync(join(tmpdir(), 'surveillance-fuzz-'));
const report = join(dir, 'counts.json');
const started = Date.now();
const run = spawnSync('npx', ['vitest', 'run', 'test/fuzz.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: String(runs), FUZZ_REPORT: report },
});
let counts = {};
try {
  counts = JSON.parse(readFileSync(report, 'utf8'));
} catch {
  // No report: vitest failed before the end; its output says why.
}
rmSync(dir, { recursive: true, force: true });
const total = Object.values(counts).reduce((a, b) => a + b, 0);
for (const [name, n] of Object.entries(counts)) console.log(`fuzz: ${name}: ${n.toLocaleString('en')} cases`);
console.log(`fuzz: ${total.toLocaleString('en')} cases in all, ${((Date.now() - started) / 1000).toFixed(0)} s, ${run.status === 0 ? 'no failure' : 'FAILED'}`);
process.exit(run.status === 0 ? 0 : 1);
