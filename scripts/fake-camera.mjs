#!/usr/bin/env node
// A stand-in for a webcam tool such as fswebcam or `ffmpeg -update 1`: keeps rewriting one JPEG
// (monitor.jpg) at a steady rate, with sensor-like noise and, unless told otherwise, an object
// moving across the scene. Like those tools it rewrites the file IN PLACE (open with truncate,
// then write), so a reader can catch a half-written frame; --atomic writes a temporary file and
// renames it instead. --ffmpeg runs real ffmpeg on a lavfi test source instead of drawing.
//
// Plain Node ESM with sharp from node_modules: no build step, usable from tests and by hand.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { mulberry32, NOISE_TABLE_SIZE, normalNoiseTable } from './lib/sensor-noise.mjs';

const USAGE = `Usage: node scripts/fake-camera.mjs [options]

Keeps rewriting a JPEG like a webcam tool (fswebcam, ffmpeg -update 1) does.

Options:
  --out PATH           file to rewrite (default: monitor.jpg)
  --fps N              frames per second, may be fractional (default: 2)
  --size WxH           frame size (default: 640x480)
  --frames N           stop after N frames; 0 = until SIGTERM/SIGINT (default: 0)
  --motion on|off      an object moving across the scene (default: on)
  --object-share S     the object's area as a share of the frame (default: 0.02)
  --noise SIGMA        sensor noise, grey levels per pixel and channel (default: 6)
  --quality Q          JPEG quality 1-100 (default: 80)
  --chunk BYTES        write each frame in chunks of this size (default: 4096, like stdio)
  --chunk-delay MS     pause between chunks, to widen the half-written window (default: 0)
  --atomic             write a temporary file and rename it over PATH
  --ffmpeg             run ffmpeg -f lavfi -i testsrc2 ... -update 1 PATH instead
  --seed N             random seed (default: 1)
  --help               this text

Exits 0 after --frames frames or on SIGTERM/SIGINT (after finishing the frame being written),
64 on a bad option.
`;

const EX_USAGE = 64;

function fail(message) {
  process.stderr.write(`fake-camera: usage: ${message}\n`);
  process.exit(EX_USAGE);
}

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        out: { type: 'string', default: 'monitor.jpg' },
        fps: { type: 'string', default: '2' },
        size: { type: 'string', default: '640x480' },
        frames: { type: 'string', default: '0' },
        motion: { type: 'string', default: 'on' },
        'object-share': { type: 'string', default: '0.02' },
        noise: { type: 'string', default: '6' },
        quality: { type: 'string', default: '80' },
        chunk: { type: 'string', default: '4096' },
        'chunk-delay': { type: 'string', default: '0' },
        atomic: { type: 'boolean', default: false },
        ffmpeg: { type: 'boolean', default: false },
        seed: { type: 'string', default: '1' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    fail(`${e.message.replace(/\. To specify a positional argument.*$/s, '')}; see --help`);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const number = (name, min, max, integer = false) => {
    const n = Number(v[name]);
    if (v[name].trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      fail(`--${name} ${JSON.stringify(v[name])}: expected ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`);
    }
    return n;
  };
  const size = /^(\d{1,5})x(\d{1,5})$/.exec(v.size);
  if (!size || Number(size[1]) < 16 || Number(size[2]) < 16 || Number(size[1]) > 8192 || Number(size[2]) > 8192) {
    fail(`--size ${JSON.stringify(v.size)}: expected WIDTHxHEIGHT, each 16 to 8192, such as 640x480`);
  }
  if (v.motion !== 'on' && v.motion !== 'off') fail(`--motion ${JSON.stringify(v.motion)}: expected on or off`);
  if (v.atomic && v.ffmpeg) fail('--atomic and --ffmpeg cannot be combined (ffmpeg writes the file itself)');
  return {
    out: resolve(v.out),
    fps: number('fps', 0.01, 120),
    width: Number(size[1]),
    height: Number(size[2]),
    frames: number('frames', 0, Number.MAX_SAFE_INTEGER, true),
    motion: v.motion === 'on',
    objectShare: number('object-share', 0.0001, 0.5),
    noise: number('noise', 0, 100),
    quality: number('quality', 1, 100, true),
    chunk: number('chunk', 1, 1 << 30, true),
    chunkDelay: number('chunk-delay', 0, 60_000),
    atomic: v.atomic,
    ffmpeg: v.ffmpeg,
    seed: number('seed', 0, 2 ** 32 - 1, true),
  };
}

/** Draws frames: a fixed room (wall, floor, furniture) plus noise and a moving object. */
class Painter {
  constructor(o) {
    this.o = o;
    this.random = mulberry32(o.seed);
    this.noise = normalNoiseTable(this.random);
    this.room = this.paintRoom();
  }

