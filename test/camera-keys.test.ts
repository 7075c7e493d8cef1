import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyLine } from '@surveillance/shared';
import { CameraKeys } from '../packages/receiver/src/keys/camera-keys.ts';
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
