import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

/**
 * Runs a CommonJS bundle (dist/entry.cjs) from V8's code cache when one was made for it. The
 * per-connection receiver is a new process for every connection, and without a cache each one
 * parses the whole bundle and compiles every function it calls, about a fifth of its CPU time
 * (see BENCHMARKS.md). Node 20 has no code cache for user modules (module.enableCompileCache
 * came in 22), so the bundle is compiled here with vm.Script and `cachedData`.
 *
 * The cache is made by `pnpm build` (scripts/build.mjs): it runs the receiver on a plaintext
 * and on a TLS connection with WRITE_ENV set, and the process writes the cache at exit, holding
 * every function those connections compiled. It is only ever read at run time: an installed
 * receiver may not write to its own folder.
 *
 * V8 checks its own version and flags against the cache, but of the source only its length. So
 * the build names the cache after a hash of the bundle and writes that name into the bundle's
 * last line (CACHE_MARK): a rebuilt bundle names a cache that does not exist yet, never an old
 * one of the same length. Without a cache, or with one V8 rejects (another Node), the bundle is
 * compiled from source as before: slower, never different.
 */

/** The bundle's last line, `//# codeCache=NAME`, naming its cache file in the same folder. */
export const CACHE_MARK = '\n//# codeCache=';
/**
 * The bundle's import() calls go through this parameter of its wrapper: in Node 20, code from a
 * code cache loses its import() callback (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so the build
 * rewrites them (scripts/lib/code-cache-training.mjs) to call this module's import(), which
 * resolves from this module's folder: dist/, where the bundle is too.
 */
export const IMPORT_PARAMETER = '__import';
/** Set to 1 by the build's training runs: write the cache at exit. */
export const WRITE_ENV = 'SURVEILLANCE_WRITE_CODE_CACHE';

/** The cache file a bundle names, or undefined when it names none. */
export function cacheFileOf(source: string): string | undefined {
  const at = source.lastIndexOf(CACHE_MARK);
  if (at === -1) return undefined;
  const name = source.slice(at + CACHE_MARK.length).trim();
  // A name, not a path: the cache sits next to the bundle.
  return /^[\w.-]+$/.test(name) ? name : undefined;
}

export interface CachedRun {
  /** none: the bundle names no cache or it is missing; rejected: V8 would not take it. */
  cache: 'used' | 'rejected' | 'none';
}

/**
 * Loads and runs `file` as a CommonJS module, as require() would, with the code cache it names.
 * `load` is the require() the module gets (the bundle requires only node: built-ins).
 */
export function runCommonJs(file: string, load: NodeJS.Require, env: NodeJS.ProcessEnv = process.env): CachedRun {
  const source = readFileSync(file, 'utf8');
  const name = cacheFileOf(source);
  const cacheFile = name === undefined ? undefined : join(dirname(file), name);
  let cachedData: Buffer | undefined;
  try {
    if (cacheFile !== undefined) cachedData = readFileSync(cacheFile);
  } catch {
    // not made (a build without its training run): compiled from source
  }
  // The wrapper require() uses, on the bundle's first line so that line numbers stay its own.
  const script = new Script(`(function (exports, require, module, __filename, __dirname, ${IMPORT_PARAMETER}) {${source}\n})`, { filename: file, cachedData });
  if (cacheFile !== undefined && env[WRITE_ENV] === '1') {
    // At exit, so that the cache holds every function this run compiled, not only the top level.
    process.once('exit', () => {
      const part = `${cacheFile}.${process.pid}.part`;
      writeFileSync(part, script.createCachedData());
      renameSync(part, cacheFile);
    });
  }
  const run: CachedRun = { cache: cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used' };
  const module = { exports: {} };
  const importer = (specifier: string) => import(specifier);
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, load, module, file, dirname(file), importer);
  return run;
}
