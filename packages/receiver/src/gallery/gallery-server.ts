import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { checkCameraName, isSurveillanceError, SurveillanceError, type ErrorCode, type Logger } from '@surveillance/shared';
import send from 'send';
import { eventWithFrames } from '../store/event-query.ts';
import { eventJson, parseEventId } from '../store/events.ts';
import { localDate } from '../store/local-date.ts';
import type { FrameData, FrameEntry, FrameIndex, StoreChanges } from '../store/store.ts';
import { localDay } from '../review/time-range.ts';
import { Access, LOGIN_PAGE_CSP, loginPage, type AccessOptions, type Verdict } from './access.ts';
import { BUCKET_MS, bucketsOf, DayIndex, indexAt, type DayListing } from './day-index.ts';
import { EventFeed } from './event-feed.ts';
import { eventMessage, LiveEvents } from './live-events.ts';
import { indexPage, pageQuery, withAnswers, type IndexPage } from './index-page.ts';
import { PAGE_FILES, pageFolder } from './page-assets.ts';
import { PixelLimit } from './pixel-limit.ts';
import { ThumbnailCache } from './thumbnails.ts';

export interface GalleryOptions {
  store: FrameIndex;
  /** A login (password hash) and/or a token for scripts; required by the caller beyond loopback. */
  access: Omit<AccessOptions, 'secure'>;
  /** HTTPS with this certificate and key (PEM); plain HTTP without. */
  tls?: { cert: Buffer; key: Buffer };
  thumbJobs: number;
  /** Quiet that ends an event (--event-gap, as for `events` and `notify`). */
  gapMs: number;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** What time it is, to tell an open event from one that is over. */
  now?: () => Date;
}

/** Frames and thumbnails never change under their name (the frame id is part of it). */
const IMMUTABLE_MAX_AGE = '365d';
const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';
const DEFAULT_PAGE = 200;
const MAX_PAGE = 1000;

/** The page's policy; its scripts are its own files and, on the page itself, the inline one of that hash. */
const pageCsp = (scriptSources = '') =>
  `default-src 'self';${scriptSources && ` script-src 'self' ${scriptSources};`} img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': pageCsp(),
};

/**
 * An error answered with an HTTP status. Codes are the project's own (ErrorCode: `usage` for
 * a bad request, `not-found`, `internal`), as on the wire and in exit statuses; the access
 * check's `unauthorized` and `forbidden` until the `auth` code arrives.
 */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | Extract<Verdict, { ok: false }>['code'],
    message: string,
  ) {
    super(message);
  }
}

/** send's validator for a file: weak, size and modification time in hex. */
function etagOf(data: FrameData): string {
  return `W/"${data.size.toString(16)}-${data.time.getTime().toString(16)}"`;
}

/** If-None-Match names `etag` (in a list, or *). */
function tagMatches(tags: string, etag: string): boolean {
  return tags.trim() === '*' || tags.split(',').some((t) => t.trim() === etag);
}

/** If-None-Match or, without it, If-Modified-Since: the client's copy is current. */
function isFresh(req: IncomingMessage, etag: string, time: Date): boolean {
  const tags = req.headers['if-none-match'];
  if (tags !== undefined) return tagMatches(tags, etag);
  const since = Date.parse(req.headers['if-modified-since'] ?? '');
  return !Number.isNaN(since) && Math.floor(time.getTime() / 1000) * 1000 <= since;
}

/** One `bytes=A-B` range within `size`; undefined for no (or an unsupported) range, 'unsatisfiable' past the end. */
function byteRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
  const end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start > end || start >= size ? 'unsatisfiable' : { start, end };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { location, 'cache-control': 'no-store' });
  res.end();
}

/** An application/x-www-form-urlencoded body of at most `limit` bytes. */
function readForm(req: IncomingMessage, limit: number): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      reject(new HttpError(415, 'usage', 'expected a form (application/x-www-form-urlencoded)'));
      req.resume();
      return;
    }
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(413, 'too-large', `form larger than ${limit} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function frameJson(f: FrameEntry): { name: string; time: string; id: string } {
  return { name: f.name, time: f.time.toISOString(), id: f.id };
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const text = url.searchParams.get(name);
  if (text === null) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new HttpError(400, 'usage', `${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`);
  return n;
}

