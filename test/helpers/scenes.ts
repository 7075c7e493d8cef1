import sharp from 'sharp';
import { mulberry32, NOISE_TABLE_SIZE, normalNoiseTable } from '../../scripts/lib/sensor-noise.mjs';

/**
 * Synthetic camera scenes for the change detector's tests: a textured "room" at full camera
 * resolution, lit by a tone curve (gain, offset, gamma, optionally a lamp that brightens one
 * area more), with objects painted in, sensor noise added per pixel and channel, and a real JPEG
 * encode by sharp (libjpeg), optionally decoded and re-encoded at a second quality as happens
 * when a frame passes through a second program.
 */

export interface SceneObject {
  /** Centre, as a share of the frame's width and height (0-1). */
  x: number;
  y: number;
  /** Area as a share of the frame (0.01 = 1%); the object is twice as high as wide. */
  share: number;
  /** RGB before lighting; default a dark coat. */
  colour?: readonly [number, number, number];
}

export interface Lighting {
  gain?: number;
  /** Grey levels added after the gain. */
  offset?: number;
  /** Applied to the 0-1 scene value before the gain (auto exposure bends the tone curve too). */
  gamma?: number;
  /** A lamp: extra gain `lamp` at (lampX, lampY), falling off over half the frame. */
  lamp?: number;
  lampX?: number;
  lampY?: number;
}

export interface FrameSpec {
  objects?: readonly SceneObject[];
  light?: Lighting;
  /** Standard deviation of the sensor noise in grey levels, per pixel and channel. */
  noise?: number;
  quality?: number;
  /** Decode and encode again at this quality. */
  reencode?: number;
}


export class SceneGenerator {
  private readonly base: Float32Array;
  private readonly noiseTable: Float32Array;
  private readonly random: () => number;

  constructor(
    readonly width: number,
    readonly height: number,
    seed = 1,
  ) {
    this.random = mulberry32(seed);
    this.noiseTable = normalNoiseTable(this.random);
    this.base = this.paintRoom();
  }

  /** Scene colours (0-255 per channel, before lighting): walls, floor, furniture, texture. */
  private paintRoom(): Float32Array {
    const { width: w, height: h } = this;
    const base = new Float32Array(w * h * 3);
    const rects = Array.from({ length: 9 }, () => ({
      x0: this.random() * 0.9,
      y0: 0.3 + this.random() * 0.6,
      w: 0.05 + this.random() * 0.25,
      h: 0.05 + this.random() * 0.3,
      c: [40 + this.random() * 170, 40 + this.random() * 170, 40 + this.random() * 170],
    }));
    for (let y = 0; y < h; y++) {
      const v = y / h;
      for (let x = 0; x < w; x++) {
        const u = x / w;
        const i = (y * w + x) * 3;
        // Wall with a soft gradient above, floor below, a texture of a few cycles (wallpaper, wood).
        const texture = 12 * Math.sin(u * 90 + 7 * Math.sin(v * 23)) * Math.sin(v * 61 + u * 5);
        let c = v < 0.6 ? [150 + 40 * u + texture, 140 + 30 * v + texture, 125 + texture] : [95 + texture, 75 + texture, 60 + 20 * u + texture];
        for (const r of rects) if (u >= r.x0 && u < r.x0 + r.w && v >= r.y0 && v < r.y0 + r.h) c = [r.c[0]! + texture, r.c[1]! + texture, r.c[2]! + texture];
        base[i] = c[0]!;
        base[i + 1] = c[1]!;
        base[i + 2] = c[2]!;
      }
    }
    return base;
  }

  /** One frame as JPEG bytes. */
  async frame(spec: FrameSpec = {}): Promise<Buffer> {
    const { width: w, height: h } = this;
    const scene = this.base.slice();
    for (const o of spec.objects ?? []) this.paintObject(scene, o);
    const { gain = 1, offset = 0, gamma = 1, lamp = 0, lampX = 0.2, lampY = 0.3 } = spec.light ?? {};
    const sigma = spec.noise ?? 0;
    const pixels = Buffer.alloc(w * h * 3);
    let k = Math.floor(this.random() * NOISE_TABLE_SIZE);
    const step = 1 + 2 * Math.floor(this.random() * 1000);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let g = gain;
        if (lamp) {
          const dx = x / w - lampX;
          const dy = y / h - lampY;
          g *= 1 + lamp * Math.exp(-(dx * dx + dy * dy) / 0.25);
        }
        for (let ch = 0; ch < 3; ch++) {
          const i = (y * w + x) * 3 + ch;
          const s = Math.max(0, scene[i]!) / 255;
          k = (k + step) & (NOISE_TABLE_SIZE - 1);
          const v = 255 * g * (gamma === 1 ? s : s ** gamma) + offset + sigma * this.noiseTable[k]!;
          pixels[i] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
    let jpeg = await sharp(pixels, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: spec.quality ?? 85 }).toBuffer();
    if (spec.reencode) jpeg = await sharp(jpeg).jpeg({ quality: spec.reencode }).toBuffer();
    return jpeg;
  }

  private paintObject(scene: Float32Array, o: SceneObject): void {
    const { width: w, height: h } = this;
    const area = o.share * w * h;
    const ow = Math.sqrt(area / 2);
    const oh = 2 * ow;
    const x0 = Math.round(o.x * w - ow / 2), x1 = Math.round(o.x * w + ow / 2);
    const y0 = Math.round(o.y * h - oh / 2), y1 = Math.round(o.y * h + oh / 2);
    const [r, g, b] = o.colour ?? [55, 50, 60];
    for (let y = Math.max(0, y0); y < Math.min(h, y1); y++) {
      for (let x = Math.max(0, x0); x < Math.min(w, x1); x++) {
        // Folds in the cloth: the object has texture of its own.
        const t = 10 * Math.sin((x - x0) / 6) * Math.sin((y - y0) / 9);
        const i = (y * w + x) * 3;
        scene[i] = r + t;
        scene[i + 1] = g + t;
        scene[i + 2] = b + t;
      }
    }
  }
}

/** A mask image for `width` x `height`: white, with black (ignored) over the given box (shares). */
export async function maskPng(width: number, height: number, box: { x0: number; y0: number; x1: number; y1: number }): Promise<Buffer> {
  const data = Buffer.alloc(width * height, 255);
  for (let y = Math.floor(box.y0 * height); y < Math.ceil(box.y1 * height); y++) {
    data.fill(0, y * width + Math.floor(box.x0 * width), y * width + Math.ceil(box.x1 * width));
  }
  return sharp(data, { raw: { width, height, channels: 1 } }).png().toBuffer();
}
