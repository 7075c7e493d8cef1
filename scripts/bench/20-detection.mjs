// Change detection cost per frame, at 1080p and 720p, on the same camera-like JPEGs (sensor
// noise, a person walking; encoded by libjpeg through sharp), against:
//  - `djpeg -scale 1/8 -grayscale`: the least work any detector at this size can do (decode
//    only, in C, skipping chroma), run as a process by hyperfine; its start-up cost is measured
//    on a 16x16 JPEG and taken off in a second row;
//  - the decode alone at the detector's size, in process: what the comparison itself adds; at
//    1/8 scale that is jpeg-dc.ts reading Y's DC coefficients, and sharp's decode to the same
//    size (the path for JPEGs jpeg-dc.ts leaves to libjpeg) is shown beside it;
//  - the detector's decode before jpeg-dc.ts (sharp at 1/8 resized to just under W/9), kept as
//    the "before" figure: the rest of the detector is the same;
//  - pixelmatch on fully decoded RGBA frames (decode by sharp included): the usual npm answer;
//  - ImageMagick `compare -metric AE -fuzz 10%` as a process, the tutorial's approach.
// The detector is bundled from its TypeScript source with esbuild into .bench/ (next to
// node_modules, so that sharp resolves), as the sender's own build does.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export const title = 'Change detection: cost per frame against djpeg, pixelmatch and ImageMagick compare';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 60);
/** pixelmatch: blocks of PIXELMATCH_BLOCK frames after every PIXELMATCH_BLOCK_EVERY rounds. */
const PIXELMATCH_BLOCK = 2;
const PIXELMATCH_BLOCK_EVERY = 6;
const COMPARE_RUNS = 5;
const FRAMES = 8;
const SIZES = [
  [1920, 1080],
  [1280, 720],
];
/** Targets from the issue, at 1080p. */
const MAX_RATIO_TO_DJPEG = 1.2;
const MIN_SPEEDUP_OVER_PIXELMATCH = 10;
// A controlled environment for child processes: the shells here add NODE_EXTRA_CA_CERTS and
// pyenv shims that have nothing to do with what is measured.
const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: tmpdir(), LANG: 'C.UTF-8' };

function hasTool(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { env, stdio: 'ignore' }).status === 0;
}

