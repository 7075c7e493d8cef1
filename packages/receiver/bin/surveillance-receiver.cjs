#!/usr/bin/env node
// Thin entry: `pnpm build` (scripts/build.mjs) bundles the program into dist/. Receiving (the
// default, and under systemd one process per connection) goes to the CommonJS entry, whose
// source, src/entry.ts, says why it is CommonJS; deciding here spares each command the parse of
// that entry. It runs from V8's code cache made by the build (runCommonJs below says why). A
// command (list, serve, camera...) goes to src/review-entry.ts, a CommonJS bundle that runs the
// review commands (src/review-commands.ts, the one list of them) itself and hands any other to
// the ES module CLI; it runs from a code cache too. --version, answered here, says whether this
// Node takes both caches.
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

/**
 * The code cache's loader lives here, in the bin, rather than in a module of its own: one module
 * less to resolve, read and compile (with no cache of its own) saves about 2 M instructions of a
 * per-connection start, 2% (callgrind, plaintext connection).
 *
 * Why a cache: the per-connection receiver is a new process for every connection, and without
 * one each process parses the whole bundle and compiles every function it calls, about a fifth
 * of its CPU time (see BENCHMARKS.md). The review commands are short processes too, often run
 * in loops. Node 20 has no code cache for user modules
 * (module.enableCompileCache came in 22), so the bundle is compiled here with vm.Script and
 * `cachedData`.
 *
 * The cache is made by `pnpm build` (scripts/lib/code-cache-training.mjs): it runs the receiver
 * on a plaintext and on a TLS connection, then the review commands on a small store, with
 * WRITE_ENV set, and each process writes the cache of the bundle it ran at exit, holding every
 * function the runs so far compiled. It is only ever read at run time: an
 * installed receiver may not write to its own folder.
 *
 * V8 checks its own version and flags against the cache, but of the source only its length. So
 * the build names the cache after a hash of the bundle and writes that name into the bundle's
 * last line (CACHE_MARK): a rebuilt bundle names a cache that does not exist yet, never an old
 * one of the same length. Without a cache, or with one V8 rejects (another Node), the bundle is
 * compiled from source as before: slower, never different.
 */

/** The bundle's last line, `//# codeCache=NAME`, naming its cache file in the same folder. */
const CACHE_MARK = '\n//# codeCache=';
/**
 * The bundle's import() calls go through this parameter of its wrapper: in Node 20, code from a
 * code cache loses its import() callback (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so the build
 * rewrites them (scripts/lib/code-cache-training.mjs) to call the import() given here, which
 * resolves a relative specifier from the bundle's folder (dist/), as the bundle's own would.
 */
const IMPORT_PARAMETER = '__import';
/** Set to 1 by the build's training runs: write the cache at exit. */
const WRITE_ENV = 'SURVEILLANCE_WRITE_CODE_CACHE';

/** The cache file a bundle names, or undefined when it names none. */
function cacheFileOf(source) {
  const at = source.lastIndexOf(CACHE_MARK);
  if (at === -1) return undefined;
  const name = source.slice(at + CACHE_MARK.length).trim();
  // A name, not a path: the cache sits next to the bundle.
  return /^[\w.-]+$/.test(name) ? name : undefined;
}

/**
 * Compiles `file` as require() would wrap it, with the code cache it names. Returns the script
 * and what became of the cache: 'used'; 'rejected' when V8 would not take it (another Node or
 * other V8 flags); 'missing' when the bundle names none or it is not there.
 */
function compileCommonJs(file) {
  const { Script } = require('node:vm');
  const source = readFileSync(file, 'utf8');
  const name = cacheFileOf(source);
  const cacheFile = name === undefined ? undefined : join(dirname(file), name);
  let cachedData;
  try {
    if (cacheFile !== undefined) cachedData = readFileSync(cacheFile);
  } catch {
    // not made (a build without its training run): compiled from source
  }
  // The wrapper require() uses, on the bundle's first line so that line numbers stay its own.
  const script = new Script(`(function (exports, require, module, __filename, __dirname, ${IMPORT_PARAMETER}) {${source}\n})`, { filename: file, cachedData });
  const cache = cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'used';
  return { script, cacheFile, cache };
}

/**
 * Loads and runs `file` as a CommonJS module, as require() would, with the code cache it names.
 * `load` is the require() the module gets (the bundle requires only node: built-ins). Returns
 * { cache: 'used' | 'rejected' | 'missing' } (see compileCommonJs).
 */
function runCommonJs(file, load, env = process.env) {
  const { script, cacheFile, cache } = compileCommonJs(file);
  if (cacheFile !== undefined && env[WRITE_ENV] === '1') {
    // At exit, so that the cache holds every function this run compiled, not only the top level.
    process.once('exit', () => {
      const part = `${cacheFile}.${process.pid}.part`;
      writeFileSync(part, script.createCachedData());
      renameSync(part, cacheFile);
    });
  }
  const module = { exports: {} };
  // Bare specifiers (packages) resolve from here as from dist/: the same node_modules above.
  const importer = (specifier) => import(specifier.startsWith('.') ? require('node:url').pathToFileURL(join(dirname(file), specifier)).href : specifier);
  script.runInThisContext().call(module.exports, module.exports, load, module, file, dirname(file), importer);
  return { cache };
}

/** The bundles run through runCommonJs, by what they run. */
const BUNDLES = { receiving: 'entry.cjs', 'review commands': 'review-entry.cjs' };

const CACHE_STATES = {
  used: 'used',
  rejected: 'rejected (made by another Node or under other V8 flags: rebuild with this node, and install again)',
  missing: 'missing (the build made none: rebuild, and install again)',
};

/**
 * The `code cache:` line of --version: whether this Node takes each bundle's cache. A rejected or
 * missing cache is otherwise silent (the bundle compiles from source), only slower. Compiles
 * each bundle without running it.
 */
function codeCacheLine(dist) {
  const states = Object.entries(BUNDLES).map(([what, file]) => [what, compileCommonJs(join(dist, file)).cache]);
  if (states.every(([, state]) => state === states[0][1])) return `code cache: ${CACHE_STATES[states[0][1]]}`;
  return `code cache: ${states.map(([what, state]) => `${what} ${CACHE_STATES[state]}`).join('; ')}`;
}

/**
 * `load`, asked once per specifier. The bundle calls require() once per source module that
 * imports a built-in (28 calls for 4 modules), and each call of Node's require() for a built-in
 * copies its exports again (compileForPublicLoader, syncExports: node:fs has over a hundred).
 * 0.3 M instructions of a per-connection start (callgrind, plaintext and TLS alike).
 */
function requireOnce(load) {
  const loaded = new Map();
  return (specifier) => {
    if (!loaded.has(specifier)) loaded.set(specifier, load(specifier));
    return loaded.get(specifier);
  };
}

module.exports = { CACHE_MARK, IMPORT_PARAMETER, WRITE_ENV, cacheFileOf, requireOnce, runCommonJs };

// Required (by the tests, for the loader): nothing runs.
if (require.main === module) {
  const first = process.argv[2];
  // Here, not in a bundle: one string comparison is all it costs a connection.
  if (first === '--version') process.stdout.write(`surveillance-receiver ${require('../package.json').version} (Node ${process.version})\n${codeCacheLine(join(__dirname, '../dist'))}\n`);
  else if (first !== undefined && !first.startsWith('-') && first !== 'receive') runCommonJs(join(__dirname, '../dist/review-entry.cjs'), requireOnce(require));
  else runCommonJs(join(__dirname, '../dist/entry.cjs'), requireOnce(require));
}
