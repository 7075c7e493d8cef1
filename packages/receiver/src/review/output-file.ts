import { statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { DurableFile, fsError, SurveillanceError } from '@surveillance/shared';

/**
 * A file the user named (an export's --out), written whole or not at all: a DurableFile
 * (shared/durable-file.ts) hidden beside the target, renamed over it only once complete. An
 * error, Ctrl-C or SIGTERM removes the temporary file, so a user never finds a half-written
 * export that looks finished. The temporary file is created at once, so an unwritable target
 * fails before any work. Errors are `cannot-write`: the user picks another place.
 */
export class OutputFile {
  readonly path: string;
  private readonly file: DurableFile;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    // The file is undefined only if the signal came while it was being created.
    (this.file as DurableFile | undefined)?.abort();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };

  constructor(target: string) {
    this.path = resolve(target);
    const folder = dirname(this.path);
    if (isDirectory(this.path)) throw new SurveillanceError('cannot-write', `--out ${target} is a folder; name a file`);
    if (!isDirectory(folder)) throw new SurveillanceError('cannot-write', `cannot write ${target}: folder ${folder} does not exist`);
    // Before the file exists: a signal between its creation and these would end the process
    // with the file left behind.
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
    try {
      this.file = DurableFile.create(folder, { prefix: `.${basename(this.path)}.`, mode: 0o644 });
    } catch (e) {
      this.release();
      throw fsError(`cannot write ${target}`, e, 'output');
    }
  }

  get bytes(): number {
    return this.file.bytes;
  }

  write(data: Uint8Array): void {
    try {
      this.file.write(data); // drops the file on an error
    } catch (e) {
      this.release();
      throw fsError(`cannot write ${this.path}`, e, 'output');
    }
  }

  /** Makes the file durable, then gives it its name (and syncs the folder that holds it). */
  commit(): void {
    try {
      this.file.commit(this.path, { how: 'rename' });
    } catch (e) {
      throw fsError(`cannot write ${this.path}`, e, 'output');
    } finally {
      this.release();
    }
  }

  /** Drops everything written; safe to call more than once. */
  abort(): void {
    this.file.abort();
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