/**
 * The gallery's HTTP side: the page, a JSON API over the store's FrameIndex, frames read
 * through the index (ETag, Last-Modified, conditional requests, a single Range), thumbnails
 * and page files as files (through `send`), and a feed of frames as they arrive.
 *
 *   GET /                     the page, requests.js inline (also /app.js, /requests.js, /style.css);
 *                             GET /?camera=C&day=D[&view=frames][&all=1] (its address) has the
 *                             answers its first screen asks for in it (firstAnswers)
 *   GET /api/cameras          {timeZone, cameras: [name]}
 *   GET /api/days?camera=C    {camera, days: [yyyy-MM-dd]} (local dates)
 *   GET /api/day?camera=C&day=D          {total, from, to, bucketMs, buckets} of that local day
 *   GET /api/frames?camera=C&day=D&offset=N&limit=N   a page of frames, oldest first
 *   GET /api/frames?camera=C&day=D&at=ISO&limit=N     the page starting at that time
 *   GET /api/events?day=D[&camera=C]    {camera, day, from, to, gapMs, events: [event]} that start
 *                             on that local day, oldest first, of one camera or of all; an event
 *                             is {id, camera, start, last, end (null while open), open, frames,
 *                             cover (a frame name), score?}
 *   GET /api/event?id=ID      {event, frames: [{name, time, id}]}: its frames, first to last,
 *                             heartbeats left out (what playing it steps through)
 *   GET /api/feed             server-sent events: `frames` (new frames: name, time, id, camera,
 *                             day), `removed` ({days: [{camera, day}]} that lost frames), `event`
 *                             (an event with `change`: start, grow or end, and its local `day`)
 *   GET /frames/NAME, /thumbs/NAME       NAME as in the store: CAMERA/2026-11-21/...jpg
 *   GET /login, POST /login (form: password), POST /logout    with a password set
 *
 * Errors are JSON: {error: code, message}, with 400, 401, 403, 404, 405, 413, 415 or 500; 422
 * for a frame whose header claims more pixels than the limit (pixel-limit.ts: neither its
 * thumbnail nor the frame is served); 503 when the event streams are at their cap
 * (event-feed.ts). A refused login is the login page again, with 401, or 429 and Retry-After
 * when the address failed too often.
 */
