import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkCameraName, formatKeyLine, writeFileDurably, parseKeyLine, SurveillanceError, type CameraKey } from '@surveillance/shared';

/**
 * The receiver's key folder: one file per camera key, `CAMERA.KEYID.key`, holding the same
 * key line that `camera add` printed for the camera box. Under systemd the folder arrives
 * through `LoadCredential=camera-keys:/etc/surveillance/camera-keys`, where each file becomes a
 * credential named `camera-keys_CAMERA.KEYID.key` (seen so with systemd 252: the folder is
 * 0500 and each file 0400, owned by the service user); both spellings are read.
 *
 * A key id is the time the key was made, in milliseconds, base 36: the ids of one camera sort
 * by age, which is what rotation needs ("a newer key has connected"), and `camera list` can say
 * when each key was made without another file.
 *
 * The folder and every key file must be private to the receiver's user (no group or other
 * bits): a key anyone else can read is a key anyone can send with.
 */

export interface KeyEntry {
  camera: string;
  keyId: string;
  made: Date;
  /** The file's name in the folder. */
  file: string;
}

const FILE_RE = /^(?:camera-keys_)?(.+)\.([0-9a-z]{1,16})\.key$/;

export function keyIdMade(keyId: string): Date {
  return new Date(Number.parseInt(keyId, 36));
}

/** Newer first is larger: ids are base-36 times, compared as numbers, not as text. */
export function compareKeyIds(a: string, b: string): number {
  return Number.parseInt(a, 36) - Number.parseInt(b, 36);
}

function problem(message: string, cause?: unknown): SurveillanceError {
  return new SurveillanceError('usage', message, { cause });
}

function notPrivate(what: string, path: string, mode: number): SurveillanceError {
  const octal = (mode & 0o777).toString(8).padStart(3, '0');
  return problem(`${what} ${path} is open to other users (mode ${octal}); camera keys must be readable by the receiver's user only: chmod ${what === 'key folder' ? '700' : '600'} ${path}`);
}

/**
 * How often a long-lived listener may read its key folder's list again for a key it does not
 * know (see CameraKeys.lookup): a camera paired meanwhile gets in within this time, and a flood
 * of made-up identities costs one readdir per this time, not one per connection.
 */
export const RELIST_MS = 5_000;

export class CameraKeys {
  private entries: KeyEntry[] | undefined;
  private listedAt = -Infinity;

  /**
   * `clock` is monotonic milliseconds, injected by tests. process.uptime, not performance.now:
   * the global `performance` loads perf_hooks (eight modules), paid by every per-connection
   * receiver with keys.
   */
  constructor(
    readonly dir: string,
    private readonly clock: () => number = () => process.uptime() * 1000,
  ) {}

  /**
   * Checks the folder (it exists, it is a folder, it is private). `create` makes it, 0700,
   * when it is missing: what `camera add` does on a new machine.
   */
  static open(dir: string, options: { create?: boolean; clock?: () => number } = {}): CameraKeys {
    let stat;
    try {
      stat = statSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && options.create) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        return new CameraKeys(dir, options.clock);
      }
      if (code === 'ENOENT') throw problem(`key folder ${dir} does not exist; pair a camera first: surveillance-receiver camera add NAME --keys ${dir}`, e);
      throw problem(`key folder ${dir} cannot be read: ${code ?? (e as Error).message}`, e);
    }
    if (!stat.isDirectory()) throw problem(`key folder ${dir} is not a folder`);
    if ((stat.mode & 0o077) !== 0) throw notPrivate('key folder', dir, stat.mode);
    return new CameraKeys(dir, options.clock);
  }

  /** Every key in the folder, by camera then age (oldest first); read once, then kept. */
  list(): KeyEntry[] {
    if (this.entries) return this.entries;
    this.listedAt = this.clock();
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      throw problem(`key folder ${this.dir} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
    }
    const entries: KeyEntry[] = [];
    for (const file of names) {
      const m = FILE_RE.exec(file);
      if (!m || checkCameraName(m[1]!) !== undefined) continue;
      entries.push({ camera: m[1]!, keyId: m[2]!, made: keyIdMade(m[2]!), file });
    }
    entries.sort((a, b) => (a.camera < b.camera ? -1 : a.camera > b.camera ? 1 : compareKeyIds(a.keyId, b.keyId)));
    this.entries = entries;
    return entries;
  }

  keysOf(camera: string): KeyEntry[] {
    return this.list().filter((e) => e.camera === camera);
  }

  /**
   * The secret of one key, checked: the file is private and its line names the same camera and
   * key id as its file name. Undefined when there is no such key.
   */
  read(camera: string, keyId: string): CameraKey | undefined {
    const entry = this.list().find((e) => e.camera === camera && e.keyId === keyId);
    if (!entry) return undefined;
    const path = join(this.dir, entry.file);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      // Removed since the list was read (camera remove): unknown, and the list is stale.
      this.entries = undefined;
      return undefined;
    }
    let text: string;
    try {
      const mode = fstatSync(fd).mode;
      if ((mode & 0o077) !== 0) throw notPrivate('key file', path, mode);
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
    const key = parseKeyLine(text, path);
    if (key.camera !== camera || key.keyId !== keyId) throw problem(`key file ${path} holds the key of ${key.camera}.${key.keyId}, not of what its name says`);
    return key;
  }

  /**
   * The key a handshake names, for a receiver that keeps this object for all its connections
   * (the listener): the list of the folder is kept, and read again when the key is not in it
   * (a camera paired or rotated since) if the last reading is `relistMs` old, so a flood of
   * unknown identities cannot make it read the folder for every connection. The key file itself
   * is opened for every handshake: a removed key is refused at once. `relisted` says whether
   * this lookup read the folder's list again.
   */
  lookup(camera: string, keyId: string, relistMs = RELIST_MS): { key: CameraKey | undefined; relisted: boolean } {
    const key = this.read(camera, keyId);
    if (key || this.entries === undefined || this.clock() - this.listedAt < relistMs) return { key, relisted: false };
    this.entries = undefined;
    return { key: this.read(camera, keyId), relisted: true };
  }

  /** Writes a new key for `camera`, newer than any it has; returns it (the only time it is shown). */
  add(camera: string, makeKey: () => Buffer, now: Date): CameraKey {
    const cameraProblem = checkCameraName(camera);
    if (cameraProblem) throw problem(cameraProblem);
    const newest = this.keysOf(camera).at(-1);
    const ms = Math.max(now.getTime(), newest ? Number.parseInt(newest.keyId, 36) + 1 : 0);
    const key: CameraKey = { camera, keyId: ms.toString(36), key: makeKey() };
    writeFileDurably(join(this.dir, `${camera}.${key.keyId}.key`), formatKeyLine(key), { mode: 0o600 });
    this.entries = undefined;
    return key;
  }

  /** Deletes one key file; false when it was not there. */
  delete(entry: KeyEntry): boolean {
    try {
      rmSync(join(this.dir, entry.file));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    } finally {
      this.entries = undefined;
    }
  }
}
