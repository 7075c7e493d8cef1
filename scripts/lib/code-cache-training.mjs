// Makes the receiver's V8 code caches, of the per-connection bundle and of the review
// commands' bundle (their loader, in packages/receiver/bin/surveillance-receiver.cjs, says why
// and how they are read): routes each bundle's import() calls through the loader (see
// routeImports), names its cache in its last line, after a hash of the bundle, then runs the
// built receiver: as systemd would (Accept=yes: the connection on stdin, REMOTE_ADDR set) for
// one plaintext frame and then one frame over TLS-PSK, and then the review commands people run
// most (see REVIEW_RUNS) on a small store. Each run writes the cache of the bundle it ran at
// exit, starting from what the runs before it wrote, so each cache holds the functions of all.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectPsk } from './psk-client.mjs';

// The loader's own names, from the loader (required, the bin runs nothing): the mark it reads,
// the parameter it passes, the variable that makes a run write the cache.
const { CACHE_MARK, IMPORT_PARAMETER, WRITE_ENV } = createRequire(import.meta.url)('../../packages/receiver/bin/surveillance-receiver.cjs');

/**
 * In Node 20, code loaded from a code cache loses its import() callback: every import() in it
 * fails with ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING (vm.Script and vm.compileFunction alike,
 * whatever importModuleDynamically says). So the bundle's import() calls, the ones esbuild's
 * metafile lists, call a function the loader passes instead, which imports a relative specifier
 * from the bundle's folder.
 */
function routeImports(source, dynamicImports) {
  // typeof: a bundle loaded by plain require() has no such parameter, and imports by itself.
  const via = `(typeof ${IMPORT_PARAMETER} === "function" ? ${IMPORT_PARAMETER} : (specifier) => import(specifier))`;
  let routed = source;
  for (const path of new Set(dynamicImports)) {
    const call = `import(${JSON.stringify(path)})`;
    if (!routed.includes(call)) throw new Error(`the bundle has no ${call}, which its metafile lists`);
    routed = routed.replaceAll(call, `${via}(${JSON.stringify(path)})`);
  }
  return routed;
}

/**
 * The bundle as it is written: its `dynamicImports` routed, and its last line naming its cache
 * (`name`). The same input gives the same output, so that builds running at once (the tests
 * build too) write the same files.
 */
export function markForCodeCache(source, dynamicImports, stem) {
  const routed = routeImports(source, dynamicImports);
  const name = `${stem}.${createHash('sha256').update(routed).digest('hex').slice(0, 16)}.cache`;
  return { source: `${routed}${CACHE_MARK}${name}\n`, name };
}

/**
 * Makes the cache the bundle names (see markForCodeCache) by training runs of `bin`. False when they
 * could not run: the receiver then compiles from source, as it would without a cache.
 */
export async function trainCodeCache({ bin, jpeg }) {
  const dir = mkdtempSync(join(tmpdir(), 'code-cache-'));
  // Only what systemd gives the receiver: no NODE_OPTIONS (V8 flags change the cache's flag
  // hash, and V8 would reject the cache at run time) and no SURVEILLANCE_* options.
  const env = { PATH: process.env.PATH, HOME: dir, LANG: 'C.UTF-8', REMOTE_ADDR: '127.0.0.1', [WRITE_ENV]: '1' };
  try {
    const store = join(dir, 'store');
    const frame = readFileSync(jpeg);
    await oneConnection(bin, ['--store', store, '--min-free', '0'], env, frame);
    const keys = join(dir, 'keys');
    const line = execFileSync(process.execPath, [bin, 'camera', 'add', 'training', '--keys', keys, '--store', store], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const [, camera, keyId, key] = line.trim().split(' ');
    await oneConnection(bin, ['--store', store, '--min-free', '0', '--keys', keys], env, frame, { camera, keyId, key: Buffer.from(key, 'base64url') });
    trainReview(bin, store, env, jpeg);
    return true;
  } catch (e) {
    console.warn(`code cache not made (the receiver will compile from source): ${e.message}`);
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A day of the training store, in UTC as the training runs are (no TZ). */
const REVIEW_DAY = '2026-03-29';
/**
 * The review runs: the listing of a day (human and --json, by the store's per-minute path),
 * of the whole store, a day's stats and the latest frames, each printing what it is given.
 */
const REVIEW_RUNS = [
  ['list', '--camera', 'training', '--day', REVIEW_DAY],
  ['list', '--camera', 'training', '--day', REVIEW_DAY, '--json'],
  ['list'],
  ['stats', '--day', REVIEW_DAY],
  ['show'],
];
/** Frames of REVIEW_DAY in the training store: several minutes, several frames in each. */
const REVIEW_FRAMES = 12;

/**
 * Runs REVIEW_RUNS on `store` with frames of REVIEW_DAY added under the camera 'training', named
 * as the store names them by default. Throws when a day's listing does not show them all: a
 * cache trained on an empty listing would miss the functions that matter.
 */
function trainReview(bin, store, env, jpeg) {
  const folder = join(store, 'training', REVIEW_DAY);
  mkdirSync(folder, { recursive: true });
  for (let i = 0; i < REVIEW_FRAMES; i++) {
    const t = new Date(Date.parse(`${REVIEW_DAY}T08:00:00Z`) + i * 25_000).toISOString();
    const stamp = t.replace(/[-:]/g, '').slice(0, 19);
    copyFileSync(jpeg, join(folder, `${stamp}Z_t${i}.jpg`));
  }
  for (const args of REVIEW_RUNS) {
    const out = execFileSync(process.execPath, [bin, ...args, '--store', store], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = out.trim().split('\n').length;
    if (args.includes('--day') && args[0] === 'list' && lines !== REVIEW_FRAMES) throw new Error(`training list ${args.join(' ')} printed ${lines} lines, not ${REVIEW_FRAMES}`);
  }
}

/** One receiver process for one connection, its stdin and stdout the accepted socket. */
async function oneConnection(bin, args, env, frame, key) {
  const server = createServer({ pauseOnConnect: true });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Settles with the child's failure or undefined, so that it is never an unhandled rejection.
  const exited = new Promise((resolve, reject) => {
    server.once('connection', (socket) => {
      const child = spawn(process.execPath, [bin, ...args], { env, stdio: [socket, socket, 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      // The child has its own copy of the socket; ours must not hold the connection open.
      socket.destroy();
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`training receiver exited ${code}: ${err.trim().slice(-300)}`))));
    });
  }).then(() => undefined, (e) => e);
  try {
    const answer = await new Promise((resolve, reject) => {
      const { port } = server.address();
      const s = key
        ? connectPsk(port, key)
        : connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      let text = '';
      s.once(key ? 'secureConnect' : 'connect', () => s.end(frame));
      s.on('data', (d) => (text += d));
      s.on('end', () => s.end());
      s.once('error', reject);
      s.once('close', () => resolve(text));
    });
    const failed = await exited;
    if (failed) throw failed;
    if (!answer.startsWith('OK ')) throw new Error(`training receiver answered ${JSON.stringify(answer.slice(0, 200))}`);
  } finally {
    server.close();
  }
}
