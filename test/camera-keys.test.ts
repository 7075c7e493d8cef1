import { randomBytes } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyLine } from '@surveillance/shared';
import { CameraKeys, RELIST_MS } from '../packages/receiver/src/keys/camera-keys.ts';
import { CameraSeen } from '../packages/receiver/src/keys/camera-seen.ts';
import { tempDir } from './helpers/receiver.ts';
import { cli, ensureBuilt } from './helpers/review-cli.ts';

/** `surveillance-receiver camera ...` as the admin runs it: the built command, real files. */
describe('camera keys: add, list, rotate, remove', () => {
  const dir = tempDir();
  const keys = join(dir.path, 'keys');
  const store = join(dir.path, 'store');
  const camera = (...args: string[]) => cli(['camera', ...args, '--keys', keys, '--store', store]);
  beforeAll(() => ensureBuilt());
  afterAll(() => dir.remove());

  it('add makes a private folder and key file, and prints the key line once on stdout', () => {
    const r = camera('add', 'front');
    expect(r.status).toBe(0);
    const key = parseKeyLine(r.stdout, 'stdout');
    expect(key.camera).toBe('front');
    expect(key.key.length).toBe(32);
    expect(r.stderr).toMatch(/not shown again/);
    expect(statSync(keys).mode & 0o777).toBe(0o700);
    const files = readdirSync(keys);
    expect(files).toEqual([`front.${key.keyId}.key`]);
    expect(statSync(join(keys, files[0]!)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(keys, files[0]!), 'utf8')).toBe(r.stdout);
    // Listing never shows the secret.
    const list = camera('list');
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^front +${key.keyId} +\\S+Z +active +never$`, 'm'));
    expect(list.stdout).not.toContain(key.key.toString('base64url'));
  });

  it('refuses a second add, a rotate or remove of an unknown camera, and a bad name', () => {
    expect(camera('add', 'front')).toMatchObject({ status: 64, stdout: '' });
    expect(camera('add', 'front').stderr).toMatch(/already paired.*camera rotate front/);
    expect(camera('rotate', 'back')).toMatchObject({ status: 66 });
    expect(camera('remove', 'back')).toMatchObject({ status: 66 });
    expect(camera('add', '../etc')).toMatchObject({ status: 64, stdout: '' });
    expect(camera('frobnicate', 'x').stderr).toMatch(/unknown camera command/);
  });

  it('rotate adds a newer key; once the camera connected with it, the old one is retired and swept', () => {
    const before = new CameraKeys(keys).keysOf('front');
    const r = camera('rotate', 'front');
    expect(r.status).toBe(0);
    const fresh = parseKeyLine(r.stdout, 'stdout');
    const both = new CameraKeys(keys).keysOf('front');
    expect(both.map((k) => k.keyId)).toEqual([before[0]!.keyId, fresh.keyId]);
    const seen = new CameraSeen(store);
    // Connecting with the old key changes nothing: both stay usable.
    seen.note('front', before[0]!.keyId, new Date('2026-11-21T05:00:00Z'));
    expect(seen.isRetired('front', before[0]!.keyId)).toBe(false);
    expect(camera('list').stdout).toMatch(/active, in use +2026-11-21T05:00:00.000Z/);
    // Within a minute of the last note, the same key is not written again; a newer key is, at once.
    seen.note('front', before[0]!.keyId, new Date('2026-11-21T05:00:59Z'));
    expect(seen.get('front')!.at).toEqual(new Date('2026-11-21T05:00:00Z'));
    seen.note('front', before[0]!.keyId, new Date('2026-11-21T05:01:00Z'));
    expect(seen.get('front')!.at).toEqual(new Date('2026-11-21T05:01:00Z'));
    seen.note('front', fresh.keyId, new Date('2026-11-21T05:01:01Z'));
    expect(seen.get('front')).toEqual({ keyId: fresh.keyId, at: new Date('2026-11-21T05:01:01Z') });
    seen.note('front', fresh.keyId, new Date('2026-11-21T06:00:00Z'));
    expect(seen.isRetired('front', before[0]!.keyId)).toBe(true);
    // A late connection with the old key never moves the camera back to it.
    seen.note('front', before[0]!.keyId, new Date('2026-11-21T07:00:00Z'));
    expect(seen.get('front')!.keyId).toBe(fresh.keyId);
    const list = camera('list');
    expect(list.stdout.trim().split('\n')).toHaveLength(2);
    expect(list.stdout).toContain(fresh.keyId);
    expect(readdirSync(keys)).toEqual([`front.${fresh.keyId}.key`]);
  });

  it('refuses a key folder or key file open to other users, naming the fix', () => {
    chmodSync(keys, 0o750);
    const r = camera('list');
    chmodSync(keys, 0o700);
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/open to other users \(mode 750\).*chmod 700/);
    const [file] = readdirSync(keys);
    const entry = new CameraKeys(keys).list()[0]!;
    chmodSync(join(keys, file!), 0o640);
    expect(() => new CameraKeys(keys).read(entry.camera, entry.keyId)).toThrow(/open to other users \(mode 640\).*chmod 600/);
    chmodSync(join(keys, file!), 0o600);
    expect(new CameraKeys(keys).read(entry.camera, entry.keyId)!.key.length).toBe(32);
  });

  it('remove deletes every key of the camera', () => {
    expect(camera('remove', 'front').status).toBe(0);
    expect(readdirSync(keys)).toEqual([]);
    expect(camera('list').stdout).toMatch(/no cameras paired/);
  });
});

/**
 * The listener keeps one CameraKeys for all its connections: a key written after its first
 * reading is found by reading the folder again, but no more than once per RELIST_MS however
 * many unknown identities arrive, and a removed key is refused at once. Real files, clock
 * injected.
 */
describe('a listener’s key folder: read again for an unknown key, at most every few seconds', () => {
  const dir = tempDir();
  const keys = join(dir.path, 'keys');
  afterAll(() => dir.remove());

  it('finds a camera paired since, is not made to read the folder by a flood, refuses a removed key at once', () => {
    let now = 1_000_000;
    const writer = CameraKeys.open(keys, { create: true });
    const front = writer.add('front', () => randomBytes(32), new Date('2026-11-21T05:00:00Z'));
    const listener = CameraKeys.open(keys, { clock: () => now });
    expect(listener.lookup('front', front.keyId)).toMatchObject({ key: { camera: 'front' }, relisted: false });

    // A camera paired while the listener runs, asked for within RELIST_MS of the last reading:
    // not read again yet; once that time has passed, the next handshake finds it.
    const back = writer.add('back', () => randomBytes(32), new Date('2026-11-21T05:01:00Z'));
    now += RELIST_MS - 1;
    expect(listener.lookup('back', back.keyId)).toEqual({ key: undefined, relisted: false });
    now += 1;
    const found = listener.lookup('back', back.keyId);
    expect(found.relisted).toBe(true);
    expect(found.key!.key.equals(back.key)).toBe(true);

    // A flood of made-up identities: one reading of the folder per RELIST_MS, not one each.
    let readings = 0;
    for (let i = 0; i < 1000; i++) {
      now += 10; // 10 s of flood in all
      if (listener.lookup('ghost', `k${i}`).relisted) readings++;
    }
    expect(readings).toBe(Math.floor((1000 * 10) / RELIST_MS));

    // camera remove: the next handshake with that key is refused, with no wait.
    for (const entry of writer.keysOf('front')) writer.delete(entry);
    expect(listener.lookup('front', front.keyId).key).toBeUndefined();
    expect(listener.lookup('back', back.keyId).key).toBeDefined();
  });
});
