import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GALLERY_SERIES, get, launchChromium, serverDay, startGallery, type RunningGallery } from './helpers/gallery.ts';
import { cleanEnv, RECEIVER_BIN, tempDir } from './helpers/receiver.ts';
import { writeStore, type FixtureFrame } from './helpers/store-fixture.ts';
import { needTools } from './helpers/tools.ts';
import { LoginLimiter } from '../packages/receiver/src/gallery/access.ts';

const run = promisify(execFile);
const PASSWORD = 'correct horse battery staple';
const TOKEN = 'script-token-0123456789';

/** `serve --set-password` as a user scripts it: the password on stdin, never on argv. */
async function setPassword(file: string, password: string): Promise<void> {
  const child = execFile('node', [RECEIVER_BIN, 'serve', '--set-password', '--password-file', file], { env: cleanEnv() });
  child.stdin!.end(`${password}\n`);
  const code = await new Promise((r) => child.once('exit', r));
  expect(code).toBe(0);
}

describe.skipIf(!needTools('chromium', 'openssl'))('gallery login in a real browser', () => {
  const dir = tempDir();
  const store = join(dir.path, 'store');
  const passwordFile = join(dir.path, 'secret', 'gallery-password');
  const tokenFile = join(dir.path, 'token');
  let frames: FixtureFrame[];
  let plain: RunningGallery;
  let https: RunningGallery;
  let browser: Browser;
  let context: BrowserContext;
  const bearer = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    mkdirSync(store);
    frames = writeStore(store, GALLERY_SERIES.slice(1), { litter: false });
    await setPassword(passwordFile, PASSWORD);
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    // A self-signed certificate for 127.0.0.1, made here with openssl.
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir.path, 'key.pem'), '-out', join(dir.path, 'cert.pem')]);
    plain = await startGallery(store, ['--password-file', passwordFile, '--token-file', tokenFile]);
    https = await startGallery(store, ['--password-file', passwordFile, '--tls-cert', join(dir.path, 'cert.pem'), '--tls-key', join(dir.path, 'key.pem')]);
    browser = await launchChromium();
    context = await browser.newContext({ ignoreHTTPSErrors: true });
  });
  afterAll(async () => {
    await browser?.close();
    await plain?.stop();
    await https?.stop();
    dir.remove();
  });

  it('sends a browser to the login form; a wrong password is refused, the right one opens the gallery', async () => {
    const page = await context.newPage();
    await page.goto(plain.url);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('input[name=password]', 'not the password');
    await page.click('button');
    await page.waitForLoadState();
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(await page.textContent('#message')).toBe('wrong password');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button');
    await page.waitForURL(plain.url);
    await expect.poll(() => page.locator('#cameras button').allTextContents(), { timeout: 15_000 }).toEqual(['garden']);
    const [cookie] = await context.cookies(plain.url);
    expect(cookie).toMatchObject({ name: 'surveillance_session', httpOnly: true, sameSite: 'Strict', secure: false, path: '/' });
    expect(cookie!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // It expires a week from now, give or take the test's own run time: by the browser's clock,
    // which works it out from Max-Age (scripts/test-at-hours.sh moves only the server's).
    const browserNow = await page.evaluate(() => Date.now());
    expect(cookie!.expires * 1000 - browserNow).toBeGreaterThan(6.9 * 86_400_000);
    expect(cookie!.expires * 1000 - browserNow).toBeLessThan(7.1 * 86_400_000);
    // The browser's session reaches a frame; nothing else does.
    const frame = await page.request.get(`${plain.url}frames/${frames[0]!.name}`);
    expect(frame.status()).toBe(200);
    expect((await get(plain.port, `/frames/${frames[0]!.name}`)).status).toBe(401);
    expect((await get(plain.port, `/frames/${frames[0]!.name}`, { cookie: 'surveillance_session=guessed' })).status).toBe(401);

    await page.click('#logout');
    await page.waitForURL(/\/login$/);
    expect(await context.cookies(plain.url)).toEqual([]);
    // The old session id is dead on the server too, not only forgotten by the browser.
    const replay = await get(plain.port, `/frames/${frames[0]!.name}`, { cookie: `surveillance_session=${cookie!.value}` });
    expect(replay.status).toBe(401);
    await page.close();
  });

  it("keeps the page's address through the login form: a link (a notifier's) opens what it names", async () => {
    const own = await browser.newContext();
    const page = await own.newPage();
    const day = serverDay(frames.find((f) => f.camera === 'garden')!.time);
    await page.goto(`${plain.url}?camera=garden&day=${day}&view=frames&other=dropped`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('input[name=password]', 'not the password');
    await page.click('button');
    await page.waitForLoadState();
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button');
    await page.waitForURL(`${plain.url}?camera=garden&day=${day}&view=frames`);
    await expect.poll(() => page.getAttribute('.cell[data-index="0"]', 'data-name'), { timeout: 15_000 }).toBe(
      frames.filter((f) => f.camera === 'garden' && serverDay(f.time) === day)[0]!.name,
    );
    await own.close();
  });

  it('a frame URL without a session gets 401 JSON; a script gets in with its bearer token', async () => {
    const r = await get(plain.port, `/frames/${frames[1]!.name}`);
    expect(r.status).toBe(401);
    expect(r.json().error).toBe('unauthorized');
    expect((await get(plain.port, `/frames/${frames[1]!.name}`, bearer)).status).toBe(200);
    expect((await get(plain.port, '/api/cameras', { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await get(plain.port, `/frames/${frames[1]!.name}?token=${TOKEN}`)).status).toBe(401);
  });

  it('does not follow a symlink named like a frame, to a file outside the store or inside it', async () => {
    const real = frames[2]!;
    const folder = join(store, real.name, '..');
    const outside = join(dir.path, 'outside.jpg');
    writeFileSync(outside, 'not for you');
    const target = real.name.replace(/_[^_]+\.jpg$/, (m) => m.replace(/[0-9a-z]\.jpg$/, 'x.jpg'));
    symlinkSync(outside, join(store, target));
    const alias = target.replace('x.jpg', 'y.jpg');
    symlinkSync(join(store, real.name), join(store, alias));
    expect(folder).toBeTruthy();
    for (const name of [target, alias]) {
      const r = await get(plain.port, `/frames/${name}`, bearer);
      expect(r.status, name).toBe(404);
      expect((await get(plain.port, `/thumbs/${name}`, bearer)).status).toBe(404);
    }
  });

  it('rate-limits failed logins per address: 429 with Retry-After, and the right password waits too', async () => {
    const post = (password: string) =>
      fetch(`${plain.url}login`, { method: 'POST', body: new URLSearchParams({ password }), redirect: 'manual' });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(`guess ${i}`)).status);
    // The first test's wrong try was forgiven by its right one: five more, then the wait.
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const right = await post(PASSWORD);
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('over HTTPS (a certificate made with openssl) the session cookie is Secure', async () => {
    expect(https.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await context.newPage();
    await page.goto(https.url);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button');
    await page.waitForURL(https.url);
    await expect.poll(() => page.locator('#cameras button').allTextContents(), { timeout: 15_000 }).toEqual(['garden']);
    const [cookie] = await context.cookies(https.url);
    expect(cookie).toMatchObject({ name: 'surveillance_session', httpOnly: true, sameSite: 'Strict', secure: true });
    // The server speaks only TLS on that port: a plaintext request gets no gallery.
    const plainText = await get(https.port, '/api/cameras').catch((e: Error) => e);
    expect(plainText instanceof Error || plainText.status === 400).toBe(true);
    // And it presents the certificate the test made.
    const subject = await new Promise<string>((resolve, reject) => {
      httpsGet(`${https.url}api/cameras`, { rejectUnauthorized: false }, (res) => {
        resolve(String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject.CN));
        res.resume();
      }).on('error', reject);
    });
    expect(subject).toBe('127.0.0.1');
    await page.close();
  });
});

describe('serve: secrets never on the command line, and no open gallery beyond loopback', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());
  async function serve(args: string[], env: Record<string, string> = {}) {
    try {
      const { stdout, stderr } = await run('node', [RECEIVER_BIN, 'serve', '--store', dir.path, ...args], { env: cleanEnv(env), timeout: 20_000 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  }

  it.each([
    [['--token', 'abcdefghijklmnop'], {}, /--token is not taken on the command line, where ps shows it/],
    [['--token=abcdefghijklmnop'], {}, /--token is not taken on the command line/],
    [['--password', 'x'], {}, /never taken on the command line: .* --set-password asks/],
    [['--listen', '0.0.0.0:8080'], {}, /reachable from other machines: set a login first/],
    [['--listen', '0.0.0.0:8080'], { SURVEILLANCE_TOKEN: 'abcdefghijklmnop' }, /reachable from other machines: serve HTTPS .* or say --insecure-http/],
    [['--listen', '0.0.0.0:8080', '--tls-cert', '/nonexistent.pem'], { SURVEILLANCE_TOKEN: 'abcdefghijklmnop' }, /HTTPS needs both --tls-cert and --tls-key/],
    [[], { SURVEILLANCE_TOKEN: 'abc' }, /token in \$SURVEILLANCE_TOKEN: too short \(3 characters\)/],
    [['--password-file', '/nonexistent/pw'], {}, /not-found: password file \/nonexistent\/pw cannot be read: ENOENT/],
  ])('%j is refused', async (args, env, message) => {
    const r = await serve(args, env as Record<string, string>);
    expect(r.stderr).toMatch(message);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
  });
});

describe('the failed-login limiter, on an injected clock', () => {
  it('allows five failures per five minutes per address, then makes it wait for the oldest to age out', () => {
    const limiter = new LoginLimiter(5, 300_000, 3);
    for (let i = 0; i < 5; i++) {
      expect(limiter.waitMs('a', 1000 + i)).toBe(0);
      limiter.failed('a', 1000 + i);
    }
    expect(limiter.waitMs('a', 2000)).toBe(300_000 - 1000);
    expect(limiter.waitMs('b', 2000)).toBe(0);
    expect(limiter.waitMs('a', 301_000)).toBe(0);
    // Bounded: past three addresses the one that failed longest ago is forgotten.
    for (const address of ['b', 'c', 'd']) limiter.failed(address, 3000);
    expect(limiter.waitMs('a', 3000)).toBe(0);
  });
});
