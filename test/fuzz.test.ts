import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import { headerProperty, scannerProperty } from './helpers/fuzz.ts';

/**
 * A short fuzzing round of the parsers that face the network; `pnpm fuzz` (scripts/fuzz.mjs)
 * runs the same properties with FUZZ_RUNS cases each. A failure prints fast-check's seed and
 * path: rerun it with FUZZ_SEED and FUZZ_PATH.
 */
const runs = Number(process.env.FUZZ_RUNS ?? 2000);
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const path = process.env.FUZZ_PATH;
const counts: Record<string, number> = {};
// The long run takes minutes; the short one stays under the default limit.
const timeout = Math.max(60_000, runs / 2);

function check<T>(name: string, property: fc.IProperty<T>): void {
  const details = fc.check(property, { numRuns: runs, seed, path, endOnFailure: true });
  counts[name] = details.numRuns;
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? `${name} failed`);
}

describe('fuzzing: any bytes in any chunking end in a defined outcome, the same whatever the chunking', () => {
  it('the JPEG scanner', () => check('jpeg-scanner', scannerProperty), timeout);
  it('the header reader', () => check('header-reader', headerProperty), timeout);
});

afterAll(() => {
  if (process.env.FUZZ_REPORT) writeFileSync(process.env.FUZZ_REPORT, JSON.stringify(counts));
});