  paintRoom() {
    const { width: w, height: h } = this.o;
    const room = new Uint8ClampedArray(w * h * 3);
    const furniture = Array.from({ length: 7 }, () => ({
      x0: this.random() * 0.85, y0: 0.35 + this.random() * 0.5,
      w: 0.05 + this.random() * 0.2, h: 0.05 + this.random() * 0.3,
      c: [40 + this.random() * 170, 40 + this.random() * 170, 40 + this.random() * 170],
    }));
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const u = x / w, v = y / h;
        const texture = 10 * Math.sin(u * 80 + 6 * Math.sin(v * 20)) * Math.sin(v * 50);
        let c = v < 0.6 ? [150 + 40 * u, 140 + 30 * v, 125] : [95, 75, 60 + 20 * u];
        for (const f of furniture) if (u >= f.x0 && u < f.x0 + f.w && v >= f.y0 && v < f.y0 + f.h) c = f.c;
        const i = (y * w + x) * 3;
        room[i] = c[0] + texture;
        room[i + 1] = c[1] + texture;
        room[i + 2] = c[2] + texture;
      }
    }
    return room;
  }

  /** Raw RGB of frame `n`: the object walks left to right and back, a few % of the width per frame. */
  paint(n) {
    const { width: w, height: h, noise: sigma, motion, objectShare } = this.o;
    const pixels = Buffer.from(this.room.buffer.slice(0));
    if (motion) {
      const ow = Math.round(Math.sqrt((objectShare * w * h) / 2));
      const oh = 2 * ow;
      const span = Math.max(1, w - ow);
      const step = Math.max(1, Math.round(w * 0.03));
      const travel = (n * step) % (2 * span);
      const x0 = travel < span ? travel : 2 * span - travel;
      const y0 = Math.max(0, Math.round(h * 0.55 - oh / 2));
      for (let y = y0; y < Math.min(h, y0 + oh); y++) {
        for (let x = x0; x < Math.min(w, x0 + ow); x++) {
          const i = (y * w + x) * 3;
          const fold = 10 * Math.sin((x - x0) / 5) * Math.sin((y - y0) / 8);
          pixels[i] = 55 + fold;
          pixels[i + 1] = 50 + fold;
          pixels[i + 2] = 60 + fold;
        }
      }
    }
    if (sigma > 0) {
      let k = Math.floor(this.random() * NOISE_TABLE_SIZE);
      const stride = 1 + 2 * Math.floor(this.random() * 1000);
      for (let i = 0; i < pixels.length; i++) {
        k = (k + stride) & (NOISE_TABLE_SIZE - 1);
        const v = pixels[i] + sigma * this.noise[k];
        pixels[i] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
    return pixels;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** open(O_TRUNC) + chunked writes, as stdio in a webcam tool does: readers may see a partial file. */
async function writeInPlace(path, bytes, chunk, chunkDelay) {
  const fd = openSync(path, 'w');
  try {
    for (let at = 0; at < bytes.length; at += chunk) {
      writeSync(fd, bytes, at, Math.min(chunk, bytes.length - at));
      if (chunkDelay > 0 && at + chunk < bytes.length) await sleep(chunkDelay);
    }
  } finally {
    closeSync(fd);
  }
}

function writeAtomically(path, bytes) {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temp, 'w');
  try {
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

async function drawLoop(o) {
  const { default: sharp } = await import('sharp');
  const painter = new Painter(o);
  let stopping = false;
  let wake = () => {};
  const stop = () => {
    stopping = true;
    wake();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const intervalMs = 1000 / o.fps;
  const start = performance.now();
  for (let n = 0; !stopping && (o.frames === 0 || n < o.frames); n++) {
    const jpeg = await sharp(painter.paint(n), { raw: { width: o.width, height: o.height, channels: 3 } })
      .jpeg({ quality: o.quality })
      .toBuffer();
    if (o.atomic) writeAtomically(o.out, jpeg);
    else await writeInPlace(o.out, jpeg, o.chunk, o.chunkDelay);
    if (o.frames !== 0 && n + 1 >= o.frames) break;
    // Scheduled from the start, so that slow frames do not make the rate drift.
    const wait = start + (n + 1) * intervalMs - performance.now();
    if (wait > 0 && !stopping) {
      await new Promise((r) => {
        const timer = setTimeout(r, wait);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  }
  return 0;
}

function ffmpegLoop(o) {
  const source = o.motion ? 'testsrc2' : 'smptebars';
  const args = [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    '-re', '-f', 'lavfi', '-i', `${source}=size=${o.width}x${o.height}:rate=${o.fps}`,
    ...(o.noise > 0 ? ['-vf', `noise=alls=${Math.min(100, Math.round(o.noise * 2))}:allf=t`] : []),
    ...(o.frames > 0 ? ['-frames:v', String(o.frames)] : []),
    // ffmpeg's -q:v runs 2 (best) to 31; map quality 100..1 onto it.
    '-q:v', String(Math.round(2 + ((100 - o.quality) * 29) / 99)),
    '-update', '1', '-y', o.out,
  ];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'inherit', 'inherit'] });
  let stopped = false;
  const forward = (signal) => {
    stopped = true;
    child.kill(signal);
  };
  process.on('SIGTERM', forward);
  process.on('SIGINT', forward);
  return new Promise((resolvePromise) => {
    child.on('error', (e) => {
      process.stderr.write(`fake-camera: cannot run ffmpeg: ${e.code ?? e.message}\n`);
      resolvePromise(69); // EX_UNAVAILABLE
    });
    child.on('exit', (code, signal) => {
      // Stopped by the signal we passed on (ffmpeg then exits 255): that is the normal end.
      resolvePromise(stopped && (signal !== null || code === 255) ? 0 : (code ?? 1));
    });
  });
}

const options = parseOptions(process.argv.slice(2));
mkdirSync(dirname(options.out), { recursive: true });
process.exitCode = options.ffmpeg ? await ffmpegLoop(options) : await drawLoop(options);
