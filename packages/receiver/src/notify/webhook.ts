import { createHmac, timingSafeEqual } from 'node:crypto';
import { SurveillanceError } from '@surveillance/shared';
import { noticeJson, type Notice, type Target } from './notice.ts';

/**
 * Webhooks: a POST of the notice as JSON, signed the way Stripe and Svix sign theirs:
 *
 *   X-Surveillance-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 * The timestamp is inside the signature, so a captured request cannot be replayed after the
 * tolerance; GitHub's X-Hub-Signature-256 has none. `verifySignature` is what a receiver runs
 * (README "Get notified" shows it).
 */

export const SIGNATURE_HEADER = 'X-Surveillance-Signature';
/** How old a signed request may be: clocks differ a little, replays do not get minutes. */
export const TOLERANCE_S = 300;
const TIMEOUT_MS = 10_000;

export function sign(secret: string, body: string, nowSeconds: number): string {
  const v1 = createHmac('sha256', secret).update(`${nowSeconds}.${body}`).digest('hex');
  return `t=${nowSeconds},v1=${v1}`;
}

/** True when `header` signs `body` with `secret` and is at most `toleranceS` old (or early). */
export function verifySignature(secret: string, header: string, body: string, nowSeconds: number, toleranceS = TOLERANCE_S): boolean {
  const parts = new Map(header.split(',').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] as const));
  const t = Number(parts.get('t'));
  const given = Buffer.from(parts.get('v1') ?? '', 'hex');
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceS) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function checkHttpUrl(option: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SurveillanceError('usage', `option ${option}: ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new SurveillanceError('usage', `option ${option}: use http:// or https://, not ${url.protocol}//`);
  if (url.username || url.password) throw new SurveillanceError('usage', `option ${option}: no credentials in the URL (every user can read a command line)`);
  return url;
}

/** A response that is not 2xx, as an error naming the target and status. */
export async function expectOk(response: Response, what: string): Promise<void> {
  if (response.ok) return;
  const text = (await response.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
  throw new Error(`${what} answered ${response.status} ${response.statusText}${text ? `: ${text}` : ''}`);
}

export class WebhookTarget implements Target {
  readonly name: string;

  constructor(
    private readonly url: URL,
    private readonly secret: string,
    private readonly notifyEnd: boolean,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.name = `webhook ${url.host}`;
  }

  async send(notice: Notice): Promise<void> {
    if (notice.kind === 'update' || ('cooledDown' in notice && notice.cooledDown)) return;
    if (notice.kind === 'end' && !this.notifyEnd) return;
    const body = JSON.stringify(noticeJson(notice));
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', [SIGNATURE_HEADER]: sign(this.secret, body, Math.floor(this.now().getTime() / 1000)) },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'error',
    });
    await expectOk(response, this.name);
  }

  async close(): Promise<void> {}
}
