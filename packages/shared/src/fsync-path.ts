import { closeSync, fsyncSync, openSync } from 'node:fs';

/**
 * fsync(2) of a path, for folders above all: a rename or link is durable only once the folder
 * that holds the new name is synced, which is what both the receiver's store and the sender's
 * spool promise before they answer or delete anything.
 */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
