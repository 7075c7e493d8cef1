import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * systemd's offline checks of installed units, for tests that install units into a scratch
 * root: no manager needed.
 */

/** Makes `root` resolvable for systemd-analyze: systemd's own units (targets, slices) below it. */
export function analyzableRoot(root: string): string {
  mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
  cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  return root;
}

/**
 * `systemd-analyze verify` of unit files below `root`. It exits 0 on unknown keys and other
 * mistakes it only warns about, so a clean result is status 0 *and* empty stderr.
 */
export function verifyUnits(root: string, unitPaths: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...unitPaths], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** The "Overall exposure level" of `systemd-analyze security --offline=true` (0 best, 10 worst). */
export function exposure(root: string, service: string): number {
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', `--root=${root}`, service], { encoding: 'utf8' });
  const score = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout)?.[1];
  if (score === undefined) throw new Error(`systemd-analyze security ${service} gave no score: ${r.stderr}`);
  return Number(score);
}
