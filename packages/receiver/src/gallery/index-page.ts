import { createHash } from 'node:crypto';

/** index.html's tag for requests.js, which the served page has in its place as an inline script. */
export const REQUESTS_TAG = '<script type="module" async src="/requests.js"></script>';

export interface IndexPage {
  body: Buffer;
  /** A strong validator: the page only changes with the files it is made of. */
  etag: string;
  /** The CSP source for the inline script, `'sha256-…'`: only that script runs, not any inline one. */
  scriptSource: string;
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
  const body = Buffer.from(html.slice(0, at) + `<script>${script}</script>` + html.slice(at + REQUESTS_TAG.length), 'utf8');
  return {
    body,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    scriptSource: `'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`,
  };
}
