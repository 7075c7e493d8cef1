// Bundles each program into packages/<name>/dist/ with esbuild: one file per entry plus lazily
// loaded chunks. Bundling is about start-up time: the receiver starts once per connection, and
// loading pino and date-fns as hundreds of separate modules costs several times more
// (see the start-up table in the README's benchmark section).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const programs = [
  { name: 'receiver', entries: ['src/cli.ts'] },
  { name: 'sender', entries: ['src/cli.ts'] },
];

for (const { name, entries } of programs) {
  const dir = `${root}packages/${name}`;
  rmSync(`${dir}/dist`, { recursive: true, force: true });
  await build({
    absWorkingDir: dir,
    entryPoints: entries,
    outdir: 'dist',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    // Native or heavy: loaded from node_modules, and only by the commands that need them.
    external: ['sharp', 'playwright-core'],
    // pino is CommonJS; in an ESM bundle its require() of Node built-ins needs a real require.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
    legalComments: 'none',
  });
}