async function bundle(dir) {
  const outfile = join(dir, 'detection.mjs');
  await build({
    stdin: {
      contents: [
        "export { ChangeDetector } from './packages/sender/src/change-detector.ts';",
        "export { decodeGrey } from './packages/sender/src/greyscale.ts';",
        "export { scanJpeg } from './packages/shared/src/jpeg-scanner.ts';",
        "export { SceneGenerator } from './test/helpers/scenes.ts';",
      ].join('\n'),
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    outfile,
    external: ['sharp'],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
  return import(pathToFileURL(outfile).href);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** hyperfine's median in ms for one command (no shell), or undefined without hyperfine. */
function hyperfine(command, runs, { ignoreFailure = false } = {}) {
  const json = join(tmpdir(), `bench-detection-${process.pid}.json`);
  try {
    execFileSync(
      'hyperfine',
      ['-N', '--style', 'none', '--warmup', '3', '--runs', String(runs), ...(ignoreFailure ? ['-i'] : []), '--export-json', json, command],
      { env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return JSON.parse(readFileSync(json, 'utf8')).results[0].median * 1000;
  } finally {
    rmSync(json, { force: true });
  }
}

async function measureSize(m, sharp, pixelmatch, dir, width, height) {
  const scene = new m.SceneGenerator(width, height, 3);
  const frames = [];
  for (let i = 0; i < FRAMES; i++) {
    const jpeg = await scene.frame({ noise: 6, quality: 85, objects: [{ x: 0.2 + 0.08 * i, y: 0.5, share: 0.02 }] });
    const path = join(dir, `${width}x${height}-${i}.jpg`);
    writeFileSync(path, jpeg);
    // Scanned once, as the sender's watcher does when it reads the picture: the detector gets the result.
    frames.push({ jpeg, path, info: m.scanJpeg(jpeg) });
  }
  const detector = await m.ChangeDetector.create({ threshold: 0.005, noise: 'auto', analysisWidth: 200 });
  const rgba = (jpeg) => sharp(jpeg).ensureAlpha().raw().toBuffer();
  const eighth = { width: Math.ceil(width / 8), height: Math.ceil(height / 8) };
  const sharpEighth = (jpeg) => sharp(jpeg, { failOn: 'warning' }).resize({ ...eighth, fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true }).raw().toBuffer();
  const sharpBefore = (jpeg) => sharp(jpeg, { failOn: 'warning' }).resize({ width: Math.floor(width / 9), kernel: 'linear', fastShrinkOnLoad: true }).raw().toBuffer();
  const ours = [];
  const decodeOnly = [];
  const sharpSame = [];
  const before = [];
  const pm = [];
  const pmCall = [];
  let analysis = '';
  // Our two in-process measures interleave round by round, so that the machine's noise hits
  // both alike. pixelmatch runs in short blocks between them rather than interleaved: its
  // 8 MB frames would otherwise evict the detector's data from the CPU caches every round.
  for (let round = -10; round < ROUNDS; round++) {
    const index = (round + 10) % FRAMES;
    const { jpeg, info } = frames[index];
    let decision;
    const a = await timed(async () => (decision = await detector.decide(jpeg, info)));
    const b = await timed(() => m.decodeGrey(jpeg, 200, info));
    const c = await timed(() => sharpEighth(jpeg));
    const d = await timed(() => sharpBefore(jpeg));
    analysis = decision.size;
    if (round < 0) continue;
    ours.push(a);
    decodeOnly.push(b);
    sharpSame.push(c);
    before.push(d);
    if (round % PIXELMATCH_BLOCK_EVERY === PIXELMATCH_BLOCK_EVERY - 1) {
      for (let k = 0; k < PIXELMATCH_BLOCK; k++) {
        const at = (index + k) % FRAMES;
        // The previous frame is decoded outside the timing, as a loop would keep it.
        const previous = await rgba(frames[(at + FRAMES - 1) % FRAMES].jpeg);
        let current;
        pm.push(await timed(async () => (current = await rgba(frames[at].jpeg))));
        pmCall.push(await timed(() => pixelmatch(previous, current, null, width, height, { threshold: 0.1 })));
        pm[pm.length - 1] += pmCall[pmCall.length - 1];
      }
    }
  }

  const row = {
    bytes: median(frames.map((f) => f.jpeg.length)),
    analysis,
    ours: median(ours),
    decodeOnly: median(decodeOnly),
    sharpSame: median(sharpSame),
    before: median(before),
    pixelmatch: median(pm),
    pixelmatchCall: median(pmCall),
  };
  if (hasTool('hyperfine') && hasTool('djpeg')) {
    row.djpeg = hyperfine(`djpeg -scale 1/8 -grayscale -outfile /dev/null ${frames[1].path}`, ROUNDS);
  }
  if (hasTool('hyperfine') && hasTool('compare')) {
    // compare exits 1 when the frames differ, which they do.
    row.compare = hyperfine(`compare -metric AE -fuzz 10% ${frames[0].path} ${frames[1].path} null:`, COMPARE_RUNS, { ignoreFailure: true });
  }
  return row;
}

export async function run() {
  const dir = join(root, '.bench', `detection-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    const m = await bundle(dir);
    const { default: sharp } = await import('sharp');
    const { default: pixelmatch } = await import('pixelmatch');
    let djpegStart;
    if (hasTool('hyperfine') && hasTool('djpeg')) {
      const tiny = join(dir, 'tiny.jpg');
      writeFileSync(tiny, await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).jpeg().toBuffer());
      djpegStart = hyperfine(`djpeg -scale 1/8 -grayscale -outfile /dev/null ${tiny}`, ROUNDS);
    }
    const rows = [];
    for (const [w, h] of SIZES) rows.push(await measureSize(m, sharp, pixelmatch, dir, w, h));
    const [hd] = rows;

    const ms = (v) => (v === undefined ? 'n/a' : v.toFixed(2));
    const ratio = (v, base) => (v === undefined || base === undefined ? 'n/a' : `${(v / base).toFixed(2)}x`);
    const toDjpeg = hd.djpeg === undefined ? undefined : hd.ours / hd.djpeg;
    const overPixelmatch = hd.pixelmatch / hd.ours;
    return {
      setup: `Frames: ${SIZES.map(([w, h], k) => `${w}x${h} ~${Math.round(rows[k].bytes / 1000)} KB`).join(', ')}; the detector compares ${rows.map((r) => r.analysis).join(' and ')} greyscale. Medians of ${ROUNDS} frames (pixelmatch ${Math.floor(ROUNDS / PIXELMATCH_BLOCK_EVERY) * PIXELMATCH_BLOCK}, compare ${COMPARE_RUNS}).`,
      commands: ['djpeg -scale 1/8 -grayscale -outfile /dev/null FRAME.jpg   (hyperfine -N)', 'compare -metric AE -fuzz 10% A.jpg B.jpg null:   (hyperfine -N -i)', 'ChangeDetector.compare(frame) in process (packages/sender/src/change-detector.ts)'],
      tables: [{
        columns: ['per frame', '1920x1080 ms', '1280x720 ms', '1080p: that / this detector'],
        align: ['l', 'r', 'r', 'r'],
        rows: [
          ['this detector: decode + compare, in process', ms(rows[0].ours), ms(rows[1].ours), '1.00x'],
          ['decode alone at the same size, in process (1/8: jpeg-dc.ts)', ms(rows[0].decodeOnly), ms(rows[1].decodeOnly), ratio(hd.decodeOnly, hd.ours)],
          ['sharp decode to the same size, in process (for JPEGs jpeg-dc.ts leaves)', ms(rows[0].sharpSame), ms(rows[1].sharpSame), ratio(hd.sharpSame, hd.ours)],
          ['before: sharp decode at 1/8 resized to W/9 (the old decode), in process', ms(rows[0].before), ms(rows[1].before), ratio(hd.before, hd.ours)],
          ['`djpeg -scale 1/8 -grayscale`, process (hyperfine -N)', ms(rows[0].djpeg), ms(rows[1].djpeg), ratio(hd.djpeg, hd.ours)],
          [`same, less djpeg's start-up (${ms(djpegStart)} ms on a 16x16 JPEG)`, ms(rows[0].djpeg - djpegStart), ms(rows[1].djpeg - djpegStart), ratio(hd.djpeg - djpegStart, hd.ours)],
          ['pixelmatch on full RGBA, sharp decode included', ms(rows[0].pixelmatch), ms(rows[1].pixelmatch), ratio(hd.pixelmatch, hd.ours)],
          ['of which the pixelmatch call', ms(rows[0].pixelmatchCall), ms(rows[1].pixelmatchCall), ratio(hd.pixelmatchCall, hd.ours)],
          ['ImageMagick `compare -metric AE -fuzz 10%`, process, per pair', ms(rows[0].compare), ms(rows[1].compare), ratio(hd.compare, hd.ours)],
        ],
      }],
      targets: [
        {
          what: 'change detection per 1080p frame (decode at 1/8 + compare), ratio to `djpeg -scale 1/8 -grayscale`',
          result: toDjpeg === undefined ? 'djpeg or hyperfine missing' : `${toDjpeg.toFixed(2)}x (${ms(hd.ours)} ms)`,
          target: `at most ${MAX_RATIO_TO_DJPEG}x`,
          met: toDjpeg === undefined ? undefined : toDjpeg <= MAX_RATIO_TO_DJPEG,
        },
        {
          what: 'same, speed-up over pixelmatch on full decoded frames',
          result: `${overPixelmatch.toFixed(1)}x faster`,
          target: `at least ${MIN_SPEEDUP_OVER_PIXELMATCH}x`,
          met: overPixelmatch >= MIN_SPEEDUP_OVER_PIXELMATCH,
        },
      ],
      summary: hd.compare === undefined ? [] : [{ what: 'same, speed-up over ImageMagick `compare` (the tutorial\'s tool)', result: `${(hd.compare / hd.ours).toFixed(1)}x faster` }],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
