import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, RECEIVER_BIN, ROOT, tempDir } from './helpers/receiver.ts';

/**
 * The per-connection receiver runs its bundle from V8's code cache (the loader in its bin). A cache
 * may only ever make it faster: one that is missing, rejected or from another build must leave
 * the bundle running as from source. Each case runs the loader (bin/surveillance-receiver.cjs) in a
 * real process, since the cache is written at exit and only a new process reads it. Run after
 * `pnpm build`, as `pnpm test` does.
 */

const DIST = join(ROOT, 'packages/receiver/dist');
// The bin, required rather than run: its loader, and nothing started.
const { CACHE_MARK, cacheFileOf, requireOnce, WRITE_ENV } = createRequire(import.meta.url)(RECEIVER_BIN) as {
  CACHE_MARK: string;
  cacheFileOf: (source: string) => string | undefined;
  requireOnce: (load: (specifier: string) => unknown) => (specifier: string) => unknown;
  WRITE_ENV: string;
};
const dir = tempDir('code-cache-');
afterAll(() => dir.remove());

const report = join(dir.path, 'cache.txt');

/** Runs `file` through the built loader in a new process: what it printed, and the cache's state. */
function runMod(file: string, env: Record<string, string> = {}, args: string[] = []) {
  writeFileSync(report, '');
  const script = join(dir.path, 'run.cjs');
  // The state comes through a file: execFileSync returns stderr only when the process fails.
  writeFileSync(script, `const { runCommonJs } = require(${JSON.stringify(RECEIVER_BIN)});\nconst r = runCommonJs(process.argv.splice(2, 1)[0], require);\nprocess.on('exit', () => require('fs').appendFileSync(${JSON.stringify(report)}, r.cache));\n`);
  const out = execFileSync(process.execPath, [script, file, ...args], { env: cleanEnv(env), encoding: 'utf8' });
  return { out, cache: readFileSync(report, 'utf8') };
}

describe('cacheFileOf', () => {
  it.each([
    [`x()${CACHE_MARK}entry.0123abcd.cache\n`, 'entry.0123abcd.cache'],
    ['x()\n', undefined],
    // A name, never a path: the cache sits next to the bundle.
    [`x()${CACHE_MARK}../elsewhere.cache\n`, undefined],
    [`x()${CACHE_MARK}/etc/passwd\n`, undefined],
  ])('reads %j as %j', (source, name) => {
    expect(cacheFileOf(source)).toBe(name);
  });
});

describe('requireOnce', () => {
  it('asks its require() once per specifier and gives every caller the same module', () => {
    const asked: string[] = [];
    const load = requireOnce((specifier) => {
      asked.push(specifier);
      return { specifier };
    });
    const fs = load('node:fs');
    expect(load('node:fs')).toBe(fs);
    expect(load('node:path')).toEqual({ specifier: 'node:path' });
    expect(load('node:fs')).toBe(fs);
    expect(asked).toEqual(['node:fs', 'node:path']);
  });

  it('passes a failure on, and asks again next time (require() caches no failure either)', () => {
    let calls = 0;
    const load = requireOnce(() => {
      calls++;
      throw new Error('no such module');
    });
    expect(() => load('node:nope')).toThrow('no such module');
    expect(() => load('node:nope')).toThrow('no such module');
    expect(calls).toBe(2);
  });
});

