import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Who may look at the frames. On a loopback address only this machine's users can connect, so
 * no secret is needed; anywhere else the gallery refuses to start without a token, because the
 * frames are pictures of someone's home.
 *
 * "Loopback" is 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and the name localhost; anything
 * else, 0.0.0.0 and :: included, is reachable from other machines.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (isIPv6(h)) return h === '::1' || h === '0:0:0:0:0:0:0:1' || (/^::ffff:127\./.test(h) && isIPv4(h.slice(7)));
  return false;
}

export const MIN_TOKEN_LENGTH = 12;
export const COOKIE_NAME = 'surveillance_gallery';
const COOKIE_MAX_AGE_S = 30 * 24 * 3600;

export type Verdict =
  | { ok: true; setCookie?: string; redirect?: string }
  | { ok: false; status: 401 | 403; code: 'unauthorized' | 'forbidden'; message: string };

/** Equal-length digests, so that the comparison takes the same time whatever the guess. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Checks every request. With a token: `?token=` (first visit; answered with a cookie and a
 * redirect that drops the token from the address bar and history), the cookie, or
 * `Authorization: Bearer`. The cookie holds an HMAC of the token, not the token itself.
 * Without a token (loopback only): the Host header must name a loopback host, which stops a
 * web page elsewhere from reading the gallery through DNS rebinding.
 */
export class Access {
  private readonly session: string | undefined;

  constructor(private readonly token: string | undefined) {
    this.session = token === undefined ? undefined : createHmac('sha256', token).update('surveillance-gallery-session').digest('hex');
  }

  check(req: IncomingMessage, url: URL): Verdict {
    if (this.token === undefined || this.session === undefined) {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '');
      if (isLoopbackHost(host)) return { ok: true };
      return { ok: false, status: 403, code: 'forbidden', message: `Host ${JSON.stringify(req.headers.host ?? '')} is not this machine's loopback address` };
    }
    const given = url.searchParams.get('token');
    if (given !== null) {
      if (!sameSecret(given, this.token)) return { ok: false, status: 401, code: 'unauthorized', message: 'wrong token' };
      url.searchParams.delete('token');
      return {
        ok: true,
        setCookie: `${COOKIE_NAME}=${this.session}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${COOKIE_MAX_AGE_S}`,
        // One leading slash: `//host/...` would send the browser to another site.
        redirect: url.pathname.replace(/^\/+/, '/') + url.search,
      };
    }
    const cookie = cookieValue(req.headers.cookie, COOKIE_NAME);
    if (cookie !== undefined && sameSecret(cookie, this.session)) return { ok: true };
    const auth = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (auth && sameSecret(auth[1]!.trim(), this.token)) return { ok: true };
    return { ok: false, status: 401, code: 'unauthorized', message: 'this gallery needs its token: open it once as /?token=TOKEN' };
  }
}

/** The small page a browser gets instead of JSON when it lacks the token: a field to type it in. */
export function tokenForm(res: ServerResponse, message: string): void {
  const body = `<!doctype html><meta charset="utf-8"><title>Surveillance gallery</title><meta name="viewport" content="width=device-width">
<body style="font:16px system-ui;background:#111;color:#ddd;display:grid;place-items:center;height:90vh">
<form method="get" action="/"><p>${message.replace(/[<>&"]/g, '')}</p>
<input name="token" type="password" autocomplete="current-password" autofocus aria-label="token"> <button>Open</button></form></body>`;
  res.writeHead(401, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    // Its own policy: the gallery's forbids inline styles, and this page has nothing else.
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  });
  res.end(body);
}
