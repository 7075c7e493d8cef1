import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';

/**
 * Who may look at the frames. On a loopback address only this machine's users can connect, so
 * no secret is needed; anywhere else the gallery refuses to start without a login (a password)
 * or a token for scripts, because the frames are pictures of someone's home.
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
export const MIN_PASSWORD_LENGTH = 8;
export const COOKIE_NAME = 'surveillance_session';

// ---- password hashes --------------------------------------------------------------------

/**
 * scrypt with N=2^15, r=8, p=1 (32 MiB, some 50-100 ms here): slow enough to make guessing a
 * stolen hash file expensive, fast enough for a login. The parameters are part of the stored
 * string, so that stronger ones later still read old files.
 */
const SCRYPT = { ln: 15, r: 8, p: 1 };
const HASH_BYTES = 32;
const HASH_RE = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{32,})$/;

function scryptAsync(password: string, salt: Buffer, length: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, length, options, (e, key) => (e ? reject(e) : resolve(key))));
}

const scryptOptions = (ln: number, r: number, p: number): ScryptOptions => ({ N: 2 ** ln, r, p, maxmem: 2 * 128 * r * 2 ** ln + 1024 * 1024 });

/** `$scrypt$ln=15,r=8,p=1$SALT$HASH`, salt and hash in base64url. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, HASH_BYTES, scryptOptions(SCRYPT.ln, SCRYPT.r, SCRYPT.p));
  return `$scrypt$ln=${SCRYPT.ln},r=${SCRYPT.r},p=${SCRYPT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}\n`;
}

/** Undefined for a well-formed hash string, else what is wrong with it (never quoting it). */
export function checkPasswordHash(stored: string): string | undefined {
  const m = HASH_RE.exec(stored.trim());
  if (!m) return 'not a password hash written by surveillance-receiver serve --set-password';
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return 'its scrypt parameters are out of range';
  return undefined;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = HASH_RE.exec(stored.trim());
  if (!m) return false;
  const expected = Buffer.from(m[5]!, 'base64url');
  const got = await scryptAsync(password, Buffer.from(m[4]!, 'base64url'), expected.length, scryptOptions(Number(m[1]), Number(m[2]), Number(m[3])));
  return timingSafeEqual(got, expected);
}

// ---- failed logins -----------------------------------------------------------------------

/**
 * At most `limit` failed logins per address in `windowMs`; past it, the address waits until
 * its oldest failure leaves the window. Memory is bounded: past `maxAddresses` the addresses
 * that failed longest ago are forgotten first (a flood from many addresses only forgets itself).
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit = 5,
    private readonly windowMs = 5 * 60_000,
    private readonly maxAddresses = 10_000,
  ) {}

  /** Milliseconds this address must wait before it may try again; 0 when it may try now. */
  waitMs(address: string, now: number): number {
    const recent = (this.failures.get(address) ?? []).filter((t) => t > now - this.windowMs);
    if (recent.length < this.limit) return 0;
    return recent[recent.length - this.limit]! + this.windowMs - now;
  }

  failed(address: string, now: number): void {
    const recent = (this.failures.get(address) ?? []).filter((t) => t > now - this.windowMs);
    recent.push(now);
    this.failures.delete(address);
    this.failures.set(address, recent.slice(-this.limit));
    while (this.failures.size > this.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }
}

// ---- requests ----------------------------------------------------------------------------

export type Verdict = { ok: true } | { ok: false; status: 401 | 403; code: 'unauthorized' | 'forbidden'; message: string };

export interface AccessOptions {
  /** The stored scrypt hash: a login page and session cookies when set. */
  passwordHash?: string;
  /** A token for scripts, sent as `Authorization: Bearer TOKEN`. */
  token?: string;
  /** Served over HTTPS: cookies get `Secure`. */
  secure: boolean;
  sessionMs: number;
  now?: () => number;
  /** Sessions kept at once; the oldest are dropped first (each login makes one). */
  maxSessions?: number;
}

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

export type LoginResult =
  | { ok: true; setCookie: string }
  | { ok: false; status: 401 | 429; message: string; retryAfterS?: number };