describe('a CommonJS bundle run through the code cache', () => {
  const mod = (body: string) => `${body}${CACHE_MARK}mod.cache\n`;

  it('runs from source without a cache, writes one only when asked, and runs from it next time', () => {
    const file = join(dir.path, 'mod.cjs');
    writeFileSync(file, mod("process.stdout.write('one ' + typeof require + ' ' + __filename.endsWith('mod.cjs'));"));
    expect(runMod(file)).toEqual({ out: 'one function true', cache: 'missing' });
    expect(existsSync(join(dir.path, 'mod.cache'))).toBe(false);
    expect(runMod(file, { [WRITE_ENV]: '1' })).toEqual({ out: 'one function true', cache: 'missing' });
    expect(existsSync(join(dir.path, 'mod.cache'))).toBe(true);
    expect(runMod(file)).toEqual({ out: 'one function true', cache: 'used' });
  });

  it('runs from source when V8 rejects the cache (another Node, or not a cache at all)', () => {
    const file = join(dir.path, 'mod.cjs');
    writeFileSync(file, mod("process.stdout.write('two');"));
    writeFileSync(join(dir.path, 'mod.cache'), Buffer.alloc(4096, 7));
    expect(runMod(file)).toEqual({ out: 'two', cache: 'rejected' });
  });

  it("gives the bundle an import() that resolves from the bundle's folder, and a package's name as Node does", () => {
    const file = join(dir.path, 'mod.cjs');
    writeFileSync(join(dir.path, 'sibling.mjs'), 'export const here = 1;\n');
    writeFileSync(file, mod("Promise.all([__import('./sibling.mjs'), __import('date-fns/format')]).then(([m, p]) => process.stdout.write(typeof m.here + ' ' + typeof p.format));"));
    runMod(file, { [WRITE_ENV]: '1' });
    // From the cache too: in Node 20, import() itself would fail in code from a cache.
    expect(runMod(file)).toEqual({ out: 'number function', cache: 'used' });
  });
});

describe('the built receiver', () => {
  it.each([
    // Not on a connection: the bundle hands --help to the ES module CLI, by that import().
    ['entry', ['--help'], /^Usage: surveillance-receiver /],
    // A review command, run by this bundle itself.
    ['review-entry', ['list', '--help'], /^Usage: surveillance-receiver list /],
    // Any other command: handed to the ES module CLI, by the import() through the loader.
    ['review-entry', ['camera', '--help'], /^Usage: surveillance-receiver camera /],
  ])('%s.cjs names a cache made by the build for this very bundle, which this Node takes (%j)', (bundle, args, usage) => {
    const source = readFileSync(join(DIST, `${bundle}.cjs`), 'utf8');
    const name = cacheFileOf(source);
    expect(name).toMatch(new RegExp(`^${bundle}\\.[0-9a-f]{16}\\.cache$`));
    expect(existsSync(join(DIST, name!))).toBe(true);
    // No import() left in the bundle's own code: each goes through the loader's.
    expect(source.match(/import\("/g) ?? []).toEqual([]);
    const { out, cache } = runMod(join(DIST, `${bundle}.cjs`), {}, args);
    expect(out).toMatch(usage);
    expect(cache).toBe('used');
  });
});

describe('--version', () => {
  // A copy of the built receiver's bin and bundles, whose caches each case may spoil.
  const copy = join(dir.path, 'receiver');
  const bin = join(copy, 'bin', basename(RECEIVER_BIN));
  const cacheOf = (bundle: string) => join(copy, 'dist', cacheFileOf(readFileSync(join(DIST, bundle), 'utf8'))!);
  const version = () => execFileSync(process.execPath, [bin, '--version'], { env: cleanEnv(), encoding: 'utf8' });
  const lines = (cache: string) => [`surveillance-receiver 0.1.0 (Node ${process.version})`, `code cache: ${cache}`, ''].join('\n');

  beforeEach(() => {
    rmSync(copy, { recursive: true, force: true });
    mkdirSync(join(copy, 'dist'), { recursive: true });
    cpSync(dirname(RECEIVER_BIN), join(copy, 'bin'), { recursive: true });
    cpSync(join(ROOT, 'packages/receiver/package.json'), join(copy, 'package.json'));
    for (const bundle of ['entry.cjs', 'review-entry.cjs']) {
      cpSync(join(DIST, bundle), join(copy, 'dist', bundle));
      cpSync(join(DIST, cacheFileOf(readFileSync(join(DIST, bundle), 'utf8'))!), cacheOf(bundle));
    }
  });

  it("says the caches are used when this Node takes both, as after this checkout's build", () => {
    expect(version()).toBe(lines('used'));
  });

  it('says which cache V8 rejects: one of another Node, or not a cache at all', () => {
    writeFileSync(cacheOf('review-entry.cjs'), Buffer.alloc(4096, 7));
    expect(version()).toBe(lines('receiving used; review commands rejected (made by another Node or under other V8 flags: rebuild with this node, and install again)'));
  });

  it('says when a cache is missing', () => {
    rmSync(cacheOf('entry.cjs'));
    rmSync(cacheOf('review-entry.cjs'));
    expect(version()).toBe(lines('missing (the build made none: rebuild, and install again)'));
  });
});
