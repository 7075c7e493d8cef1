import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import { connectionProperty, headerProperty, scannerProperty } from './helpers/fuzz.ts';

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

/** The error first, then how to run the case again; the counterexample (kBs of bytes) cut short. */
function report<T>(name: string, details: fc.RunDetails<T>): string {
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  const example = JSON.stringify(details.counterexample, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)) ?? '';
  return `${name}: ${error}\nrerun with FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath}\ncounterexample (hex): ${example.slice(0, 4000)}`;
}

function check<T>(name: string, property: fc.IProperty<T>): void {
  const details = fc.check(property, { numRuns: runs, seed, path, endOnFailure: true });
  counts[name] = details.numRuns;
  if (details.failed) throw new Error(report(name, details));
}

/**
 * The whole connection handler stores real files (fsync included) for each case, some 100
 * times the cost of a parser case: it runs a hundredth of the cases (at least 200).
 */
const connectionRuns = Math.max(200, Math.round(runs / 100));

async function checkAsync<T>(name: string, property: fc.IAsyncProperty<T>, numRuns: number): Promise<void> {
  const details = await fc.check(property, { numRuns, seed, path, endOnFailure: true });
  counts[name] = details.numRuns;
  if (details.failed) throw new Error(report(name, details));
}

describe('fuzzing: any bytes in any chunking end in a defined outcome, the same whatever the chunking', () => {
  it('the JPEG scanner', () => check('jpeg-scanner', scannerProperty), timeout);
  it('the header reader', () => check('header-reader', headerProperty), timeout);
  it('the whole connection handler, on a throwaway store: the acks and the files stored', () => checkAsync('connection', connectionProperty, connectionRuns), timeout);
});

afterAll(() => {
  if (process.env.FUZZ_REPORT) writeFileSync(process.env.FUZZ_REPORT, JSON.stringify(counts));
});
