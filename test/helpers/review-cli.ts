import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cleanEnv, RECEIVER_BIN, ROOT } from './receiver.ts';

/**
 * Runs the review commands as a user does: the built `surveillance-receiver` in a process of
 * its own, with a time zone set explicitly (local times are the point of these commands).
 */

export const TZ = 'Europe/Berlin';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [RECEIVER_BIN, ...args], { env: cleanEnv({ TZ, ...env }), encoding: 'utf8', timeout: 60_000, maxBuffer: 256 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * `pnpm test` builds before running; a single test file run by hand may find the bundle
 * missing or older than the sources, and then builds it here.
 */
export function ensureBuilt(): void {
  const bundle = join(ROOT, 'packages/receiver/dist/cli.js');
  let built = 0;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    // not built yet
  }
  const sources = Math.max(newestMtime(join(ROOT, 'packages/receiver/src')), newestMtime(join(ROOT, 'packages/shared/src')));
  if (built < sources) execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), 'receiver'], { stdio: 'inherit' });
}

/** The receiver's command table as its own help lists it (features add commands). */
export function receiverCommands(): string {
  ensureBuilt();
  return /^Commands: (.*)$/m.exec(cli(['help']).stdout)![1]!;
}
