import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileDurably } from '@surveillance/shared';
import { join } from 'node:path';
import { compareKeyIds } from './camera-keys.ts';

/**
 * What the receiver knows of each paired camera: the newest key it connected with, and when.
 * This is receiver state, not configuration: the key folder may be read-only to the receiver
 * (systemd credentials are), the store is not. One small file per camera,
 * STORE/.cameras/CAMERA.json, written once per connection; it is a hint, not a record, so it is
 * not synced (a crash that loses it only keeps an old key working until the next connection).
 *
 * It drives rotation: a key older than the newest one seen is retired, refused at the
 * handshake, and removed from the key folder by the next `camera` command.
 */

/** How stale the time of a camera's last connection may get (see note()). */
const NOTE_EVERY_MS = 60_000;

export interface Seen {
  keyId: string;
  at: Date;
}

export class CameraSeen {
  private readonly dir: string;

  constructor(storeRoot: string) {
    this.dir = join(storeRoot, '.cameras');
  }

  get(camera: string): Seen | undefined {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(join(this.dir, `${camera}.json`), 'utf8'));
    } catch {
      // Never seen, or a file broken by hand: both mean "no newer key connected yet", the safe
      // side for the camera (its keys keep working).
      return undefined;
    }
    const { keyId, at } = (data ?? {}) as { keyId?: unknown; at?: unknown };
    if (typeof keyId !== 'string' || typeof at !== 'string' || Number.isNaN(Date.parse(at))) return undefined;
    return { keyId, at: new Date(at) };
  }

  /** True when a newer key of the camera has connected: this one is done. */
  isRetired(camera: string, keyId: string, seen = this.get(camera)): boolean {
    return seen !== undefined && compareKeyIds(seen.keyId, keyId) > 0;
  }

  /**
   * Notes a connection that completed the handshake with `keyId`; never moves back to an older
   * key. The time is kept to a minute: a camera that connects for every frame rewrites its file
   * at most once a minute, not once per connection (a write and a rename each time).
   */
  note(camera: string, keyId: string, now: Date): void {
    const seen = this.get(camera);
    const newest = seen && compareKeyIds(seen.keyId, keyId) > 0 ? seen.keyId : keyId;
    const age = seen ? now.getTime() - seen.at.getTime() : Infinity;
    if (seen?.keyId === newest && age >= 0 && age < NOTE_EVERY_MS) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileDurably(join(this.dir, `${camera}.json`), `${JSON.stringify({ keyId: newest, at: now.toISOString() })}\n`, { mode: 0o600, sync: false });
  }

  forget(camera: string): void {
    rmSync(join(this.dir, `${camera}.json`), { force: true });
  }
}