export class GalleryServer {
  readonly thumbs: ThumbnailCache;
  private readonly server: Server;
  private readonly access: Access;
  private readonly index: DayIndex;
  private readonly feed = new EventFeed();
  private readonly pixels = new PixelLimit();
  private watch: StoreChanges | undefined;
  private readonly live: LiveEvents;
  private readonly now: () => Date;
  private readonly page = pageFolder();
  /** Made once: the files do not change while the server runs (as send's validators assume too). */
  private readonly indexPage: IndexPage = indexPage(readFileSync(join(this.page, 'index.html'), 'utf8'), readFileSync(join(this.page, 'requests.js'), 'utf8'));
  private readonly log: Logger;
  /** Days and times are in the server's zone; the page is told which one. */
  private readonly timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  constructor(private readonly options: GalleryOptions) {
    this.log = options.log;
    this.access = new Access({ ...options.access, secure: options.tls !== undefined });
    this.index = new DayIndex(options.store);
    this.thumbs = new ThumbnailCache(options.store, options.thumbJobs, options.log, options.env);
    this.now = options.now ?? (() => new Date());
    this.live = new LiveEvents({
      store: options.store,
      gapMs: options.gapMs,
      now: this.now,
      emit: (change, event) => this.feed.send('event', eventMessage(change, event)),
      onError: (e) => this.log.warn({ err: e.message }, 'cannot follow events'),
    });
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((e: unknown) => this.fail(res, e));
    };
    this.server = options.tls
      ? createHttpsServer({ keepAliveTimeout: 10_000, cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' }, handler)
      : createServer({ keepAliveTimeout: 10_000 }, handler);
  }

  /** Starts watching the store, then listens; resolves to the address to open. */
  async listen(host: string, port: number): Promise<string> {
    const watch = await this.options.store.watch();
    this.watch = watch;
    watch.on('added', (frames) => {
      const added = this.index.add(frames).map((f) => ({ ...frameJson(f), camera: f.camera, day: f.day }));
      this.feed.send('frames', added);
      this.live.added(frames);
    });
    watch.on('removed', (frames) => {
      this.thumbs.forget(frames.map((f) => f.name));
      const days = new Map(this.index.remove(frames).map((f) => [`${f.camera}/${f.day}`, { camera: f.camera, day: f.day }]));
      this.feed.send('removed', { days: [...days.values()] });
    });
    watch.on('error', (e) => this.log.warn({ err: e.message }, 'store watcher'));
    await this.live.start();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as { address: string; port: number };
    const shown = address.address.includes(':') ? `[${address.address}]` : address.address;
    this.log.info({ store: this.options.store.location, timeZone: this.timeZone }, 'watching the store');
    return `${this.options.tls ? 'https' : 'http'}://${shown}:${address.port}/`;
  }

  /** Ends the event streams, stops watching, and closes every connection. */
  async close(): Promise<void> {
    this.feed.close();
    await this.watch?.close();
    await this.live.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (!req.url?.startsWith('/')) throw new HttpError(400, 'usage', 'the request target must be a path');
    const url = new URL(`http://gallery.invalid${req.url}`);
    if (url.pathname === '/login' || url.pathname === '/logout') return this.loginRoutes(req, res, url);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      throw new HttpError(405, 'usage', `${req.method} is not supported: the gallery only shows frames`);
    }
    const verdict = this.access.check(req);
    if (!verdict.ok) {
      // A browser navigating to a page is sent to the login form; everything else gets JSON.
      if (verdict.status === 401 && this.access.hasLogin && req.headers.accept?.includes('text/html')) {
        return redirect(res, `/login${url.pathname === '/' ? pageQuery(url.searchParams) : ''}`);
      }
      throw new HttpError(verdict.status, verdict.code, verdict.message);
    }

    const path = url.pathname;
    if (path === '/') return this.sendIndex(req, res, url);
    const pageFile = PAGE_FILES[path];
    if (pageFile) return this.sendFile(req, res, pageFile, this.page, false);
    if (path.startsWith('/frames/')) return this.frame(req, res, path.slice('/frames/'.length));
    if (path.startsWith('/thumbs/')) return this.thumb(req, res, path.slice('/thumbs/'.length));
    switch (path) {
      case '/api/cameras':
        return json(res, 200, { timeZone: this.timeZone, cameras: await this.index.cameras() });
      case '/api/days': {
        const camera = await this.camera(url);
        return json(res, 200, { camera, days: await this.index.daysOf(camera) });
      }
      case '/api/day':
        return json(res, 200, this.daySummary(await this.day(url)));
      case '/api/frames':
        return json(res, 200, this.framePage(await this.day(url), url));
      case '/api/events':
        return json(res, 200, await this.dayEvents(url));
      case '/api/event':
        return json(res, 200, await this.event(url));
      case '/api/feed': {
        const refusal = this.feed.refusal(req);
        if (refusal) {
          res.setHeader('retry-after', '30');
          throw new HttpError(503, 'too-large', refusal);
        }
        return this.feed.attach(req, res);
      }
    }
    throw new HttpError(404, 'not-found', `nothing at ${path}`);
  }

  private async camera(url: URL): Promise<string> {
    const camera = url.searchParams.get('camera');
    if (camera === null) throw new HttpError(400, 'usage', 'camera is required');
    return this.knownCamera(camera);
  }