/**
 * Checks every request and keeps the sessions. With a password: a session cookie made by
 * logging in (a random 256-bit id, kept here in memory, so a restart logs everyone out and
 * nothing about the password is in the cookie). With a token: `Authorization: Bearer`.
 * With neither (loopback only): the Host header must name a loopback host, which stops a web
 * page elsewhere from reading the gallery through DNS rebinding.
 */
export class Access {
  readonly limiter = new LoginLimiter();
  private readonly sessions = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly options: AccessOptions) {
    this.now = options.now ?? Date.now;
  }

  get locked(): boolean {
    return this.options.passwordHash !== undefined || this.options.token !== undefined;
  }

  get hasLogin(): boolean {
    return this.options.passwordHash !== undefined;
  }

  check(req: IncomingMessage): Verdict {
    if (!this.locked) {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '');
      if (isLoopbackHost(host)) return { ok: true };
      return { ok: false, status: 403, code: 'forbidden', message: `Host ${JSON.stringify(req.headers.host ?? '')} is not this machine's loopback address` };
    }
    if (this.session(req) !== undefined) return { ok: true };
    const auth = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (auth && this.options.token !== undefined && sameSecret(auth[1]!.trim(), this.options.token)) return { ok: true };
    return {
      ok: false,
      status: 401,
      code: 'unauthorized',
      message: this.hasLogin ? 'log in first: /login (scripts: Authorization: Bearer TOKEN)' : 'this gallery needs its token, sent as Authorization: Bearer TOKEN',
    };
  }

  /** A password typed into the login form, from `address`. */
  async login(password: string, address: string): Promise<LoginResult> {
    const now = this.now();
    const wait = this.limiter.waitMs(address, now);
    if (wait > 0) {
      const retryAfterS = Math.ceil(wait / 1000);
      return { ok: false, status: 429, message: `too many failed logins from ${address}; try again in ${retryAfterS} s`, retryAfterS };
    }
    if (!this.options.passwordHash || !(await verifyPassword(password, this.options.passwordHash))) {
      this.limiter.failed(address, this.now());
      return { ok: false, status: 401, message: 'wrong password' };
    }
    this.limiter.succeeded(address);
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, this.now() + this.options.sessionMs);
    while (this.sessions.size > (this.options.maxSessions ?? 1000)) this.sessions.delete(this.sessions.keys().next().value!);
    return { ok: true, setCookie: this.cookie(id, Math.floor(this.options.sessionMs / 1000)) };
  }

  /** Ends the request's session, if it has one; the cookie to send back clears it. */
  logout(req: IncomingMessage): string {
    const id = this.session(req);
    if (id !== undefined) this.sessions.delete(id);
    return this.cookie('', 0);
  }

  private session(req: IncomingMessage): string | undefined {
    const id = cookieValue(req.headers.cookie, COOKIE_NAME);
    if (id === undefined) return undefined;
    const expires = this.sessions.get(id);
    if (expires === undefined) return undefined;
    if (expires <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return id;
  }

  private cookie(value: string, maxAgeS: number): string {
    return `${COOKIE_NAME}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${this.options.secure ? '; Secure' : ''}`;
  }
}

/** The login page: a password field, and what went wrong last time. */
/** The login form; `query` (index-page.ts pageQuery) is the page's address, kept through it. */
export function loginPage(message: string, query = ''): string {
  return `<!doctype html><html lang="en"><meta charset="utf-8"><title>Surveillance gallery: log in</title><meta name="viewport" content="width=device-width">
<body style="font:16px system-ui;background:#111;color:#ddd;display:grid;place-items:center;height:90vh">
<form method="post" action="/login${query.replaceAll('&', '&amp;')}"><h1 style="font-size:1.2em">Surveillance gallery</h1>
<p id="message" role="status">${message.replace(/[<>&"]/g, '')}</p>
<input name="password" type="password" autocomplete="current-password" autofocus aria-label="password" required> <button>Log in</button></form></body></html>`;
}

/** Its own policy: the gallery's forbids inline styles, and this page has nothing else. */
export const LOGIN_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";
