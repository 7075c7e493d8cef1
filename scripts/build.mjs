// Bundles each program into packages/<name>/dist/ with esbuild: one file per entry plus lazily
// loaded chunks. Bundling is about start-up time: the receiver starts once per connection, and
// loading pino and date-fns as hundreds of separate modules costs several times more
// (see the start-up figures in the README's benchmark section).
//
// Usage: node scripts/build.mjs [receiver|sender ...]   (default: both)
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const programs = { receiver: ['src/cli.ts'], sender: ['src/cli.ts'] };
const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(programs);

for (const name of names) {
  const entries = programs[name];
  if (!entries) throw new Error(`unknown program ${name}; known: ${Object.keys(programs).join(', ')}`);
  const dir = `${root}packages/${name}`;
  const result = await build({
    absWorkingDir: dir,
    entryPoints: entries,
    outdir: 'dist',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    // Native or heavy: loaded from node_modules, and only by the commands that need them.
    external: ['sharp', 'playwright-core', 'chokidar'],
    // pino is CommonJS; in an ESM bundle its require() of Node built-ins needs a real require.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
  // Chunks are named by content hash: remove the ones this build no longer refers to.
  const outputs = new Set(Object.keys(result.metafile.outputs).map((p) => basename(p)));
  for (const file of readdirSync(`${dir}/dist`)) {
    if (!outputs.has(file)) rmSync(`${dir}/dist/${file}`, { force: true });
  }
}
