import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsyncPath } from '@surveillance/shared';

/**
 * Writes a secret (or a small state file) whole or not at all: a temporary file created 0600
 * in the same folder (so no other user can open it, even for a moment), synced, renamed over
 * the name, and the folder synced. A crash leaves the old file or the new one, never half of
 * one. (A minimal version of the durable-file helper packages/shared is getting; this one is
 * only for small files written by the receiver's own commands.)
 */
let written = 0;

// No random temporary name: node:crypto would cost the per-connection receiver a tenth of its
// start-up. The pid and a counter are unique among the processes writing at once; a leftover
// of a dead process that had our pid is ours to overwrite.
export function writePrivateFile(path: string, text: string, options: { sync?: boolean } = {}): void {
  const sync = options.sync ?? true;
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}-${++written}.tmp`);
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, text);
    if (sync) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
  if (sync) fsyncPath(dirname(path));
}
