// Gallery (`surveillance-receiver serve`) on a day of 20,000 frames (1280x720 JPEGs):
// - the day-listing API, cold (first request after start: readdir and parse 20,000 names) and
//   warm (kept listing), against a static file of the same size served by `send`;
// - thumbnail generation rate over HTTP with an empty .thumbs cache, against serving the same
//   thumbnails once made, and against sharp alone in this process (same settings, same
//   concurrency): the server's own overhead;
// - time to the first screen of thumbnails in headless Chromium, cold (no thumbnails on disk)
//   and warm (on disk; fresh browser cache), against a static HTML page with the same number
//   of <img> elements pointing at the same thumbnail files.
// All in one run, so ratios compare like with like on a noisy machine.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request } from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

export const title = 'Gallery: a day of 20,000 frames (listing API, thumbnails, first screen in Chromium)';

const root = fileURLToPath(new URL('../..', import.meta.url));
// sharp and send resolve from the receiver package (send is its dependency, not the root's).
const receiverRequire = createRequire(join(root, 'packages/receiver/package.json'));
const FRAMES = Number(process.env.BENCH_GALLERY_FRAMES ?? 20_000);
const THUMBS = Number(process.env.BENCH_THUMBS ?? 240);
const ROUNDS = Number(process.env.BENCH_ROUNDS_GALLERY ?? 5);
/** First screens of the gallery and of the static page, loaded in turn: more, they vary most. */
const SCREEN_ROUNDS = Number(process.env.BENCH_ROUNDS_SCREEN ?? 4 * ROUNDS);
const CAMERA = 'cam';
const DAY = '2026-11-20';
/** A second day of as many frames: a cold listing on a server that has already served one. */
const DAY2 = '2026-11-21';
const JOBS = Math.min(4, availableParallelism() + 2);
/**
 * BENCH_GALLERY_BASE=DIR: another built checkout (an older commit) whose gallery's first screen
 * is loaded in the same rounds, interleaved, for an A/B in one run.
 */
const BASE = process.env.BENCH_GALLERY_BASE;
const binOf = (checkout) => ['cjs', 'js'].map((ext) => join(checkout, `packages/receiver/bin/surveillance-receiver.${ext}`)).find(existsSync);
// A controlled environment: the shells here add NODE_EXTRA_CA_CERTS (~50 ms per start).
const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: tmpdir(), LANG: 'C.UTF-8', TZ: 'UTC' };
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => performance.now();
const p = (n, w = 2) => String(n).padStart(w, '0');

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The receiver's default name for a frame (UTC), as frame-name.ts writes it. */
function frameName(time, id) {
  const d = new Date(time);
  const date = `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}`;
  const stamp = `${date.replaceAll('-', '')}T${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}Z`;
  return `${CAMERA}/${date}/${stamp}_${id}.jpg`;
}

/** 20,000 names over each of two UTC days, hard links to 40 distinct 1280x720 ffmpeg test pictures. */
function makeStore(dir) {
  const sources = join(dir, 'sources');
  mkdirSync(sources);
  execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=5', '-frames:v', '40', '-q:v', '4', join(sources, 'f%02d.jpg')]);
  const files = readdirSync(sources).map((f) => join(sources, f));
  const store = join(dir, 'store');
  const names = [];
  for (const day of [DAY, DAY2]) {
    mkdirSync(join(store, CAMERA, day), { recursive: true });
    const start = Date.parse(`${day}T00:00:00Z`);
    for (let i = 0; i < FRAMES; i++) {
      const name = frameName(start + Math.floor((i * 86_400_000) / FRAMES), `b${i}`);
      linkSync(files[i % files.length], join(store, name));
      if (day === DAY) names.push(name);
    }
  }
  return { store, names, bytes: readFileSync(files[0]).length };
}

