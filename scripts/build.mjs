// Bundles each program into packages/<name>/dist/ with esbuild. Bundling is about start-up
// time: the receiver starts once per connection, and loading its dependencies as hundreds of
// separate modules costs several times more (see `pnpm bench`).
//
// - ES modules with code splitting for each CLI: commands load what they need when they run.
// - The receiver's process entry (src/entry.ts) also as one CommonJS file that holds only the
//   per-connection path (src/receive/, src/store/, packages/shared); anything else it hands to
//   the ES module CLI (`./cli.ts` and `./listener.ts` stay real imports of the ES module
//   outputs). Its metafile goes to dist/entry.meta.json: test/startup-imports.test.ts checks
//   from it that nothing else got onto that path.
// - The receiver's review commands (src/review-entry.ts, which says why) as one more CommonJS
//   file, dist/review-entry.cjs, with the same ES module outputs left as imports.
// - V8's code caches of dist/entry.cjs and dist/review-entry.cjs, made by training runs of the
//   built receiver (scripts/lib/code-cache-training.mjs), and read by the loader in
//   bin/surveillance-receiver.cjs (which says why).
//
// Usage: node scripts/build.mjs [receiver|sender ...]   (default: both)
import { build } from 'esbuild';
import { readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markForCodeCache, trainCodeCache } from './lib/code-cache-training.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const programs = {
  // Named entry points: the outputs are dist/cli.js and dist/listener.js wherever the sources sit.
  // file-watch: the store's watcher (chokidar) is reached from FileStore, which the
  // per-connection path holds; it stays an import of the ES module output there.
  // open-nats: the NATS store (and its client), for --store nats:// only.
  receiver: { esm: { cli: 'src/cli.ts', listener: 'src/receive/listener.ts', 'file-watch': 'src/store/file-watch.ts', 'open-nats': 'src/store/nats/open-nats.ts' }, cjs: ['src/entry.ts', 'src/review-entry.ts'], codeCache: ['entry.cjs', 'review-entry.cjs'] },
  sender: { esm: { cli: 'src/cli.ts' } },
};
const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(programs);

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20.19',
  outdir: 'dist',
  // Native or heavy: loaded from node_modules, and only by the commands that need them.
  external: ['sharp', 'playwright-core', 'chokidar'],
  metafile: true,
  logLevel: 'warning',
  legalComments: 'none',
};

/** In the CommonJS entry, these ES module outputs are imported at run time, not bundled. */
const esmOutputs = {
  name: 'esm-outputs',
  setup(b) {
    b.onResolve({ filter: /^\.\/(nats\/)?(cli|listener|file-watch|open-nats)\.ts$/ }, (a) => ({ path: a.path.replace(/^\.\/nats\//, './').replace(/\.ts$/, '.js'), external: true }));
    b.onResolve({ filter: /^(date-fns\/|@date-fns\/)/ }, (a) => ({ path: a.path, external: true }));
  },
};

for (const name of names) {
  const program = programs[name];
  if (!program) throw new Error(`unknown program ${name}; known: ${Object.keys(programs).join(', ')}`);
  const dir = `${root}packages/${name}`;
  const outputs = new Set();
  const esm = await build({
    ...common,
    absWorkingDir: dir,
    entryPoints: program.esm,
    splitting: true,
    format: 'esm',
    // pino is CommonJS; in an ESM bundle its require() of Node built-ins needs a real require.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  Object.keys(esm.metafile.outputs).forEach((p) => outputs.add(basename(p)));
  for (const entry of program.cjs ?? []) {
    const out = `${basename(entry, '.ts')}.cjs`;
    const cached = program.codeCache?.includes(out) ?? false;
    const cjs = await build({
      ...common,
      absWorkingDir: dir,
      entryPoints: [entry],
      format: 'cjs',
      outExtension: { '.js': '.cjs' },
      plugins: [esmOutputs],
      // The bundle with a code cache is changed before it is written (markForCodeCache).
      write: !cached,
    });
    Object.keys(cjs.metafile.outputs).forEach((p) => outputs.add(basename(p)));
    const meta = `${basename(entry, '.ts')}.meta.json`;
    writeFileSync(`${dir}/dist/${meta}`, JSON.stringify(cjs.metafile));
    outputs.add(meta);
    if (cached) {
      const dynamicImports = Object.values(cjs.metafile.outputs).flatMap((o) => o.imports).filter((i) => i.kind === 'dynamic-import').map((i) => i.path);
      const marked = markForCodeCache(cjs.outputFiles[0].text, dynamicImports, basename(entry, '.ts'));
      // By rename: a receiver starting meanwhile (the tests run some) reads the old or the new.
      writeFileSync(`${dir}/dist/${out}.${process.pid}.part`, marked.source);
      renameSync(`${dir}/dist/${out}.${process.pid}.part`, `${dir}/dist/${out}`);
      // Kept even if this build's training fails: one running at the same time may make it.
      outputs.add(marked.name);
    }
  }
  if (program.codeCache) await trainCodeCache({ bin: `${dir}/bin/surveillance-${name}.cjs`, jpeg: `${root}test/fixtures/jpeg/cjpeg-baseline.jpg` });
  // Chunks are named by content hash: remove the ones this build no longer refers to.
  for (const file of readdirSync(`${dir}/dist`)) {
    // .part: a cache being written by a training run (of this build, or one running with it).
    if (!outputs.has(file) && !file.endsWith('.part')) rmSync(`${dir}/dist/${file}`, { force: true });
  }
}
