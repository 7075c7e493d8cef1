import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader } from '@surveillance/shared';
import { frameName, loadNamePattern } from '../packages/receiver/src/store/frame-name.ts';
import { isLoopbackHost } from '../packages/receiver/src/gallery/access.ts';
import { exchange } from './helpers/client.ts';
import { GALLERY_SERIES, get, openEvents, serverDay, startGallery, type RunningGallery } from './helpers/gallery.ts';
import { cleanEnv, FIXTURES, freePort, RECEIVER_BIN, startReceiver, tempDir, type RunningReceiver } from './helpers/receiver.ts';
import { writeStore, type FixtureFrame } from './helpers/store-fixture.ts';
import { needTools } from './helpers/tools.ts';

const run = promisify(execFile);

describe('which addresses count as loopback (no token needed)', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.0.0.2', true],
    ['127.255.255.254', true],
    ['localhost', true],
    ['LOCALHOST', true],
    ['::1', true],
    ['[::1]', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.1.10', false],
    ['10.0.0.1', false],
    ['128.0.0.1', false],
    ['127.example.com', false],
    ['localhost.example.com', false],
    ['::ffff:192.168.1.1', false],
    ['', false],
  ])('%j -> %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });
});

describe('serve: options that stop it from starting', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  async function serve(args: string[], env: Record<string, string> = {}) {
    try {
      const { stdout, stderr } = await run('node', [RECEIVER_BIN, 'serve', ...args], { env: cleanEnv(env), timeout: 20_000 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  }

  it.each([
    [
      'an address other machines can reach, without a login',
      ['--store', '.', '--listen', '0.0.0.0:8080'],
      {},
      64,
      'surveillance-receiver: usage: --listen 0.0.0.0:8080 is reachable from other machines: set a login first (surveillance-receiver serve --set-password), or listen on 127.0.0.1\n',
    ],
    [
      'a LAN address with a token but plain HTTP',
      ['--store', '.', '--listen', '192.168.1.10:8080'],
      { SURVEILLANCE_TOKEN: 'correct-horse-battery' },
      64,
      'surveillance-receiver: usage: --listen 192.168.1.10:8080 is reachable from other machines: serve HTTPS (--tls-cert and --tls-key, or a reverse proxy on this machine in front of 127.0.0.1), or say --insecure-http\n',
    ],
    [
      'a token on the command line',
      ['--store', '.', '--token', 'correct-horse-battery'],
      {},
      64,
      'surveillance-receiver: usage: --token is not taken on the command line, where ps shows it to every user: put the token in a file (--token-file FILE, mode 600), a systemd credential (gallery-token) or $SURVEILLANCE_TOKEN\n',
    ],
    [
      'a short token from the environment',
      ['--store', '.', '--listen', '0.0.0.0:8080'],
      { SURVEILLANCE_TOKEN: 'abc' },
      64,
      'surveillance-receiver: usage: token in $SURVEILLANCE_TOKEN: too short (3 characters); use at least 12, e.g. $(openssl rand -hex 16)\n',
    ],
    ['no store', [], {}, 64, 'surveillance-receiver: usage: no store folder: pass --store DIR or set SURVEILLANCE_STORE\n'],
    [
      'a store that does not exist',
      ['--store', '/nonexistent/store'],
      {},
      66,
      'surveillance-receiver: not-found: store /nonexistent/store does not exist or is not a folder\n',
    ],
    [
      'a bad address',
      ['--store', '.', '--listen', 'localhost'],
      {},
      64,
      'surveillance-receiver: usage: option listen (from --listen): "localhost" is not valid: expected HOST:PORT, such as 127.0.0.1:4444 or [::1]:4444\n',
    ],
    [
      'thumb-jobs of 0',
      ['--store', '.', '--thumb-jobs', '0'],
      {},
      64,
      'surveillance-receiver: usage: option thumb-jobs (from --thumb-jobs): "0" is not valid: must be at least 1\n',
    ],
    ['an argument', ['--store', '.', 'extra'], {}, 64, 'surveillance-receiver: usage: unexpected argument "extra"; see --help\n'],
    [
      'a name pattern that cannot be read back',
      ['--store', '.', '--name-pattern', 'yyyy-MM-dd'],
      {},
      64,
      'surveillance-receiver: usage: option name-pattern: "yyyy-MM-dd" gives "2026-11-21", which cannot be read back to the millisecond (it needs year, month, day, hours, minutes, seconds and SSS)\n',
    ],
  ])('%s: exit %#', async (_what, args, env, code, stderr) => {
    const result = await serve(args.map((a) => (a === '.' ? dir.path : a)), env as Record<string, string>);
    expect(result.stderr).toBe(stderr);
    expect(result.code).toBe(code);
    expect(result.stdout).toBe('');
  });

  it('a port already in use: exit 69 (unavailable) naming it, said once, with a hint', async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    try {
      const result = await serve(['--store', dir.path, '--listen', `127.0.0.1:${port}`]);
      expect(result.stderr).toBe(
        `surveillance-receiver: unavailable: cannot listen on 127.0.0.1:${port}: the address is in use: another receiver or program listens there (see which: ss -ltnp 'sport = :${port}'), or choose another port\n`,
      );
      expect(result.code).toBe(69);
    } finally {
      blocker.close();
    }
  });

  it('--help names every option with its environment variable', async () => {
    const result = await serve(['--help']);
    expect(result.code).toBe(0);
    for (const name of ['--store', '--listen', '--token-file', '--set-password', '--tls-cert', '--insecure-http', '--thumb-jobs', 'SURVEILLANCE_TOKEN', 'default: 127.0.0.1:8080']) {
      expect(result.stdout).toContain(name);
    }
  });
});

describe('serve: HTTP API, files and caching', () => {
  const dir = tempDir();
  let frames: FixtureFrame[];
  let gallery: RunningGallery;
  const api = (path: string, headers?: Record<string, string>) => get(gallery.port, path, headers);

  beforeAll(async () => {
    frames = writeStore(dir.path, GALLERY_SERIES);
    gallery = await startGallery(dir.path);
  });
  afterAll(async () => {
    await gallery?.stop();
    dir.remove();
  });

  const ofDay = (camera: string, day: string) => frames.filter((f) => f.camera === camera && serverDay(f.time) === day);

  it('lists cameras (not .thumbs or .incoming) and says which time zone days are in', async () => {
    const r = await api('/api/cameras');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ timeZone: 'Europe/Berlin', cameras: ['front', 'garden'] });
  });

  it("lists a camera's days as local dates of the server's zone", async () => {
    const r = await api('/api/days?camera=garden');
    const expected = [...new Set(frames.filter((f) => f.camera === 'garden').map((f) => serverDay(f.time)))].sort();
    expect(r.json()).toEqual({ camera: 'garden', days: expected });
    expect(expected).toEqual(['2026-11-20', '2026-11-21']);
  });

  it('summarises a day: total, bounds at local midnight, 5-minute bars that add up', async () => {
    const r = (await api('/api/day?camera=front&day=2026-11-20')).json();
    expect(r).toMatchObject({ camera: 'front', day: '2026-11-20', from: '2026-11-19T23:00:00.000Z', to: '2026-11-20T23:00:00.000Z', total: 576, bucketMs: 300_000 });
    expect(r.buckets).toHaveLength(288);
    expect(r.buckets.reduce((a: number, b: number) => a + b, 0)).toBe(576);
    expect(r.buckets.every((b: number) => b === 2)).toBe(true);
  });

  it('pages through a day in time order, crossing the API page size', async () => {
    const expected = ofDay('front', '2026-11-21').map((f) => f.name);
    const names: string[] = [];
    for (let offset = 0; offset < expected.length; offset += 250) {
      const r = (await api(`/api/frames?camera=front&day=2026-11-21&offset=${offset}&limit=250`)).json();
      expect(r.total).toBe(expected.length);
      expect(r.offset).toBe(offset);
      names.push(...r.frames.map((f: { name: string }) => f.name));
    }
    expect(names).toEqual(expected);
    const first = (await api('/api/frames?camera=front&day=2026-11-21&limit=1')).json().frames[0];
    const f = ofDay('front', '2026-11-21')[0]!;
    expect(first).toEqual({ name: f.name, time: f.time.toISOString(), id: f.id });
  });

  it('finds the page starting at a time (at=)', async () => {
    const day = ofDay('front', '2026-11-21');
    const r = (await api(`/api/frames?camera=front&day=2026-11-21&at=${encodeURIComponent('2026-11-21T12:00:01Z')}&limit=2`)).json();
    const index = day.findIndex((f) => f.time.getTime() >= Date.parse('2026-11-21T12:00:01Z'));
    expect(r.offset).toBe(index);
    expect(r.frames.map((f: { name: string }) => f.name)).toEqual([day[index]!.name, day[index + 1]!.name]);
  });

  it.each([
    ['/api/days', 400, 'usage', 'camera is required'],
    ['/api/days?camera=.thumbs', 400, 'usage', 'camera name ".thumbs" must be 1-64 letters, digits'],
    ['/api/days?camera=..%2F..%2Fetc', 400, 'usage', 'camera name "../../etc" must be'],
    ['/api/days?camera=back', 404, 'not-found', 'no camera "back" in the store'],
    ['/api/day?camera=front', 400, 'usage', 'day is required (a local date, yyyy-MM-dd)'],
    ['/api/day?camera=front&day=2026-02-30', 400, 'usage', 'option day: "2026-02-30" is not valid: no such date'],
    ['/api/day?camera=front&day=..%2F..', 400, 'usage', 'expected a local date such as 2026-11-21'],
    ['/api/frames?camera=front&day=2026-11-21&offset=-1', 400, 'usage', 'offset must be a whole number from 0'],
    ['/api/frames?camera=front&day=2026-11-21&limit=5000', 400, 'usage', 'limit must be a whole number from 1 to 1000, not "5000"'],
    ['/api/frames?camera=front&day=2026-11-21&at=noon', 400, 'usage', 'at must be an ISO 8601 time, not "noon"'],
    ['/api/nothing', 404, 'not-found', 'nothing at /api/nothing'],
    ['/frames/..%2f..%2fetc%2fpasswd', 400, 'usage', 'not a frame name: "..%2f..%2fetc%2fpasswd"'],
    // URL parsing turns %2e%2e into .. and resolves it: nothing of the store is left.
    ['/frames/%2e%2e/%2e%2e/%2e%2e/etc/passwd', 404, 'not-found', 'nothing at /etc/passwd'],
    ['/frames/../../../etc/passwd', 404, 'not-found', 'nothing at /etc/passwd'],
    ['/frames//etc/passwd', 400, 'usage', 'not a frame name'],
    ['/frames/.incoming/4242-1-abc.part', 400, 'usage', 'not a frame name'],
    ['/thumbs/..%2f.incoming%2f4242-1-abc.part', 400, 'usage', 'not a frame name'],
    ['/frames/front/2026-11-21/notes.txt', 400, 'usage', 'not a frame name'],
    ['/frames/front/2026-11-21/20261121T120000.000Z_nosuch.jpg', 404, 'not-found', 'no file front/2026-11-21/20261121T120000.000Z_nosuch.jpg'],
    ['/thumbs/front/2026-11-21/20261121T120000.000Z_nosuch.jpg', 404, 'not-found', 'no frame front/2026-11-21/20261121T120000.000Z_nosuch.jpg'],
    // A name the receiver would write differently (no milliseconds) is not one of its names.
    ['/frames/front/2026-11-21/20261121T120000Z_x.jpg', 400, 'usage', 'not a frame name'],
    ['/frames/front/2026-11-21/20261121T120000.000Z_a%2Fb.jpg', 400, 'usage', 'not a frame name'],
  ])('GET %s -> %i %s', async (path, status, code, message) => {
    const r = await api(path);
    expect(r.status).toBe(status);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(r.json().error).toBe(code);
    expect(r.json().message).toContain(message);
  });

  it('refuses other methods with 405 and Allow', async () => {
    const r = await get(gallery.port, '/api/cameras', {}, 'POST');
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, HEAD');
    expect(r.json().error).toBe('usage');
  });

  it('without a token, answers only requests addressed to a loopback host (DNS rebinding)', async () => {
    const r = await api('/api/cameras', { host: 'evil.example:8080' });
    expect(r.status).toBe(403);
    expect(r.json()).toEqual({ error: 'forbidden', message: 'Host "evil.example:8080" is not this machine\'s loopback address' });
    expect((await api('/api/cameras', { host: `localhost:${gallery.port}` })).status).toBe(200);
  });

  it('serves a frame as stored, cacheable for ever, with ETag and Last-Modified', async () => {
    const f = frames[10]!;
    const r = await api(`/frames/${f.name}`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('image/jpeg');
    expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(r.headers.etag).toMatch(/^W\/"/);
    expect(new Date(r.headers['last-modified']!).getTime()).toBe(Math.floor(f.time.getTime() / 1000) * 1000);
    expect(r.body.equals(readFileSync(join(dir.path, f.name)))).toBe(true);
  });

  it('answers 304 to If-None-Match and If-Modified-Since, 206 to Range', async () => {
    const f = frames[11]!;
    const first = await api(`/frames/${f.name}`);
    const byTag = await api(`/frames/${f.name}`, { 'if-none-match': first.headers.etag! });
    expect(byTag.status).toBe(304);
    expect(byTag.body.length).toBe(0);
    const byDate = await api(`/frames/${f.name}`, { 'if-modified-since': first.headers['last-modified']! });
    expect(byDate.status).toBe(304);
    const part = await api(`/frames/${f.name}`, { range: 'bytes=0-99' });
    expect(part.status).toBe(206);
    expect(part.body.equals(first.body.subarray(0, 100))).toBe(true);
  });

  it('makes a thumbnail once, keeps it under .thumbs, and serves the same file after', async () => {
    const f = frames[20]!;
    const r = await api(`/thumbs/${f.name}`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('image/jpeg');
    expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const meta = await sharp(r.body).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 224, 168]);
    const onDisk = join(dir.path, '.thumbs', '224', f.name);
    expect(readFileSync(onDisk).equals(r.body)).toBe(true);
    const made = statSync(onDisk).mtimeMs;
    const again = await api(`/thumbs/${f.name}`);
    expect(again.headers.etag).toBe(r.headers.etag);
    expect(statSync(onDisk).mtimeMs).toBe(made);
    expect((await api(`/thumbs/${f.name}`, { 'if-none-match': r.headers.etag! })).status).toBe(304);
  });

  it('answers many requests for one new thumbnail with one file, whole every time', async () => {
    const f = frames[30]!;
    const replies = await Promise.all(Array.from({ length: 12 }, () => api(`/thumbs/${f.name}`)));
    expect(replies.map((r) => r.status)).toEqual(new Array(12).fill(200));
    for (const r of replies) expect(r.body.equals(replies[0]!.body)).toBe(true);
  });

  it('serves the page and its assets with validators, so reloads are 304', async () => {
    const page = await api('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body.toString()).toContain('<script type="module" src="/app.js"></script>');
    // requests.js inline, in place of its tag (index-page.ts), and the policy lets exactly that script run.
    const html = page.body.toString();
    expect(html).not.toContain('src="/requests.js"');
    const inline = [...html.matchAll(/<script>([^]*?)<\/script>/g)].map((m) => m[1]!);
    expect(inline).toHaveLength(1);
    expect(inline[0]).toContain("'/api/cameras'");
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const hash = createHash('sha256').update(inline[0]!, 'utf8').digest('base64');
    expect(/script-src ([^;]*)/.exec(csp)?.[1]).toBe(`'self' 'sha256-${hash}'`);
    expect((await api('/', { 'if-none-match': page.headers.etag! })).status).toBe(304);
    const js = await api('/app.js');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    // app.js imports it: the page does not work without it.
    expect(js.body.toString()).toContain("from './requests.js'");
    expect((await api('/requests.js')).headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await api('/style.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await api('/app.js', { 'if-none-match': js.headers.etag! })).status).toBe(304);
  });
});

describe('serve: the page with the answers its address needs', () => {
  const dir = tempDir();
  let gallery: RunningGallery;
  const api = (path: string) => get(gallery.port, path);
  /** The page's #answers, parsed; undefined when it has none. */
  const answersOf = (html: string) => {
    const m = /<script type="application\/json" id="answers">([^]*?)<\/script>/.exec(html);
    return m ? JSON.parse(m[1]!) : undefined;
  };

  beforeAll(async () => {
    writeStore(dir.path, GALLERY_SERIES);
    gallery = await startGallery(dir.path);
  });
  afterAll(async () => {
    await gallery?.stop();
    dir.remove();
  });

  it("has what the API answers for the Frames view's first screen, not to be cached", async () => {
    const page = await api('/?camera=front&day=2026-11-20&view=frames');
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers.etag).toBeUndefined();
    expect(answersOf(page.body.toString())).toEqual({
      camera: 'front',
      day: '2026-11-20',
      cameras: (await api('/api/cameras')).json(),
      summary: (await api('/api/day?camera=front&day=2026-11-20')).json(),
      frames: (await api('/api/frames?camera=front&day=2026-11-20&offset=0&limit=500')).json(),
    });
    // The same page and policy otherwise: the data block is not a script the policy must allow.
    const plain = await api('/');
    expect(page.headers['content-security-policy']).toBe(plain.headers['content-security-policy']);
    expect(page.body.toString().replace(/<script type="application\/json" id="answers">[^]*?<\/script>\n/, '')).toBe(plain.body.toString());
    expect(answersOf(plain.body.toString())).toBeUndefined();
  });

  it("has the day's events in the Events view, of the camera or of all", async () => {
    const one = answersOf((await api('/?camera=front&day=2026-11-20')).body.toString());
    expect(one.events).toEqual((await api('/api/events?day=2026-11-20&camera=front')).json());
    const all = answersOf((await api('/?camera=front&day=2026-11-20&all=1')).body.toString());
    expect(all.events).toEqual((await api('/api/events?day=2026-11-20')).json());
  });

  it('leaves out what the API would refuse, and has nothing for a link to an event', async () => {
    expect(answersOf((await api('/?camera=nobody&day=2026-11-20')).body.toString())).toEqual({
      camera: 'nobody',
      day: '2026-11-20',
      cameras: (await api('/api/cameras')).json(),
    });
    expect(Object.keys(answersOf((await api('/?camera=front&day=2026-13-45')).body.toString()))).toEqual(['camera', 'day', 'cameras']);
    expect(answersOf((await api('/?camera=front&day=2026-11-20&event=front-20261120T100000.000Z')).body.toString())).toBeUndefined();
  });

  it('cannot be made to end its data block early by what the address says', async () => {
    const html = (await api(`/?camera=${encodeURIComponent('</script><script>alert(1)</script>')}&day=2026-11-20`)).body.toString();
    expect(answersOf(html).camera).toBe('</script><script>alert(1)</script>');
    expect(html).not.toContain('<script>alert(1)');
  });
});

describe('serve with a token', () => {
  const dir = tempDir();
  const token = 'correct-horse-battery';
  let gallery: RunningGallery;
  const api = (path: string, headers?: Record<string, string>) => get(gallery.port, path, headers);

  beforeAll(async () => {
    writeStore(dir.path, GALLERY_SERIES.slice(1), { litter: false });
    gallery = await startGallery(dir.path, [], { SURVEILLANCE_TOKEN: token });
  });
  afterAll(async () => {
    await gallery?.stop();
    dir.remove();
  });

  it.each([
    ['no credentials', '/api/cameras', {}],
    ['a guessed session cookie', '/api/cameras', { cookie: 'surveillance_session=0123' }],
    ['a wrong bearer token', '/api/cameras', { authorization: 'Bearer correct-horse-batterx' }],
    ['the token as a cookie', '/api/cameras', { cookie: `surveillance_session=${token}` }],
    ['the token in the query (it would end up in logs and history)', `/api/cameras?token=${token}`, {}],
    ['a frame without credentials', '/frames/garden/2026-11-20/20261120T050000.500Z_f00000.jpg', {}],
    ['the event feed without credentials', '/api/feed', {}],
    ['events without credentials', '/api/events?day=2026-11-21', {}],
  ])('%s: 401 unauthorized', async (_what, path, headers) => {
    const r = await api(path, headers as Record<string, string>);
    expect(r.status).toBe(401);
    expect(r.json()).toEqual({ error: 'unauthorized', message: 'this gallery needs its token, sent as Authorization: Bearer TOKEN' });
  });

  it('a token without a password gives a browser no login page, only the 401', async () => {
    const r = await api('/', { accept: 'text/html,application/xhtml+xml' });
    expect(r.status).toBe(401);
    expect((await api('/login')).status).toBe(303);
  });

  it('accepts Authorization: Bearer for scripts, whatever the Host header', async () => {
    const r = await api('/api/days?camera=garden', { authorization: `Bearer ${token}`, host: 'camera-laptop.lan:8080' });
    expect(r.status).toBe(200);
  });
});

describe.skipIf(!needTools('systemd-socket-activate', 'socat'))('serve: frames that arrive while it runs', () => {
  const dir = tempDir();
  let gallery: RunningGallery;
  let receiver: RunningReceiver;
  let frames: FixtureFrame[];

  beforeAll(async () => {
    frames = writeStore(dir.path, GALLERY_SERIES);
    gallery = await startGallery(dir.path);
    receiver = await startReceiver('inetd', dir.path, ['--min-free', '0']);
  });
  afterAll(async () => {
    await receiver?.stop();
    await gallery?.stop();
    dir.remove();
  });

  it('reports a frame stored by the receiver on the event feed, and lists it', async () => {
    const events = await openEvents(gallery.port);
    expect(events.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    // Prime the day listing so the test also covers keeping a cached listing up to date.
    expect((await get(gallery.port, '/api/day?camera=front&day=2026-11-21')).json().total).toBe(576);
    const body = readFileSync(join(FIXTURES, 'jpeg', 'cjpeg-baseline.jpg'));
    const time = new Date('2026-11-21T22:59:59.999Z');
    const { reply } = await exchange(receiver.port, [encodeHeader({ camera: 'front', id: 'live-1', time, length: body.length }), body]);
    expect(reply).toMatch(/^OK live-1 /);
    const [frame] = await events.next('frames');
    expect(frame).toEqual({
      name: 'front/2026-11-21/20261121T225959.999Z_live-1.jpg',
      time: time.toISOString(),
      id: 'live-1',
      camera: 'front',
      day: '2026-11-21',
    });
    const day = (await get(gallery.port, '/api/day?camera=front&day=2026-11-21')).json();
    expect(day.total).toBe(577);
    const last = (await get(gallery.port, '/api/frames?camera=front&day=2026-11-21&offset=576')).json();
    expect(last.frames.map((f: { name: string }) => f.name)).toEqual([frame.name]);
    events.close();
  });

  it('reports a raw frame (tutorial style, socat) under a new camera and a new day folder', async () => {
    const events = await openEvents(gallery.port);
    const file = join(FIXTURES, 'jpeg', 'ffmpeg-baseline.jpg');
    await run('socat', ['-u', `OPEN:${file}`, `TCP:127.0.0.1:${receiver.port}`]);
    const [frame] = await events.next('frames');
    expect(frame.camera).toBe('127.0.0.1');
    expect((await get(gallery.port, '/api/cameras')).json().cameras).toEqual(['127.0.0.1', 'front', 'garden']);
    expect((await get(gallery.port, `/frames/${frame.name}`)).body.equals(readFileSync(file))).toBe(true);
    events.close();
  });

  it('reports frames that go away (pruned), and lists the day without them', async () => {
    const dayOf = async () => (await get(gallery.port, '/api/day?camera=garden&day=2026-11-20')).json().total as number;
    const before = await dayOf();
    const events = await openEvents(gallery.port);
    const victims = frames.filter((f) => f.camera === 'garden').slice(0, 3);
    expect((await get(gallery.port, `/thumbs/${victims[0]!.name}`)).status).toBe(200);
    const thumb = join(dir.path, '.thumbs', '224', victims[0]!.name);
    expect(statSync(thumb).isFile()).toBe(true);
    for (const f of victims) rmSync(join(dir.path, f.name));
    expect(await events.next('removed')).toEqual({ days: [{ camera: 'garden', day: '2026-11-20' }] });
    expect(await dayOf()).toBe(before - 3);
    expect((await get(gallery.port, `/frames/${victims[0]!.name}`)).status).toBe(404);
    // Its thumbnail went with it.
    expect(() => statSync(thumb)).toThrow(/ENOENT/);
    events.close();
  });

  it('closes open event streams and exits 0 on SIGTERM', async () => {
    const events = await openEvents(gallery.port);
    const ended = new Promise<void>((resolve) => events.response.once('end', resolve));
    const code = await gallery.stop();
    await ended;
    expect(code).toBe(0);
    expect(gallery.stderr()).toContain('"msg":"SIGTERM: closing"');
  });
});

describe.skipIf(!needTools('systemd-socket-activate'))('serve with a custom --name-pattern (folders per hour)', () => {
  const PATTERN = "yyyy/MM/dd/HH/mmss.SSS";
  const dir = tempDir();
  let gallery: RunningGallery;
  let receiver: RunningReceiver;
  let old: string;

  beforeAll(async () => {
    await loadNamePattern(PATTERN);
    old = frameName('porch', new Date('2026-11-20T10:15:30.250Z'), 'old-1', PATTERN);
    mkdirSync(dirname(join(dir.path, old)), { recursive: true });
    copyFileSync(join(FIXTURES, 'jpeg', 'cjpeg-baseline.jpg'), join(dir.path, old));
    gallery = await startGallery(dir.path, ['--name-pattern', PATTERN]);
    receiver = await startReceiver('inetd', dir.path, ['--name-pattern', PATTERN, '--min-free', '0']);
  });
  afterAll(async () => {
    await receiver?.stop();
    await gallery?.stop();
    dir.remove();
  });

  it('lists and serves frames stored under that pattern', async () => {
    expect(old).toBe('porch/2026/11/20/10/1530.250_old-1.jpg');
    expect((await get(gallery.port, '/api/days?camera=porch')).json().days).toEqual(['2026-11-20']);
    const page = (await get(gallery.port, '/api/frames?camera=porch&day=2026-11-20')).json();
    expect(page.frames.map((f: { name: string }) => f.name)).toEqual([old]);
    expect((await get(gallery.port, `/thumbs/${old}`)).status).toBe(200);
    // A default-pattern name is not a name of this store.
    expect((await get(gallery.port, '/frames/porch/2026-11-20/20261120T101530.250Z_old-1.jpg')).status).toBe(400);
  });

  it('sees a frame land in folders made after start-up, four levels below the camera', async () => {
    const events = await openEvents(gallery.port);
    const body = readFileSync(join(FIXTURES, 'jpeg', 'cjpeg-progressive.jpg'));
    const time = new Date('2026-11-22T08:09:10.011Z');
    const { reply } = await exchange(receiver.port, [encodeHeader({ camera: 'side-door', id: 'n1', time, length: body.length }), body]);
    expect(reply).toMatch(/^OK n1 /);
    const [frame] = await events.next('frames');
    expect(frame).toMatchObject({ name: 'side-door/2026/11/22/08/0910.011_n1.jpg', camera: 'side-door', day: '2026-11-22' });
    expect((await get(gallery.port, `/frames/${frame.name}`)).body.equals(body)).toBe(true);
    events.close();
  });
});

describe.skipIf(!needTools('unshare', 'mount') || process.getuid?.() !== 0)('a reviewer who may read the store but not write it', () => {
  it('gets thumbnails all the same, made in their own cache folder', async () => {
    const dir = tempDir('gallery-readonly-');
    try {
      const store = join(dir.path, 'store');
      const name = frameName('front', new Date('2026-11-21T05:53:00.123Z'), 'ro-1');
      mkdirSync(dirname(join(store, name)), { recursive: true });
      copyFileSync(join(FIXTURES, 'jpeg/ffmpeg-baseline.jpg'), join(store, name));
      const cache = join(dir.path, 'cache');
      // The store read-only for the gallery alone (its own mount namespace), as it is for a
      // person in the receiver's group: root would write through mere permissions.
      const readOnly = ['unshare', '--mount', 'sh', '-c', 'mount --bind -o ro "$0" "$0" && exec "$@"', store];
      const gallery = await startGallery(store, [], { XDG_CACHE_HOME: cache }, readOnly);
      try {
        const thumb = await get(gallery.port, `/thumbs/${name}`);
        expect(thumb.status).toBe(200);
        expect((await sharp(thumb.body).metadata()).format).toBe('jpeg');
        expect(existsSync(join(store, '.thumbs'))).toBe(false);
        expect(readdirSync(join(cache, 'surveillance/thumbs'))).toHaveLength(1);
        expect(gallery.stderr()).toContain('the store is not writable here: thumbnails go to the cache folder');
      } finally {
        await gallery.stop();
      }
    } finally {
      dir.remove();
    }
  });
});
