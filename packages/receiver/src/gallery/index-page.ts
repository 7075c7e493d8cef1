import { createHash } from 'node:crypto';

/** index.html's tag for requests.js, which the served page has in its place as an inline script. */
export const REQUESTS_TAG = '<script type="module" async src="/requests.js"></script>';

export interface IndexPage {
  body: Buffer;
  /** A strong validator: the page only changes with the files it is made of. */
  etag: string;
  /** The CSP source for the inline script, `'sha256-…'`: only that script runs, not any inline one. */
  scriptSource: string;
  /** Where in `body` the inline script starts: the answers it takes go before it (withAnswers). */
  scriptAt: number;
  /** requests.js's PAGE: frames per page it asks for, so the first page it is given is that one. */
  pageSize: number;
}

/**
 * requests.js as a classic script (an inline module could not be the one app.js imports, and
 * app.js would ask for everything again): its `export`s dropped, in a function of its own so
 * that none of its names become the window's. It has no imports to drop; it hands its early
 * requests to the module through a global (see there).
 */
export function classicScript(moduleText: string): string {
  if (/^\s*import\b/m.test(moduleText)) throw new Error('requests.js imports: it cannot be inlined as a classic script');
  if (/<\/script|<!--/i.test(moduleText)) throw new Error('requests.js contains </script or <!--: it cannot be inlined in HTML');
  return `(() => {\n'use strict';\n${moduleText.replace(/^export /gm, '')}})();\n`;
}

/**
 * The page as served: index.html with requests.js inline in place of its tag, so that the
 * first screen's requests leave as the HTML is parsed rather than a round trip (requests.js)
 * later. Made once at start from the two files; the module stays what app.js imports.
 */
export function indexPage(html: string, requestsModule: string): IndexPage {
  const at = html.indexOf(REQUESTS_TAG);
  if (at < 0 || html.indexOf(REQUESTS_TAG, at + 1) >= 0) throw new Error(`index.html must have ${REQUESTS_TAG} once`);
  const script = classicScript(requestsModule);
  const pageSize = Number(/^export const PAGE = (\d+);$/m.exec(requestsModule)?.[1]);
  if (!(pageSize > 0)) throw new Error('requests.js must say `export const PAGE = N;` (frames per page)');
  const body = Buffer.from(html.slice(0, at) + `<script>${script}</script>` + html.slice(at + REQUESTS_TAG.length), 'utf8');
  return {
    body,
    scriptAt: Buffer.byteLength(html.slice(0, at)),
    pageSize,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    scriptSource: `'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`,
  };
}

/**
 * The page with `answers` for its inline script, as JSON in a data block (`#answers`), which
 * no policy needs to allow: it is never run. Every `<` is escaped, so that no text in it (a
 * camera name, say) can end the element.
 */
export function withAnswers(page: IndexPage, answers: object): Buffer {
  const data = JSON.stringify(answers).replaceAll('<', '\\u003c');
  return Buffer.concat([
    page.body.subarray(0, page.scriptAt),
    Buffer.from(`<script type="application/json" id="answers">${data}</script>\n`, 'utf8'),
    page.body.subarray(page.scriptAt),
  ]);
}

/** What the page's address may say (requests.js wantedAddress): anything else is dropped. */
const ADDRESS_KEYS = ['camera', 'day', 'view', 'all', 'event'];

/**
 * The page's address (`?camera=…&day=…`), re-made from what it may say, or '' for none: kept
 * through the login form, so that a link (a notifier's ?event=ID) opens what it names once
 * logged in. Percent-encoded by URLSearchParams: nothing in it but a path's query.
 */
export function pageQuery(search: URLSearchParams): string {
  const kept = new URLSearchParams();
  for (const key of ADDRESS_KEYS) {
    const value = search.get(key);
    if (value !== null) kept.set(key, value);
  }
  const text = kept.toString();
  return text ? `?${text}` : '';
}
