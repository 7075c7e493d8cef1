import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Container, needContainers } from './helpers/nspawn.ts';
import { cleanEnv, FIXTURES, freePort, RECEIVER_BIN, ROOT, SENDER_BIN, tempDir } from './helpers/receiver.ts';
import { storedFrames, waitFor } from './helpers/sender.ts';
import { needTools } from './helpers/tools.ts';

/**
 * surveillance-gallery.service under a real systemd 252 (helpers/nspawn.ts), installed by
 * `install-receiver-units.sh --gallery --mode listener` as an admin would: the password set with
 * `serve --set-password` into gallery.d/, a certificate made here with openssl as tls-cert and
 * tls-key, all three handed over by LoadCredential=. The host logs in over HTTPS (the container
 * shares the host's network). Frames come from a paired camera through the long-lived listener,
 * which also shows what its credential copy means for `camera add`: the hint, and a restart.
 */

const INSTALL = join(ROOT, 'scripts/install-receiver-units.sh');
const STORE = 'var/lib/surveillance';
const JPEG = join(FIXTURES, 'jpeg/cjpeg-baseline.jpg');
const PASSWORD = 'gallery-unit-pw-5c1e';

function send(port: number, key: string) {
  return spawnSync('node', [SENDER_BIN, 'send', '--to', `127.0.0.1:${port}`, '--timeout', '10s', '--key', key, JPEG], { env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
}

/** One HTTPS request from the host, trusting only the test's certificate. */
function https(port: number, path: string, options: { method?: string; body?: string; cookie?: string; ca: Buffer }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.cookie) headers.cookie = options.cookie;
    if (options.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers, ca: options.ca }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe.skipIf(!needTools('openssl', 'socat') || !needContainers())('gallery unit under systemd (credentials, HTTPS, login)', () => {
  let box: Container;
  const dir = tempDir('gallery-unit-');
  const ports = { receiver: 0, gallery: 0 };
  let cert: Buffer;

  beforeAll(async () => {
    ports.receiver = await freePort();
    ports.gallery = await freePort();
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir.path, 'key.pem'), '-out', join(dir.path, 'cert.pem')], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
    cert = readFileSync(join(dir.path, 'cert.pem'));
    box = await Container.boot({
      ownDirs: ['/usr/local'],
      prepare: (root) => {
        const r = spawnSync('bash', [INSTALL, '--root', root, '--mode', 'listener', '--port', String(ports.receiver), '--address', '127.0.0.1', '--gallery'], { env: cleanEnv(), encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`install failed: ${r.stderr}`);
        if (!/Gallery: surveillance-gallery\.service/.test(r.stdout)) throw new Error(`install did not mention the gallery:\n${r.stdout}`);
        // What the admin does next (README "Review from a phone or another computer").
        const gallery = join(root, 'etc/surveillance/gallery.d');
        const set = spawnSync('node', [RECEIVER_BIN, 'serve', '--set-password', '--password-file', join(gallery, 'password')], { env: cleanEnv(), input: `${PASSWORD}\n`, encoding: 'utf8' });
        if (set.status !== 0) throw new Error(`serve --set-password: ${set.stderr}`);
        writeFileSync(join(gallery, 'tls-cert'), cert, { mode: 0o600 });
        writeFileSync(join(gallery, 'tls-key'), readFileSync(join(dir.path, 'key.pem')), { mode: 0o600 });
        writeFileSync(join(root, 'etc/surveillance/gallery.env'), `SURVEILLANCE_LISTEN=127.0.0.1:${ports.gallery}\n`);
      },
    });
  }, 120_000);
  afterAll(async () => {
    if (process.env.SHOW_LOG) console.log((await box?.journal('-u', 'surveillance-gallery.service'))?.map((e) => e.message).join('\n'));
    await box?.stop();
    dir.remove();
  });

  it('starts at boot, over HTTPS with the credentials, the store read-only', async () => {
    const journal = async () => (await box.journal('-u', 'surveillance-gallery.service')).map((e) => e.message).join('\n');
    await waitFor(async () => /"msg":"listening"/.test(await journal()), 'the gallery listening');
    const listening = (await journal()).split('\n').find((l) => /"msg":"listening"/.test(l))!;
    expect(JSON.parse(listening)).toMatchObject({ login: true, https: true, token: false, url: `https://127.0.0.1:${ports.gallery}/` });
    expect((await box.systemctl('show', '-p', 'ActiveState', '-p', 'User', 'surveillance-gallery.service')).trim().split('\n').sort()).toEqual(['ActiveState=active', 'User=surveillance']);
    // The credentials folder stays root's, 0700.
    expect(statSync(box.path('etc/surveillance/gallery.d')).mode & 0o777).toBe(0o700);
    expect((await box.run(['stat', '-c', '%U', '/etc/surveillance/gallery.d/password'])).stdout.trim()).toBe('root');
  });

  it('camera add prints the listener hint; the running listener takes the new camera after a restart', async () => {
    const front = await box.run(['surveillance-receiver', 'camera', 'add', 'front']);
    expect(front.stderr).toMatch(/hint: surveillance-listener\.service loads this key folder as a credential.*systemctl restart surveillance-listener\.service/);
    writeFileSync(join(dir.path, 'front.key'), front.stdout, { mode: 0o600 });
    // The listener starts on this first connection, with a fresh copy of the keys.
    expect(send(ports.receiver, join(dir.path, 'front.key')).stdout).toMatch(/: OK front\//);
    const back = await box.run(['surveillance-receiver', 'camera', 'add', 'back']);
    writeFileSync(join(dir.path, 'back.key'), back.stdout, { mode: 0o600 });
    // Still running with the copy it started with (what the hint says) ...
    expect(send(ports.receiver, join(dir.path, 'back.key')).stdout).toMatch(/ERR auth/);
    // ... and after the restart the hint names, the new camera gets in.
    await box.systemctl('restart', 'surveillance-listener.service');
    expect(send(ports.receiver, join(dir.path, 'back.key')).stdout).toMatch(/: OK back\//);
  });

  it('a frame URL without a session is 401; the password set through the credential logs in over HTTPS', async () => {
    const [name] = storedFrames(box.path(join(STORE, 'front')));
    expect(name).toBeDefined();
    const frame = `/frames/front/${name}`;
    expect((await https(ports.gallery, frame, { ca: cert })).status).toBe(401);

    const wrong = await https(ports.gallery, '/login', { method: 'POST', body: 'password=not-the-password', ca: cert });
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const login = await https(ports.gallery, '/login', { method: 'POST', body: new URLSearchParams({ password: PASSWORD }).toString(), ca: cert });
    expect(login.status).toBe(303);
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).toMatch(/^surveillance_session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Secure/);
    const cookie = setCookie.split(';')[0]!;
    const got = await https(ports.gallery, frame, { cookie, ca: cert });
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('image/jpeg');
    const cameras = JSON.parse((await https(ports.gallery, '/api/cameras', { cookie, ca: cert })).body);
    expect(cameras.cameras).toEqual(['back', 'front']);
    // A thumbnail: made in the service's cache folder, the store being read-only to it.
    expect((await https(ports.gallery, `/thumbs/front/${name}`, { cookie, ca: cert })).status).toBe(200);
    expect(storedFrames(box.path('var/cache/surveillance-gallery')).length).toBe(1);
    expect(storedFrames(box.path(join(STORE, '.thumbs')))).toEqual([]);
  });
});
