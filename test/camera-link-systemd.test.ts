import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyLine } from '@surveillance/shared';
import { exchange } from './helpers/client.ts';
import { Container, needContainers } from './helpers/nspawn.ts';
import { cleanEnv, FIXTURES, freePort, ROOT, SENDER_BIN, tempDir } from './helpers/receiver.ts';
import { storedFrames, waitFor } from './helpers/sender.ts';
import { needTools } from './helpers/tools.ts';

/**
 * The paired default under a real systemd 252: the install script makes the key folder and
 * loads it with LoadCredential=camera-keys:..., `camera add` runs inside as the admin would, and
 * a sender on the host delivers over TLS with the printed key line.
 */

const INSTALL = join(ROOT, 'scripts/install-receiver-units.sh');
const STORE = 'var/lib/surveillance';
const JPEG = join(FIXTURES, 'jpeg/cjpeg-baseline.jpg');

function send(port: number, args: string[]) {
  return spawnSync('node', [SENDER_BIN, 'send', '--to', `127.0.0.1:${port}`, '--timeout', '10s', ...args], { env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
}

describe.skipIf(!needTools('socat') || !needContainers())('paired receiver units under systemd (LoadCredential=)', () => {
  let box: Container;
  const dir = tempDir();
  const ports = { inetd: 0 };
  let keyFile: string;

  beforeAll(async () => {
    ports.inetd = await freePort();
    box = await Container.boot({
      ownDirs: ['/usr/local'],
      prepare: (root) => {
        const r = spawnSync('bash', [INSTALL, '--root', root, '--port', String(ports.inetd), '--address', '127.0.0.1'], { env: cleanEnv(), encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`install failed: ${r.stderr}`);
      },
    });
  }, 120_000);
  afterAll(async () => {
    await box?.stop();
    dir.remove();
  });

  it('installs a private key folder, loaded as a credential', () => {
    const keys = box.path('etc/surveillance/camera-keys');
    expect(statSync(keys).mode & 0o777).toBe(0o700);
    expect(readFileSync(box.path('etc/systemd/system/surveillance@.service'), 'utf8')).toContain('LoadCredential=camera-keys:/etc/surveillance/camera-keys\n');
  });

  it('before any pairing, refuses everything (even the tutorial socat) with ERR - auth', async () => {
    const r = await exchange(ports.inetd, [readFileSync(JPEG)]);
    expect(r.reply).toMatch(/^ERR - auth this receiver takes frames only over TLS/);
    expect(storedFrames(box.path(STORE))).toEqual([]);
  });

  it('camera add inside; the sender on the host delivers over TLS with the key line', async () => {
    const added = await box.run(['surveillance-receiver', 'camera', 'add', 'front']);
    const key = parseKeyLine(added.stdout, 'stdout');
    expect(key.camera).toBe('front');
    expect(readdirSync(box.path('etc/surveillance/camera-keys'))).toEqual([`front.${key.keyId}.key`]);
    keyFile = join(dir.path, 'front.key');
    writeFileSync(keyFile, added.stdout, { mode: 0o600 });
    const r = send(ports.inetd, ['--key', keyFile, JPEG]);
    expect(r.stdout).toMatch(/: OK front\/\d{4}-\d{2}-\d{2}\//);
    expect(r.status).toBe(0);
    expect(storedFrames(box.path(join(STORE, 'front')))).toHaveLength(1);
    // The service (user surveillance, PrivateUsers=yes) noted the key it saw in its state.
    const seen = JSON.parse(readFileSync(box.path(join(STORE, '.cameras/front.json')), 'utf8'));
    expect(seen.keyId).toBe(key.keyId);
    const list = await box.run(['surveillance-receiver', 'camera', 'list']);
    expect(list.stdout).toMatch(new RegExp(`^front +${key.keyId} .*active, in use`, 'm'));
  });

  it('camera remove: the next connection with that key is refused at the handshake', async () => {
    await box.run(['surveillance-receiver', 'camera', 'remove', 'front']);
    const r = send(ports.inetd, ['--key', keyFile, JPEG]);
    expect(r.stdout).toMatch(/ERR auth .*TLS handshake failed/);
    expect(storedFrames(box.path(join(STORE, 'front')))).toHaveLength(1);
    await waitFor(async () => {
      const lines = await box.journal('-u', 'surveillance@*', '-p', 'warning');
      return lines.some((e) => e.message.includes('"code":"auth"') && e.message.includes('no key'));
    }, 'the refusal in the journal');
  });
});