async function startGallery(store, checkout = root) {
  const port = await freePort();
  const child = spawn('node', [binOf(checkout), 'serve', '--store', store, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  while (!out.includes('http://')) {
    if (child.exitCode !== null) throw new Error('gallery did not start');
    await new Promise((r) => setTimeout(r, 10));
  }
  return { port, child, stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) };
}

/** A plain static server (send, as the gallery uses) for baselines. */
async function startStatic(folder) {
  const send = receiverRequire('send');
  const server = createHttpServer((req, res) => send(req, req.url, { root: folder }).pipe(res));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, stop: () => new Promise((r) => server.close(r)) };
}

/** Milliseconds for one GET with a fresh connection, body read; throws unless 200. */
function timedGet(port, path) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => (res.statusCode === 200 ? resolve({ ms: now() - t0, bytes }) : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs `task(i)` for i < n with `concurrency` in flight; returns seconds. */
async function pool(n, concurrency, task) {
  let next = 0;
  const t0 = now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await task(next++);
  }));
  return (now() - t0) / 1000;
}

/** ms from navigation start until every thumbnail on screen has loaded, in a fresh context. */
async function firstScreen(browser, url, selector) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(
    (sel) => {
      const imgs = [...document.querySelectorAll(sel)];
      return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
    },
    selector,
    { timeout: 120_000, polling: 'raf' },
  );
  const result = await page.evaluate((sel) => ({ ms: performance.now(), images: document.querySelectorAll(sel).length }), selector);
  await context.close();
  return result;
}


