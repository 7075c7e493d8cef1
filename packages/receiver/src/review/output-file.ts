import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SurveillanceError } from '@surveillance/shared';

/**
 * A file written whole or not at all: bytes go to a hidden temporary file beside the target,
 * which is renamed over the target only once complete. An error, Ctrl-C or SIGTERM removes
 * the temporary file, so a user never finds a half-written export that looks finished.
 * The temporary file is created at once, so an unwritable target fails before any work.
 */
export class OutputFile {
  readonly path: string;
  readonly tempPath: string;
  bytes = 0;
  private fd: number | undefined;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.abort();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };

  constructor(target: string) {
    this.path = resolve(target);
    const folder = dirname(this.path);
    this.tempPath = join(folder, `.${basename(this.path)}.${process.pid}.part`);
    if (isDirectory(this.path)) throw new SurveillanceError('cannot-write', `--out ${target} is a folder; name a file`);
    if (!isDirectory(folder)) throw new SurveillanceError('cannot-write', `cannot write ${target}: folder ${folder} does not exist`);
    try {
      this.fd = openSync(this.tempPath, 'wx', 0o644);
    } catch (e) {
      throw writeError(target, e);
    }
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  write(data: Uint8Array): void {
    try {
      let off = 0;
      while (off < data.length) off += writeSync(this.fd!, data, off, data.length - off);
      this.bytes += data.length;
    } catch (e) {
      this.abort();
      throw writeError(this.path, e);
    }
  }

  /** Makes the file durable, then gives it its name. */
  commit(): void {
    try {
      fsyncSync(this.fd!);
      closeSync(this.fd!);
      this.fd = undefined;
      renameSync(this.tempPath, this.path);
    } catch (e) {
      this.abort();
      throw writeError(this.path, e);
    }
    this.release();
  }

  /** Drops everything written; safe to call more than once. */
  abort(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
    try {
      unlinkSync(this.tempPath);
    } catch {
      // already gone
    }
    this.release();
  }

  private release(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function writeError(target: string, e: unknown): SurveillanceError {
  const err = e as NodeJS.ErrnoException;
  // Node's message names the temporary file ("EACCES: permission denied, open '/x/.y.part'"): keep the reason only.
  return new SurveillanceError('cannot-write', `cannot write ${target}: ${err.message.replace(/, \w+ '.*$/s, '')}`, { cause: e });
}
