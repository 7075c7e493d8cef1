import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PAGE_IN_PACKAGE = join('src', 'gallery', 'page');

/**
 * The folder of the page's static files (index.html, app.js, requests.js, style.css). They are served as
 * files, not bundled: esbuild bundles only the TypeScript, and files on disk get ETags and
 * conditional requests from `send` like frames do. The folder is found from this module's own
 * location, which is src/gallery/ when run from source and dist/ when bundled: both sit inside
 * the package folder that holds src/gallery/page/.
 */
export function pageFolder(from = fileURLToPath(import.meta.url)): string {
  for (let dir = dirname(from), up = 0; up < 5; dir = dirname(dir), up++) {
    const candidate = join(dir, PAGE_IN_PACKAGE);
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  throw new Error(`the gallery's page files (${PAGE_IN_PACKAGE}/index.html) are missing from the package around ${from}`);
}

/**
 * URL path -> file in the page folder; nothing else is served from it. The page itself (/) is
 * made from index.html and requests.js at start (index-page.ts).
 */
export const PAGE_FILES: Readonly<Record<string, string>> = {
  '/app.js': 'app.js',
  '/requests.js': 'requests.js',
  '/style.css': 'style.css',
};