export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-gallery-'));
  const stops = [];
  try {
    const t0 = now();
    const { store, names, bytes } = makeStore(dir);
    const setup = `Store: one camera, two days of ${FRAMES.toLocaleString('en')} frames (1280x720, ${(bytes / 1024).toFixed(0)} KiB), made in ${((now() - t0) / 1000).toFixed(1)} s. Thumbnail jobs: ${JOBS}.`;

    // ---------------------------------------------------------------- listing API
    const dayPath = `/api/day?camera=${CAMERA}&day=${DAY}`;
    const pagePath = `/api/frames?camera=${CAMERA}&day=${DAY}&offset=10000&limit=500`;
    const cold = [];
    const coldOther = [];
    for (let i = 0; i < ROUNDS; i++) {
      const g = await startGallery(store);
      cold.push((await timedGet(g.port, dayPath)).ms);
      coldOther.push((await timedGet(g.port, `/api/day?camera=${CAMERA}&day=${DAY2}`)).ms);
      await g.stop();
    }
    const gallery = await startGallery(store);
    stops.push(gallery.stop);
    const warmDay = [];
    const warmPage = [];
    let pageBytes = 0;
    let dayBytes = 0;
    for (let i = 0; i < ROUNDS * 4; i++) {
      const d = await timedGet(gallery.port, dayPath);
      const pg = await timedGet(gallery.port, pagePath);
      warmDay.push(d.ms);
      warmPage.push(pg.ms);
      dayBytes = d.bytes;
      pageBytes = pg.bytes;
    }
    const statics = join(dir, 'static');
    mkdirSync(statics);
    writeFileSync(join(statics, 'day.json'), 'x'.repeat(dayBytes));
    writeFileSync(join(statics, 'page.json'), 'x'.repeat(pageBytes));
    const plain = await startStatic(statics);
    stops.push(plain.stop);
    const staticDay = [];
    const staticPage = [];
    for (let i = 0; i < ROUNDS * 4; i++) {
      staticDay.push((await timedGet(plain.port, '/day.json')).ms);
      staticPage.push((await timedGet(plain.port, '/page.json')).ms);
    }
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gallery.child.pid}/status`, 'utf8'))[1]) / 1024;
    const listing = {
      caption: 'Listing API (median ms, one request on a new connection)',
      columns: ['request', 'gallery ms', 'static file of the same size (send) ms', 'ratio'],
      align: ['l', 'r', 'r', 'r'],
      rows: [
        [`day summary, first request after start (lists ${FRAMES.toLocaleString('en')} names)`, median(cold).toFixed(1), median(staticDay).toFixed(1), `${(median(cold) / median(staticDay)).toFixed(1)}x`],
        ['day summary, another day not listed yet', median(coldOther).toFixed(1), median(staticDay).toFixed(1), `${(median(coldOther) / median(staticDay)).toFixed(1)}x`],
        [`day summary, warm (${(dayBytes / 1024).toFixed(1)} KiB JSON)`, median(warmDay).toFixed(1), median(staticDay).toFixed(1), `${(median(warmDay) / median(staticDay)).toFixed(1)}x`],
        [`page of 500 frames at offset 10,000 (${(pageBytes / 1024).toFixed(1)} KiB JSON)`, median(warmPage).toFixed(1), median(staticPage).toFixed(1), `${(median(warmPage) / median(staticPage)).toFixed(1)}x`],
      ],
    };

    // ---------------------------------------------------------------- thumbnail generation
    const picks = Array.from({ length: THUMBS }, (_, i) => names[Math.floor((i * names.length) / THUMBS) + 1]);
    const coldS = await pool(picks.length, 8, (i) => timedGet(gallery.port, `/thumbs/${picks[i]}`));
    const warmS = await pool(picks.length, 8, (i) => timedGet(gallery.port, `/thumbs/${picks[i]}`));
    const sharp = receiverRequire('sharp');
    sharp.cache(false);
    const direct = join(dir, 'direct');
    mkdirSync(direct);
    const directS = await pool(picks.length, JOBS, (i) =>
      sharp(join(store, picks[(i + 7) % picks.length]), { failOn: 'none' })
        .rotate()
        .resize({ width: 224, height: 168, fit: 'inside', withoutEnlargement: true })
        .jpeg({ quality: 72 })
        .toFile(join(direct, `${i}.jpg`)),
    );
    const thumbnails = {
      caption: `Thumbnails (${THUMBS} distinct frames, 8 clients at once)`,
      columns: ['what', 'thumbnails/s', 'ratio to generation over HTTP'],
      align: ['l', 'r', 'r'],
      rows: [
        ['made on first request (cold .thumbs), over HTTP', (THUMBS / coldS).toFixed(0), '1.00x'],
        [`sharp alone in one process, ${JOBS} at once, no HTTP`, (THUMBS / directS).toFixed(0), `${(coldS / directS).toFixed(2)}x`],
        ['served once made (warm .thumbs), over HTTP', (THUMBS / warmS).toFixed(0), `${(coldS / warmS).toFixed(1)}x`],
      ],
    };

    // ---------------------------------------------------------------- first screen in Chromium
    const { chromium } = createRequire(join(root, 'package.json'))('playwright-core');
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    stops.push(() => browser.close());
    // The Frames view: the Events view (the default) shows one card per event, not the grid.
    const url = `http://127.0.0.1:${gallery.port}/?camera=${CAMERA}&day=${DAY}&view=frames`;
    const coldLoad = async () => {
      rmSync(join(store, '.thumbs'), { recursive: true, force: true });
      return firstScreen(browser, url, '.cell img');
    };
    // The first cold load makes the thumbnails that the baseline copies.
    const firstCold = await coldLoad();
    const { images } = firstCold;
    const coldGrid = [firstCold.ms];
    // Baseline: the same number of the same thumbnail files on a static page.
    const thumbDir = join(store, '.thumbs', '224', CAMERA, DAY);
    const made = readdirSync(thumbDir).slice(0, images);
    const page = join(dir, 'page');
    mkdirSync(page);
    made.forEach((f, i) => copyFileSync(join(thumbDir, f), join(page, `t${i}.jpg`)));
    writeFileSync(
      join(page, 'index.html'),
      `<!doctype html><meta charset="utf-8"><body style="background:#111">${made.map((_, i) => `<img src="t${i}.jpg" width="224" height="126">`).join('')}`,
    );
    const pageServer = await startStatic(page);
    stops.push(pageServer.stop);
    const staticUrl = `http://127.0.0.1:${pageServer.port}/index.html`;
    const warmGrid = [];
    const staticGrid = [];
    const baseGrid = [];
    const base = BASE && (await startGallery(store, BASE));
    if (base) stops.push(base.stop);
    // Its day listed, as this checkout's gallery has by now.
    if (base) await timedGet(base.port, dayPath);
    // Before its answers came with the page (c0259ed) the gallery read its address after the #
    // only; since, the query first: one address for either.
    const baseUrl = base && `http://127.0.0.1:${base.port}/?camera=${CAMERA}&day=${DAY}&view=frames#camera=${CAMERA}&day=${DAY}&view=frames`;
    // Interleaved, each first in turn: a machine busy with something else for a
    // while (it is shared) slows both alike, and the ratio of medians compares like with like.
    for (let i = 0; i < SCREEN_ROUNDS; i++) {
      const pair = [async () => warmGrid.push((await firstScreen(browser, url, '.cell img')).ms), async () => staticGrid.push((await firstScreen(browser, staticUrl, 'img')).ms)];
      if (base) pair.push(async () => baseGrid.push((await firstScreen(browser, baseUrl, '.cell img')).ms));
      for (const load of [...pair.slice(i % pair.length), ...pair.slice(0, i % pair.length)]) await load();
      if (coldGrid.length < ROUNDS) coldGrid.push((await coldLoad()).ms);
    }
    const warm = median(warmGrid) / median(staticGrid);
    const coldRatio = median(coldGrid) / median(staticGrid);
    return {
      setup,
      commands: ['surveillance-receiver serve --store DIR --listen 127.0.0.1:PORT', 'GET /api/day?camera=cam&day=DAY, GET /thumbs/..., Chromium (playwright-core) on the gallery page', 'baseline: the same bytes as static files served by `send`'],
      tables: [
        listing,
        thumbnails,
        {
          caption: `First screen of thumbnails in headless Chromium (1280x800, ${images} thumbnails on screen; medians of ${SCREEN_ROUNDS} warm and static loads, interleaved, and ${ROUNDS} cold)`,
          columns: ['page', 'ms from navigation to all thumbnails shown', 'ratio to static page'],
          align: ['l', 'r', 'r'],
          rows: [
            ['static HTML page, same thumbnail files (baseline)', median(staticGrid).toFixed(0), '1.00x'],
            ['gallery, thumbnails on disk (warm)', median(warmGrid).toFixed(0), `${warm.toFixed(2)}x`],
            ['gallery, no thumbnails yet (cold: made on request)', median(coldGrid).toFixed(0), `${coldRatio.toFixed(2)}x`],
            ...(base ? [[`gallery of ${BASE} (BENCH_GALLERY_BASE), warm`, median(baseGrid).toFixed(0), `${(median(baseGrid) / median(staticGrid)).toFixed(2)}x`]] : []),
          ],
        },
      ],
      notes: [
        `Server memory with the day listed: ${rss.toFixed(0)} MiB RSS.`,
        'The day listing is kept by the server, so the first-screen rows include its API requests but not the cold listing above.',
      ],
      targets: [
        { what: `gallery: first screen of ${images} thumbnails in Chromium (on disk), ratio to a static page of the same files`, result: `${warm.toFixed(2)}x (${median(warmGrid).toFixed(0)} ms; cold ${coldRatio.toFixed(2)}x)`, target: 'at most 1.5x', met: warm <= 1.5 },
      ],
      summary: [
        { what: `gallery: day summary of ${FRAMES.toLocaleString('en')} frames, first request / warm, ratio to a static file of the same size`, result: `${(median(cold) / median(staticDay)).toFixed(1)}x / ${(median(warmDay) / median(staticDay)).toFixed(1)}x (${median(cold).toFixed(0)} ms / ${median(warmDay).toFixed(1)} ms)` },
        { what: 'gallery: thumbnails made / served', result: `${(THUMBS / coldS).toFixed(0)}/s / ${(THUMBS / warmS).toFixed(0)}/s` },
      ],
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
