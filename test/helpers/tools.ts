import { execFileSync } from 'node:child_process';

/**
 * External tools the tests drive (socat, ffmpeg, chromium, systemd-nspawn...). On a developer's
 * machine a missing tool skips the tests that need it; under CI (CI=true, where .ci/run installs
 * them all) a missing tool fails, so that nothing is skipped there by accident.
 */
export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Use as `describe.skipIf(!needTools('socat'))(...)`. */
export function needTools(...names: string[]): boolean {
  const missing = names.filter((n) => !hasTool(n));
  if (missing.length === 0) return true;
  if (process.env.CI) throw new Error(`CI must install ${missing.join(', ')} (see .ci/run)`);
  console.warn(`skipping tests that need ${missing.join(', ')}: not installed`);
  return false;
}