  private async knownCamera(camera: string): Promise<string> {
    const problem = checkCameraName(camera);
    if (problem) throw new HttpError(400, 'usage', problem);
    if (!(await this.index.cameras()).includes(camera)) throw new HttpError(404, 'not-found', `no camera ${JSON.stringify(camera)} in the store`);
    return camera;
  }

  private async day(url: URL): Promise<DayListing> {
    const camera = await this.camera(url);
    const day = url.searchParams.get('day');
    if (day === null) throw new HttpError(400, 'usage', 'day is required (a local date, yyyy-MM-dd)');
    try {
      return await this.index.listing(camera, day);
    } catch (e) {
      if (isSurveillanceError(e, 'usage')) throw new HttpError(400, 'usage', e.message);
      throw e;
    }
  }

  /** The events that start on a local day, of one camera or of all. */
  private async dayEvents(url: URL): Promise<object> {
    const camera = url.searchParams.has('camera') ? await this.camera(url) : undefined;
    const dayText = url.searchParams.get('day');
    if (dayText === null) throw new HttpError(400, 'usage', 'day is required (a local date, yyyy-MM-dd)');
    let range: { from: Date; to: Date };
    try {
      range = localDay(dayText, 'day');
    } catch (e) {
      if (isSurveillanceError(e, 'usage')) throw new HttpError(400, 'usage', e.message);
      throw e;
    }
    const { gapMs } = this.options;
    const events = await this.options.store.events({ camera, ...range, gapMs, now: this.now() });
    return { camera: camera ?? null, day: localDate(range.from), from: range.from.toISOString(), to: range.to.toISOString(), gapMs, events: events.map(eventJson) };
  }

  /** One event with its frames, for playing it. */
  private async event(url: URL): Promise<object> {
    const id = url.searchParams.get('id');
    if (id === null) throw new HttpError(400, 'usage', 'id is required (an event id, as /api/events lists it)');
    const parsed = parseEventId(id);
    if (!parsed) throw new HttpError(400, 'usage', `not an event id: ${JSON.stringify(id.slice(0, 200))} (CAMERA-yyyyMMddTHHmmss.SSSZ)`);
    await this.knownCamera(parsed.camera);
    const found = await eventWithFrames(this.options.store, id, parsed, this.options.gapMs, this.now());
    if (!found) throw new HttpError(404, 'not-found', `no event ${id} (pruned, or grouped with another --event-gap than ${this.options.gapMs / 1000} s?)`);
    return { event: eventJson(found.event), frames: found.frames.map(frameJson) };
  }

  /**
   * What requests.js asks for first, for the camera and day of the page's address: the
   * cameras, the day's summary and first page, and its events in the Events view. A part the
   * API would refuse (no such camera, not a date) or cannot answer (the store) is left out:
   * the page asks for it, and shows the answer as it does any other. A link to an event
   * (?event=) has none: its day is known only once the event is.
   */
  private async firstAnswers(wanted: URLSearchParams): Promise<object | undefined> {
    const camera = wanted.get('camera');
    const day = wanted.get('day');
    if (camera === null || day === null || wanted.has('event')) return undefined;
    const answers: Record<string, unknown> = { camera, day };
    try {
      answers.cameras = { timeZone: this.timeZone, cameras: await this.index.cameras() };
      const ofDay = new URL(`http://gallery.invalid/?${new URLSearchParams({ camera, day })}`);
      const listing = await this.day(ofDay);
      answers.summary = this.daySummary(listing);
      ofDay.searchParams.set('limit', String(this.indexPage.pageSize));
      answers.frames = this.framePage(listing, ofDay);
      if (wanted.get('view') !== 'frames') {
        if (wanted.get('all') === '1') ofDay.searchParams.delete('camera');
        answers.events = await this.dayEvents(ofDay);
      }
    } catch (e) {
      if (!(e instanceof HttpError || e instanceof SurveillanceError)) throw e;
    }
    return answers;
  }

