// Review: listing a day of 20,000 frames. The CLI as a process (`list`, `stats`) and the store
// index in-process (what the gallery calls), against `ls -f DAY | wc -l`, `find` and a bare
// readdir of the same folder, in the same run, interleaved so that machine noise hits all alike.
// Two rows split what `list` costs: the floor of any Node listing (start, then one readdirSync of
// the day) and the CLI's own start-up (`list --help`).
import { spawnSync } from 'node:child_process';
import { accessSync, existsSync, closeSync, constants, futimesSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export const title = 'Review: listing a day of 20,000 frames';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = ['surveillance-receiver.cjs', 'surveillance-receiver.js'].map((f) => join(root, 'packages/receiver/bin', f)).find((p) => existsSync(p));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const PER_DAY = 20_000;
const DAY = '2026-03-29';
// A controlled environment: the shells here add NODE_EXTRA_CA_CERTS (~50 ms per start).
const env = (tz) => ({ PATH: '/usr/local/bin:/usr/bin:/bin', HOME: tmpdir(), LANG: 'C.UTF-8', TZ: tz });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** In memory when possible: creating 24,000 files on a shared disk takes minutes here. */
function scratch() {
  let base = tmpdir();
  try {
    accessSync('/dev/shm', constants.W_OK);
    base = '/dev/shm';
  } catch {
    // the disk, then
  }
  return mkdtempSync(join(base, 'bench-review-'));
}

/** 20,000 frames in the UTC day folder measured, a few thousand around it, a second camera. */
function makeStore(store) {
  const jpeg = readFileSync(join(root, 'test/fixtures/jpeg/cjpeg-grayscale.jpg'));
  const write = (camera, t, id) => {
    const iso = new Date(t).toISOString();
    const folder = join(store, camera, iso.slice(0, 10));
    mkdirSync(folder, { recursive: true });
    const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}.${iso.slice(20, 23)}Z`;
    const fd = openSync(join(folder, `${stamp}_${id}.jpg`), 'w');
    writeSync(fd, jpeg);
    futimesSync(fd, new Date(t), new Date(t));
    closeSync(fd);
  };
  const dayStart = Date.parse(`${DAY}T00:00:00Z`);
  const step = 86_400_000 / PER_DAY;
  for (let i = 0; i < PER_DAY; i++) write('front', dayStart + Math.floor(i * step), `f${i.toString(36)}`);
  for (let i = 0; i < 2_000; i++) write('front', dayStart - 86_400_000 + i * 43_200, `p${i.toString(36)}`);
  for (let i = 0; i < 2_000; i++) write('back-yard', dayStart + i * 43_200, `b${i.toString(36)}`);
  mkdirSync(join(store, '.incoming'), { recursive: true });
}

/** The store index as the gallery uses it, bundled from the TypeScript sources. */
async function loadStoreIndex(dir) {
  const outfile = join(dir, 'file-index.mjs');
  await build({
    entryPoints: [join(root, 'packages/receiver/src/store/file-index.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return import(pathToFileURL(outfile).href);
}

/** Output goes to /dev/null when timed, so that the harness reading a pipe is not what is measured. */
function timeProcess(argv, tz, keepOutput = false) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env: env(tz), stdio: ['ignore', keepOutput ? 'pipe' : 'ignore', 'pipe'], maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  return { ms, out: keepOutput ? r.stdout.toString() : '' };
}

function timeInProcess(fn) {
  const t0 = process.hrtime.bigint();
  const result = fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, result };
}

export async function run() {
  const dir = scratch();
  try {
    const store = join(dir, 'store');
    const t0 = Date.now();
    makeStore(store);
    const made = Date.now() - t0;
    const dayDir = join(store, 'front', DAY);
    const index = await loadStoreIndex(dir);
    const from = new Date(`${DAY}T00:00:00Z`);
    const to = new Date(from.getTime() + 86_400_000);
    const sh = (cmd) => ['sh', '-c', cmd];
    const list = (tz, ...extra) => ['node', bin, 'list', '--store', store, '--camera', 'front', '--day', DAY, ...extra];

    const contenders = [
      { name: '`ls -f DAY | wc -l` (baseline)', kind: 'process', argv: sh(`ls -f ${dayDir} | wc -l`), tz: 'UTC' },
      { name: '`find DAY -type f | wc -l`', kind: 'process', argv: sh(`find ${dayDir} -type f | wc -l`), tz: 'UTC' },
      { name: 'bare `node -e 0`', kind: 'process', argv: ['node', '-e', '0'], tz: 'UTC' },
      // The floor of any Node listing: start, then one readdirSync of the day (nothing printed).
      { name: 'floor: `node -e` readdirSync(DAY)', kind: 'process', argv: ['node', '-e', `require('node:fs').readdirSync(${JSON.stringify(dayDir)})`], tz: 'UTC' },
      // The CLI's own start-up on the list path: options, help text, no store read.
      { name: '`list --help` (the CLI started, nothing read)', kind: 'process', argv: ['node', bin, 'list', '--help'], tz: 'UTC' },
      { name: '`list --day` --json, TZ=UTC (one day folder)', kind: 'process', argv: list('UTC', '--json'), tz: 'UTC', frames: PER_DAY },
      { name: '`list --day`, human lines, TZ=UTC', kind: 'process', argv: list('UTC'), tz: 'UTC', frames: PER_DAY },
      { name: '`list --day`, TZ=Europe/Berlin (23 h over two UTC folders)', kind: 'process', argv: list('Europe/Berlin'), tz: 'Europe/Berlin' },
      { name: '`stats --day` (one stat per frame), TZ=UTC', kind: 'process', argv: ['node', bin, 'stats', '--store', store, '--camera', 'front', '--day', DAY, '--json'], tz: 'UTC' },
      { name: 'in-process `readdirSync(DAY)` (baseline)', kind: 'fn', fn: () => readdirSync(dayDir).length },
      { name: 'in-process `listFrames(camera, day)`', kind: 'fn', fn: () => index.listFrames(store, { camera: 'front', from, to }).length, frames: PER_DAY },
      { name: 'in-process `listDays(camera)` (all days)', kind: 'fn', fn: () => index.listDays(store, 'front').length },
      { name: 'in-process `latestFrame(camera)`', kind: 'fn', fn: () => index.latestFrame(store, 'front')?.name },
    ];
    // Warm the page cache and check every contender sees the day.
    for (const c of contenders) {
      if (c.kind === 'process') {
        const { out } = timeProcess(c.argv, c.tz, true);
        if (c.frames && out.trimEnd().split('\n').length !== c.frames) throw new Error(`${c.name}: expected ${c.frames} lines`);
      } else if (c.frames && c.fn() !== c.frames) throw new Error(`${c.name}: expected ${c.frames} frames`);
      c.times = [];
    }
    for (let i = 0; i < ROUNDS; i++) {
      for (const c of contenders) c.times.push(c.kind === 'process' ? timeProcess(c.argv, c.tz).ms : timeInProcess(c.fn).ms);
    }

    const byName = (prefix) => median(contenders.find((c) => c.name.startsWith(prefix)).times);
    const procBase = median(contenders[0].times);
    const nodeBase = byName('bare `node -e 0`');
    const floorMs = byName('floor:');
    const helpMs = byName('`list --help`');
    const fnBase = median(contenders.find((c) => c.kind === 'fn').times);
    const listMs = byName('`list --day` --json');
    const indexMs = byName('in-process `listFrames');
    return {
      setup: `Store: ${PER_DAY} frames in front/${DAY}/, 2,000 in the day before, 2,000 of a second camera (made in ${made} ms, in ${dir.startsWith('/dev/shm') ? 'memory (/dev/shm)' : 'the temp folder'}); page cache warm; ${ROUNDS} rounds, interleaved, medians; processes write to /dev/null.`,
      commands: contenders.filter((c) => c.kind === 'process').map((c) => c.argv.join(' ').replace(dir, 'DIR').replace(dir, 'DIR')),
      tables: [{
        columns: ['what', 'median ms', 'ratio to `ls -f | wc -l`', 'ratio to `node -e 0`', 'ratio to `readdirSync`'],
        align: ['l', 'r', 'r', 'r', 'r'],
        rows: contenders.map((c) => {
          const m = median(c.times);
          const proc = c.kind === 'process';
          return [c.name, m.toFixed(1), proc ? `${(m / procBase).toFixed(2)}x` : '', proc ? `${(m / nodeBase).toFixed(2)}x` : '', proc ? '' : `${(m / fnBase).toFixed(2)}x`];
        }),
      }],
      notes: [
        `\`list\` beyond a bare Node start: ${(listMs - nodeBase).toFixed(0)} ms for ${PER_DAY} frames (${(((listMs - nodeBase) * 1000) / PER_DAY).toFixed(1)} µs a frame, output included); of that, the CLI's start-up (\`list --help\` less \`node -e 0\`) is ${(helpMs - nodeBase).toFixed(0)} ms.`,
        `A Node process that only reads the day folder is already ${(floorMs / procBase).toFixed(2)}x \`ls -f | wc -l\`: \`list --day\` is ${(listMs / floorMs).toFixed(2)}x that floor.`,
      ],
      targets: [
        { what: `\`list --day\` of ${PER_DAY.toLocaleString('en')} frames as a process, ratio to \`ls -f DAY | wc -l\``, result: `${(listMs / procBase).toFixed(1)}x (${listMs.toFixed(0)} ms; ${(listMs / nodeBase).toFixed(1)}x \`node -e 0\`)`, target: 'at most 3x', met: listMs / procBase <= 3 },
        { what: 'the store index listing a day in process, ratio to a bare `readdirSync` of its folder', result: `${(indexMs / fnBase).toFixed(1)}x`, target: 'at most 10x', met: indexMs / fnBase <= 10 },
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node scripts/bench/40-review.mjs` alone, without the runner:
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) console.log(JSON.stringify(await run(), null, 2));
