import { statSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { checkCameraName, isSurveillanceError, type Logger } from '@surveillance/shared';
import send from 'send';
import type { FrameEntry } from '../review/store-index.ts';
import { Access, tokenForm } from './access.ts';
import { BUCKET_MS, bucketsOf, DayIndex, indexAt, type DayListing } from './day-index.ts';
import { EventFeed } from './event-feed.ts';
import { readFrameName } from './frame-path.ts';
import { PAGE_FILES, pageFolder } from './page-assets.ts';
import { StoreWatch } from './store-watch.ts';
import { ThumbnailCache } from './thumbnails.ts';

export interface GalleryOptions {
  root: string;
  pattern: string;
  /** Required by the caller when listening beyond loopback. */
  token?: string;
  thumbJobs: number;
  log: Logger;
}

/** Frames and thumbnails never change under their name (the frame id is part of it). */
const IMMUTABLE_MAX_AGE = '365d';
const DEFAULT_PAGE = 200;
const MAX_PAGE = 1000;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
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

function frameJson(f: FrameEntry): { name: string; time: string; id: string } {
  return { name: f.name, time: f.time.toISOString(), id: f.id };
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const text = url.searchParams.get(name);
  if (text === null) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new HttpError(400, 'bad-request', `${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`);
  return n;
}

/**
 * The gallery's HTTP side: the page, a JSON API over the store index, frames and thumbnails
 * as files (through `send`: Range, ETag, Last-Modified, conditional requests), and a feed of
 * frames as they arrive.
 *
 *   GET /                     the page (also /app.js, /style.css)
 *   GET /api/cameras          {timeZone, cameras: [name]}
 *   GET /api/days?camera=C    {camera, days: [yyyy-MM-dd]} (local dates)
 *   GET /api/day?camera=C&day=D          {total, from, to, bucketMs, buckets} of that local day
 *   GET /api/frames?camera=C&day=D&offset=N&limit=N   a page of frames, oldest first
 *   GET /api/frames?camera=C&day=D&at=ISO&limit=N     the page starting at that time
 *   GET /api/events           server-sent events: `frames` (new frames: name, time, id, camera,
 *                             day), `removed` ({days: [{camera, day}]} that lost frames)
 *   GET /frames/NAME, /thumbs/NAME       NAME as in the store: CAMERA/2026-11-21/...jpg
 *
 * Errors are JSON: {error: code, message}, with 400, 401, 403, 404, 405 or 500.
 */
export class GalleryServer {
  readonly thumbs: ThumbnailCache;
  private readonly server: Server;
  private readonly access: Access;
  private readonly index: DayIndex;
  private readonly feed = new EventFeed();
  private readonly watch: StoreWatch;
  private readonly page = pageFolder();
  private readonly log: Logger;
  /** Days and times are in the server's zone; the page is told which one. */
  private readonly timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  constructor(private readonly options: GalleryOptions) {
    this.log = options.log;
    this.access = new Access(options.token);
    this.index = new DayIndex(options.root, options.pattern);
    this.thumbs = new ThumbnailCache(options.root, options.thumbJobs, options.log);
    this.watch = new StoreWatch(options.root, options.pattern);
    this.watch.on('added', (frames) => {
      const added = this.index.add(frames).map((f) => ({ ...frameJson(f), camera: f.camera, day: f.day }));
      this.feed.send('frames', added);
    });
    this.watch.on('removed', (frames) => {
      this.thumbs.forget(frames.map((f) => f.name));
      const days = new Map(this.index.remove(frames).map((f) => [`${f.camera}/${f.day}`, { camera: f.camera, day: f.day }]));
      this.feed.send('removed', { days: [...days.values()] });
    });
    this.watch.on('error', (e) => this.log.warn({ err: e.message }, 'store watcher'));
    this.server = createServer({ keepAliveTimeout: 10_000 }, (req, res) => {
      this.handle(req, res).catch((e: unknown) => this.fail(res, e));
    });
  }

  /** Starts watching the store, then listens; resolves to the address to open. */
  async listen(host: string, port: number): Promise<string> {
    await this.watch.start();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as { address: string; port: number };
    const shown = address.address.includes(':') ? `[${address.address}]` : address.address;
    this.log.info({ folders: this.watch.folders, timeZone: this.timeZone }, 'watching the store');
    return `http://${shown}:${address.port}/`;
  }

  /** Ends the event streams, stops watching, and closes every connection. */
  async close(): Promise<void> {
    this.feed.close();
    await this.watch.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (!req.url?.startsWith('/')) throw new HttpError(400, 'bad-request', 'the request target must be a path');
    const url = new URL(`http://gallery.invalid${req.url}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      throw new HttpError(405, 'method-not-allowed', `${req.method} is not supported: the gallery only shows frames`);
    }
    const verdict = this.access.check(req, url);
    if (!verdict.ok) {
      if (verdict.status === 401 && url.pathname === '/' && req.headers.accept?.includes('text/html')) return tokenForm(res, verdict.message);
      throw new HttpError(verdict.status, verdict.code, verdict.message);
    }
    if (verdict.setCookie) {
      res.writeHead(303, { location: verdict.redirect ?? '/', 'set-cookie': verdict.setCookie, 'cache-control': 'no-store' });
      res.end();
      return;
    }

    const path = url.pathname;
    const pageFile = PAGE_FILES[path];
    if (pageFile) return this.sendFile(req, res, pageFile, this.page, false);
    if (path.startsWith('/frames/')) return this.frame(req, res, path.slice('/frames/'.length));
    if (path.startsWith('/thumbs/')) return this.thumb(req, res, path.slice('/thumbs/'.length));
    switch (path) {
      case '/api/cameras':
        return json(res, 200, { timeZone: this.timeZone, cameras: this.index.cameras() });
      case '/api/days': {
        const camera = this.camera(url);
        return json(res, 200, { camera, days: this.index.daysOf(camera) });
      }
      case '/api/day':
        return json(res, 200, this.daySummary(this.day(url)));
      case '/api/frames':
        return json(res, 200, this.framePage(this.day(url), url));
      case '/api/events':
        return this.feed.attach(req, res);
    }
    throw new HttpError(404, 'not-found', `nothing at ${path}`);
  }

  private camera(url: URL): string {
    const camera = url.searchParams.get('camera');
    if (camera === null) throw new HttpError(400, 'bad-request', 'camera is required');
    const problem = checkCameraName(camera);
    if (problem) throw new HttpError(400, 'bad-request', problem);
    if (!this.index.cameras().includes(camera)) throw new HttpError(404, 'not-found', `no camera ${JSON.stringify(camera)} in the store`);
    return camera;
  }

  private day(url: URL): DayListing {
    const camera = this.camera(url);
    const day = url.searchParams.get('day');
    if (day === null) throw new HttpError(400, 'bad-request', 'day is required (a local date, yyyy-MM-dd)');
    try {
      return this.index.listing(camera, day);
    } catch (e) {
      if (isSurveillanceError(e, 'usage')) throw new HttpError(400, 'bad-request', e.message);
      throw e;
    }
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
      if (Number.isNaN(time)) throw new HttpError(400, 'bad-request', `at must be an ISO 8601 time, not ${JSON.stringify(at)}`);
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
    const frame = readFrameName(raw, this.options.pattern);
    if (!frame) throw new HttpError(400, 'bad-request', `not a frame name: ${JSON.stringify(raw.slice(0, 200))}`);
    return frame.name;
  }

  private frame(req: IncomingMessage, res: ServerResponse, raw: string): void {
    this.sendFile(req, res, this.frameName(raw), this.options.root, true);
  }

  private async thumb(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    const name = this.frameName(raw);
    const missing = () => {
      try {
        statSync(join(this.options.root, name));
        return undefined;
      } catch {
        return new HttpError(404, 'not-found', `no frame ${name}`);
      }
    };
    const before = missing();
    if (before) throw before;
    // A cell scrolled out of view cancels its image request: its thumbnail can wait.
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    let path: string | undefined;
    try {
      path = await this.thumbs.ensure(name, gone.signal);
    } catch (e) {
      // Pruned while its thumbnail was being made: as gone as if it had never been there.
      throw missing() ?? new HttpError(500, 'thumbnail-failed', `cannot make a thumbnail of ${name}: ${(e as Error).message}`);
    }
    if (path !== undefined && !res.destroyed) this.sendFile(req, res, name, this.thumbs.dir, true);
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
        else this.fail(res, new HttpError(status, status >= 500 ? 'internal' : 'bad-request', e.message));
      })
      .pipe(res);
  }

  private fail(res: ServerResponse, e: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (e instanceof HttpError) return json(res, e.status, { error: e.code, message: e.message });
    this.log.error({ err: (e as Error)?.stack ?? String(e) }, 'request failed');
    json(res, 500, { error: 'internal', message: 'internal error (see the server log)' });
  }
}