  private daySummary(listing: DayListing): object {
    return {
      camera: listing.camera,
      day: listing.day,
      from: listing.from.toISOString(),
      to: listing.to.toISOString(),
      total: listing.frames.length,
      bucketMs: BUCKET_MS,
      buckets: bucketsOf(listing),
    };
  }

  private framePage(listing: DayListing, url: URL): object {
    const limit = intParam(url, 'limit', DEFAULT_PAGE, 1, MAX_PAGE);
    const at = url.searchParams.get('at');
    let offset: number;
    if (at !== null) {
      const time = Date.parse(at);
      if (Number.isNaN(time)) throw new HttpError(400, 'usage', `at must be an ISO 8601 time, not ${JSON.stringify(at)}`);
      offset = indexAt(listing.frames, time);
    } else {
      offset = intParam(url, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    }
    return {
      camera: listing.camera,
      day: listing.day,
      total: listing.frames.length,
      offset,
      frames: listing.frames.slice(offset, offset + limit).map(frameJson),
    };
  }

  private frameName(raw: string): string {
    const frame = this.options.store.parseName(raw);
    if (!frame) throw new HttpError(400, 'usage', `not a frame name: ${JSON.stringify(raw.slice(0, 200))}`);
    return frame.name;
  }

  /**
   * A frame, read through the index. Its name never changes what it holds (the frame id is
   * part of it), so it is cacheable for ever and validated by size and capture time.
   */
  private async frame(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    const name = this.frameName(raw);
    const data = await this.options.store.open(name);
    if (!data) throw new HttpError(404, 'not-found', `no file ${name}`);
    await this.refuseBomb(name, data);
    const etag = etagOf(data);
    res.setHeader('etag', etag);
    res.setHeader('last-modified', data.time.toUTCString());
    res.setHeader('cache-control', IMMUTABLE_CACHE_CONTROL);
    res.setHeader('accept-ranges', 'bytes');
    if (isFresh(req, etag, data.time)) {
      res.writeHead(304);
      res.end();
      return;
    }
    const range = byteRange(req.headers.range, data.size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${data.size}` });
      res.end();
      return;
    }
    res.setHeader('content-type', 'image/jpeg');
    if (range) {
      const bytes = await data.bytes();
      res.writeHead(206, { 'content-range': `bytes ${range.start}-${range.end}/${data.size}`, 'content-length': range.end - range.start + 1 });
      res.end(req.method === 'HEAD' ? undefined : bytes.subarray(range.start, range.end + 1));
      return;
    }
    res.writeHead(200, { 'content-length': data.size });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = data.stream();
    stream.on('error', (e) => this.fail(res, e));
    res.once('close', () => stream.destroy());
    stream.pipe(res);
  }

  /** GET /login (the form), POST /login (the password), POST /logout. */
  private async loginRoutes(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    // The page's address, from the link that was sent here, back to it once logged in.
    const query = pageQuery(url.searchParams);
    res.setHeader('cache-control', 'no-store');
    if (req.method === 'GET' && path === '/login') {
      if (!this.access.hasLogin) return redirect(res, `/${query}`);
      return this.loginForm(res, 200, this.access.check(req).ok ? 'You are logged in.' : 'Password, please.', query);
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', path === '/login' ? 'GET, POST' : 'POST');
      throw new HttpError(405, 'usage', `${req.method} ${path} is not supported`);
    }
    // A form posted from another site: SameSite keeps our cookie from it, this keeps its
    // password guesses (and its logouts) out.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== 'null' && new URL(origin).host !== req.headers.host) {
      throw new HttpError(403, 'forbidden', `a form from ${origin} may not log in or out here`);
    }
    if (path === '/logout') {
      res.setHeader('set-cookie', this.access.logout(req));
      return redirect(res, this.access.hasLogin ? '/login' : '/');
    }
    if (!this.access.hasLogin) throw new HttpError(404, 'not-found', 'this gallery has no login (no password set)');
    const body = await readForm(req, 4096);
    const address = req.socket.remoteAddress ?? 'unknown';
    const result = await this.access.login(body.get('password') ?? '', address);
    if (result.ok) {
      res.setHeader('set-cookie', result.setCookie);
      this.log.info({ address }, 'login');
      return redirect(res, `/${query}`);
    }
    this.log.warn({ address, status: result.status }, `login refused: ${result.message}`);
    if (result.retryAfterS !== undefined) res.setHeader('retry-after', String(result.retryAfterS));
    return this.loginForm(res, result.status, result.message, query);
  }

  private loginForm(res: ServerResponse, status: number, message: string, query: string): void {
    const body = loginPage(message, query);
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': LOGIN_PAGE_CSP, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private async thumb(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    const name = this.frameName(raw);
    const missing = async () => ((await this.options.store.open(name)) ? undefined : new HttpError(404, 'not-found', `no frame ${name}`));
    const data = await this.options.store.open(name);
    if (!data) throw new HttpError(404, 'not-found', `no frame ${name}`);
    await this.refuseBomb(name, data);
    // A cell scrolled out of view cancels its image request: its thumbnail can wait.
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    let path: string | undefined;
    try {
      path = await this.thumbs.ensure(name, gone.signal);
    } catch (e) {
      // Pruned while its thumbnail was being made: as gone as if it had never been there.
      throw (await missing()) ?? new HttpError(500, 'bad-jpeg', `cannot make a thumbnail of ${name}: ${(e as Error).message}`);
    }
    if (path !== undefined && !res.destroyed) this.sendFile(req, res, name, this.thumbs.folder, true);
  }

  /** A frame whose header claims more pixels than anyone here decodes: 422, before any decoder sees it. */
  private async refuseBomb(name: string, data: FrameData): Promise<void> {
    const refusal = await this.pixels.refusal(name, data);
    if (refusal) throw new HttpError(422, 'too-large', `${name}: ${refusal}`);
  }

  /**
   * The page. For an address naming a camera and day (as the page writes it) it comes with
   * the answers its first screen would ask for (firstAnswers), so that its thumbnails are
   * asked for as it is parsed, not a round trip later.
   */
  private async sendIndex(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { body, etag, scriptSource } = this.indexPage;
    res.setHeader('content-security-policy', pageCsp(scriptSource));
    const answers = await this.firstAnswers(url.searchParams);
    if (answers) {
      // Of this moment's store: not to be kept, nor validated against the plain page's tag.
      const page = withAnswers(this.indexPage, answers);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': page.length, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : page);
      return;
    }
    res.setHeader('etag', etag);
    res.setHeader('cache-control', 'public, max-age=0');
    const tags = req.headers['if-none-match'];
    if (tags !== undefined && tagMatches(tags, etag)) {
      res.writeHead(304);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private sendFile(req: IncomingMessage, res: ServerResponse, rel: string, root: string, immutable: boolean): void {
    // Names here are plain [A-Za-z0-9._-/] (checked above), so they are already URL paths.
    send(req, `/${rel}`, {
      root,
      dotfiles: 'deny',
      index: false,
      etag: true,
      lastModified: true,
      immutable,
      maxAge: immutable ? IMMUTABLE_MAX_AGE : 0,
    })
      .on('error', (e: { status?: number; message: string }) => {
        const status = e.status ?? 500;
        if (status === 404) this.fail(res, new HttpError(404, 'not-found', `no file ${rel}`));
        else this.fail(res, new HttpError(status, status >= 500 ? 'internal' : 'usage', e.message));
      })
      .pipe(res);
  }

  private fail(res: ServerResponse, e: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (e instanceof HttpError) return json(res, e.status, { error: e.code, message: e.message });
    // The store said no (a frame it cannot read): its code, and the server log has the rest.
    if (e instanceof SurveillanceError && e.code !== 'internal') {
      this.log.warn({ code: e.code, err: e.message }, 'request failed');
      return json(res, 500, { error: e.code, message: e.message });
    }
    this.log.error({ err: (e as Error)?.stack ?? String(e) }, 'request failed');
    json(res, 500, { error: 'internal', message: 'internal error (see the server log)' });
  }
}
