import { accessSync, constants, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SurveillanceError, type Spec, type Values } from '@surveillance/shared';
import { decodeGrey, loadMaskImage, scaleMask, type GreyFrame } from './greyscale.ts';

/**
 * Decides whether a frame differs from the scene's reference enough to keep it.
 *
 * Each JPEG is decoded at about 200 px wide in greyscale (libjpeg DCT scaling: a 1080p frame is
 * never decoded in full; the 1/8 scale alone averages away most sensor noise). The frame is
 * compared with a reference that adapts slowly. Before differencing, a smooth tone curve
 * (quadratic in the reference's grey level, fitted robustly so that a moving object does not
 * pull it) maps the reference to the frame's exposure: lights, auto exposure and clouds change
 * that curve, motion does not. Pixels whose residual exceeds the noise level count as changed,
 * except isolated ones (despeckle); the frame is kept when their share of the unmasked frame
 * reaches the threshold. After a large tone change the reference is re-based on the new frame,
 * but the frame still counts as motion when a localized blob remains after normalisation.
 */

export const detectorSpec = {
  threshold: {
    kind: 'number',
    default: 0.005,
    min: 0,
    max: 1,
    description: 'share of the frame that must change for a frame to be kept (0.005 = 0.5%)',
  },
  noise: {
    kind: 'string',
    default: 'auto',
    description:
      "grey levels (0-255, on the downscaled frame) a pixel must change by to count, or 'auto' to follow the sensor's noise",
  },
  mask: {
    kind: 'path',
    description: 'image (PNG, JPEG...) of the camera view, stretched to the frame: dark areas are ignored',
  },
  'analysis-width': {
    kind: 'int',
    default: 200,
    min: 16,
    max: 4096,
    description: 'width in px of the greyscale frame that is compared (rounded to a size JPEG decodes fast)',
  },
} as const satisfies Spec;

export interface DetectorOptions {
  /** Share (0-1) of the unmasked frame that must change. */
  readonly threshold: number;
  /** Per-pixel difference in grey levels that counts as a change, or adaptive. */
  readonly noise: number | 'auto';
  readonly mask?: string | undefined;
  readonly analysisWidth: number;
}

export type DetectorValues = Values<typeof detectorSpec>;

function usage(message: string): SurveillanceError {
  return new SurveillanceError('usage', message);
}

/** Checks what the options funnel cannot (noise's two forms, the mask file) and freezes. */
export function detectorOptions(values: DetectorValues): DetectorOptions {
  const noiseText = values.noise.trim().toLowerCase();
  let noise: number | 'auto';
  if (noiseText === 'auto') noise = 'auto';
  else {
    noise = noiseText === '' ? Number.NaN : Number(noiseText);
    if (!Number.isFinite(noise) || noise < 0 || noise > 255) {
      throw usage(`option noise: ${JSON.stringify(values.noise)} is not valid: expected 'auto' or a number of grey levels from 0 to 255`);
    }
  }
  if (values.mask !== undefined) {
    try {
      accessSync(values.mask, constants.R_OK);
    } catch (e) {
      throw usage(`option mask: cannot read ${values.mask}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!statSync(values.mask).isFile()) throw usage(`option mask: ${values.mask} is not a file`);
  }
  return Object.freeze({ threshold: values.threshold, noise, mask: values.mask, analysisWidth: values['analysis-width'] });
}

export type DecisionReason = 'first' | 'motion' | 'still' | 'lighting';

/** One decision, plain data, meant to be logged whole at debug level. */
export interface Decision {
  changed: boolean;
  reason: DecisionReason;
  /** Share (0-1) of the unmasked analysis frame that changed, after despeckle. */
  changedShare: number;
  /** Per-pixel threshold in grey levels used for this frame (fixed or estimated). */
  noiseLevel: number;
  /** Mean change in grey levels that the exposure/lighting model explained away (signed). */
  brightnessShift: number;
  /** Time spent deciding, decode included. */
  ms: number;
  /** Analysis frame size, e.g. "213x120". */
  size: string;
}

/** Reference adaptation per frame, for pixels that did not change and for those that did. */
const ADAPT_STILL = 0.1;
/** Slow enough that motion stays visible; a parked car still becomes background in ~60 frames. */
const ADAPT_CHANGED = 0.05;
/** Auto noise: threshold = sigmas x the running robust noise estimate, within these bounds. */
const AUTO_NOISE_SIGMAS = 4;
const AUTO_NOISE_FLOOR = 6;
const AUTO_NOISE_CEILING = 64;
const NOISE_SMOOTHING = 0.1;
/** Frames where more than this share changed say little about noise: not used for the estimate. */
const NOISE_ESTIMATE_MAX_SHARE = 0.1;
/** Mean |tone change| in grey levels beyond which the reference is re-based (a "lightswitch"). */
const LIGHTING_TONE_CHANGE = 10;
/** A changed pixel counts only with at least this many changed among its 8 neighbours. */
const DESPECKLE_NEIGHBOURS = 3;
/** Pull of the tone curve towards "no change" (ridge), so flat scenes fit an offset only. */
const TONE_RIDGE = 1e-3;
const TONE_ITERATIONS = 2;
/** The tone fit reads every FIT_STEP-th pixel (odd, so that it does not follow columns). */
const FIT_STEP = 3;
/** The guesses only need to be told apart: a sparser sample. */
const GUESS_STEP = 7;
const TONE_CUTOFF_SIGMAS = 3;
const TONE_MIN_CUTOFF = 3;
const CLIPPED_LOW = 3;
const CLIPPED_HIGH = 252;
/** Grid of the smooth residual field removed after a lighting change (columns; rows by aspect). */
const FIELD_COLUMNS = 8;
const LOCAL_RIDGE = 0.01;
/** How far (in noise levels) a block's light may differ from its neighbours' before it is called an object. */
const LOCAL_LIGHT_TOLERANCE_NOISES = 2;

interface Tone {
  a: number;
  b: number;
  c: number;
}

const IDENTITY: Tone = { a: 0, b: 1, c: 0 };

/** The detector's scratch buffers for one analysis size. */
class Scene {
  readonly n: number;
  readonly reference: Float32Array;
  readonly predicted: Float32Array;
  readonly residual: Float32Array;
  readonly changed: Uint8Array;
  readonly active: Uint8Array;
  readonly activeCount: number;
  constructor(
    readonly width: number,
    readonly height: number,
    active: Uint8Array | undefined,
    grey: Uint8Array,
  ) {
    this.n = width * height;
    this.reference = Float32Array.from(grey);
    this.predicted = new Float32Array(this.n);
    this.residual = new Float32Array(this.n);
    this.changed = new Uint8Array(this.n);
    this.active = active ?? new Uint8Array(this.n).fill(1);
    let count = 0;
    for (let i = 0; i < this.n; i++) count += this.active[i]!;
    this.activeCount = count;
  }
}

export class ChangeDetector {
  private scene: Scene | undefined;
  private sigma: number | undefined;
  private readonly masks = new Map<string, Promise<Uint8Array>>();
  /** decide() and setReference() run one at a time: both read and write the reference. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly options: DetectorOptions,
    private readonly maskImage: GreyFrame | undefined,
  ) {}

  static async create(options: DetectorOptions): Promise<ChangeDetector> {
    let maskImage: GreyFrame | undefined;
    if (options.mask !== undefined) {
      try {
        maskImage = await loadMaskImage(options.mask);
      } catch (e) {
        throw usage(`option mask: ${options.mask} is not an image that can be read: ${(e as Error).message}`);
      }
      if (!maskImage.data.some((v) => v >= 128)) {
        throw usage(`option mask: ${options.mask} is dark everywhere, so nothing would be compared (light = compared, dark = ignored)`);
      }
    }
    return new ChangeDetector(options, maskImage);
  }

  /** Compares `jpeg` with the reference and updates the reference. */
  decide(jpeg: Buffer): Promise<Decision> {
    return this.serial(() => this.decideNow(jpeg));
  }

  /** Makes `jpeg` the reference (e.g. the last frame sent), keeping the noise estimate. */
  setReference(jpeg: Buffer): Promise<void> {
    return this.serial(async () => {
      const grey = await decodeGrey(jpeg, this.options.analysisWidth);
      await this.rebase(grey);
    });
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async rebase(grey: GreyFrame): Promise<Scene> {
    const s = this.scene;
    if (s && s.width === grey.width && s.height === grey.height) {
      s.reference.set(grey.data);
      return s;
    }
    const active = await this.maskFor(grey.width, grey.height);
    this.scene = new Scene(grey.width, grey.height, active, grey.data);
    return this.scene;
  }

  private maskFor(width: number, height: number): Promise<Uint8Array> | undefined {
    if (!this.maskImage) return undefined;
    const key = `${width}x${height}`;
    let mask = this.masks.get(key);
    if (!mask) {
      mask = scaleMask(this.maskImage, width, height);
      this.masks.set(key, mask);
    }
    return mask;
  }

  private noiseLevel(): number {
    if (this.options.noise !== 'auto') return this.options.noise;
    if (this.sigma === undefined) return AUTO_NOISE_FLOOR;
    return Math.min(AUTO_NOISE_CEILING, Math.max(AUTO_NOISE_FLOOR, AUTO_NOISE_SIGMAS * this.sigma));
  }

  private async decideNow(jpeg: Buffer): Promise<Decision> {
    const start = performance.now();
    const grey = await decodeGrey(jpeg, this.options.analysisWidth);
    const size = `${grey.width}x${grey.height}`;
    const s = this.scene;
    if (!s || s.width !== grey.width || s.height !== grey.height) {
      await this.rebase(grey);
      return { changed: true, reason: 'first', changedShare: 1, noiseLevel: this.noiseLevel(), brightnessShift: 0, ms: performance.now() - start, size };
    }
    const cur = grey.data;
    fitTone(s, cur);
    const { shift, change } = toneShift(s);
    const lighting = change >= LIGHTING_TONE_CHANGE;
    if (lighting) removeLocalLight(s, LOCAL_LIGHT_TOLERANCE_NOISES * this.noiseLevel());

    if (this.options.noise === 'auto' && !lighting) {
      const frameSigma = robustSigma(s);
      // Motion over a large share of the frame inflates the median: such frames are skipped.
      const outliers = countAbove(s, AUTO_NOISE_SIGMAS * frameSigma) / s.activeCount;
      if (outliers <= NOISE_ESTIMATE_MAX_SHARE) {
        this.sigma = this.sigma === undefined ? frameSigma : this.sigma + NOISE_SMOOTHING * (frameSigma - this.sigma);
      }
    }
    // A lighting frame's residual holds what the light model could not explain: only what
    // stands out from this frame's own spread counts.
    const noiseLevel = lighting ? Math.max(this.noiseLevel(), AUTO_NOISE_SIGMAS * robustSigma(s)) : this.noiseLevel();
    markChanged(s, noiseLevel);
    const changedShare = despeckledCount(s) / s.activeCount;
    const changed = changedShare > 0 && changedShare >= this.options.threshold;

    if (lighting) s.reference.set(cur);
    else adaptReference(s, cur);
    return {
      changed,
      reason: changed ? 'motion' : lighting ? 'lighting' : 'still',
      changedShare,
      noiseLevel,
      brightnessShift: shift,
      ms: performance.now() - start,
      size,
    };
  }
}

/**
 * Fits cur ≈ f(reference), f quadratic in the reference's grey level, and leaves f(reference)
 * in `predicted` and cur - f(reference) in `residual`. Least squares alone would be pulled by
 * a large moving object, so the fit starts from the most plausible of a few robust guesses
 * (no change; a uniform offset; the curve through the 10th, 50th and 90th percentiles), judged
 * by the median residual, and is then refitted on the pixels that follow the curve. Three
 * parameters need far fewer pixels than a frame has: the fit reads every FIT_STEP-th one.
 */
function fitTone(s: Scene, cur: Uint8Array): void {
  let best = IDENTITY;
  let bestSigma = Infinity;
  for (const guess of toneGuesses(s, cur)) {
    const sigma = sampledSigma(s, cur, guess, GUESS_STEP);
    if (sigma < bestSigma) [best, bestSigma] = [guess, sigma];
  }
  const { n, reference: ref, active } = s;
  for (let iteration = 0; iteration < TONE_ITERATIONS; iteration++) {
    const cutoff = Math.max(TONE_MIN_CUTOFF, TONE_CUTOFF_SIGMAS * bestSigma);
    const { a, b, c } = best;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, t0 = 0, t1 = 0, t2 = 0;
    for (let i = 0; i < n; i += FIT_STEP) {
      const v = cur[i]!;
      // Clipped pixels say nothing about the curve, only that it went past the end.
      if (!active[i] || v >= CLIPPED_HIGH || v <= CLIPPED_LOW) continue;
      const x = (ref[i]! - 128) / 128;
      const x2 = x * x;
      if (Math.abs(v - clampLevel(128 + 128 * (a + b * x + c * x2))) > cutoff) continue;
      const y = (v - 128) / 128;
      s0 += 1; s1 += x; s2 += x2; s3 += x2 * x; s4 += x2 * x2;
      t0 += y; t1 += x * y; t2 += x2 * y;
    }
    if (s0 === 0) break;
    const ridge = TONE_RIDGE * s0;
    const tone = solveTone([
      [s0, s1, s2, t0],
      [s1, s2 + ridge, s3, t1 + ridge],
      [s2, s3, s4 + ridge, t2],
    ]);
    if (!tone) break;
    best = tone;
    if (iteration + 1 < TONE_ITERATIONS) bestSigma = sampledSigma(s, cur, tone, FIT_STEP);
  }
  applyTone(s, cur, best);
}

function clampLevel(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

const PERCENTILES = [0.1, 0.5, 0.9];
const refHistogram = new Uint32Array(256);
const curHistogram = new Uint32Array(256);
const diffHistogram = new Uint32Array(511);

function toneGuesses(s: Scene, cur: Uint8Array): Tone[] {
  refHistogram.fill(0);
  curHistogram.fill(0);
  diffHistogram.fill(0);
  const { n, active, reference: ref } = s;
  let count = 0;
  for (let i = 0; i < n; i += FIT_STEP) {
    if (!active[i]) continue;
    const r = Math.round(ref[i]!);
    const v = cur[i]!;
    refHistogram[r]!++;
    curHistogram[v]!++;
    diffHistogram[v - r + 255]!++;
    count++;
  }
  const guesses = [IDENTITY, { a: (percentile(diffHistogram, 0.5, count) - 255) / 128, b: 1, c: 0 }];
  const xs = PERCENTILES.map((p) => (percentile(refHistogram, p, count) - 128) / 128);
  const ys = PERCENTILES.map((p) => (percentile(curHistogram, p, count) - 128) / 128);
  const throughPercentiles = solveTone(xs.map((x, k) => [1, x, x * x, ys[k]!]));
  if (throughPercentiles) guesses.push(throughPercentiles);
  return guesses;
}

function percentile(histogram: Uint32Array, p: number, total: number): number {
  let seen = 0;
  for (let bin = 0; bin < histogram.length; bin++) {
    seen += histogram[bin]!;
    if (seen >= p * total) return bin;
  }
  return histogram.length - 1;
}

/** Gaussian elimination with partial pivoting on a 3x4 augmented matrix; undefined if singular. */
function solveTone(m: number[][]): Tone | undefined {
  for (let col = 0; col < 3; col++) {
    let pivot = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    if (Math.abs(m[pivot]![col]!) < 1e-9) return undefined;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const k = m[r]![col]! / m[col]![col]!;
      for (let c = col; c < 4; c++) m[r]![c]! -= k * m[col]![c]!;
    }
  }
  return { a: m[0]![3]! / m[0]![0]!, b: m[1]![3]! / m[1]![1]!, c: m[2]![3]! / m[2]![2]! };
}

function applyTone(s: Scene, cur: Uint8Array, { a, b, c }: Tone): void {
  const { n, reference: ref, predicted, residual } = s;
  for (let i = 0; i < n; i++) {
    const x = (ref[i]! - 128) / 128;
    const p = clampLevel(128 + 128 * (a + b * x + c * x * x));
    predicted[i] = p;
    residual[i] = cur[i]! - p;
  }
}

/** Mean signed and mean absolute difference between f(reference) and the reference. */
function toneShift(s: Scene): { shift: number; change: number } {
  let sum = 0;
  let abs = 0;
  for (let i = 0; i < s.n; i++) {
    if (!s.active[i]) continue;
    const d = s.predicted[i]! - s.reference[i]!;
    sum += d;
    abs += Math.abs(d);
  }
  return { shift: sum / s.activeCount, change: abs / s.activeCount };
}

const SIGMA_BINS_PER_LEVEL = 4;
const sigmaHistogram = new Uint32Array(256 * SIGMA_BINS_PER_LEVEL + 1);

/** 1.4826 x the median of a histogram of absolute residuals: a standard deviation that ignores motion. */
function sigmaFromHistogram(count: number): number {
  let seen = 0;
  for (let bin = 0; bin < sigmaHistogram.length; bin++) {
    seen += sigmaHistogram[bin]!;
    if (seen >= count / 2) return (1.4826 * bin) / SIGMA_BINS_PER_LEVEL;
  }
  return 0;
}

function binOf(absResidual: number): number {
  const bin = (absResidual * SIGMA_BINS_PER_LEVEL + 0.5) | 0;
  return bin < sigmaHistogram.length ? bin : sigmaHistogram.length - 1;
}

/** Robust noise of the residual left in the scene. */
function robustSigma(s: Scene): number {
  const { n, active, residual } = s;
  const histogram = sigmaHistogram;
  histogram.fill(0);
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (!active[i]) continue;
    histogram[binOf(Math.abs(residual[i]!))]!++;
    count++;
  }
  return sigmaFromHistogram(count);
}

/** Robust noise of cur - tone(reference), on the fit's sample of pixels. */
function sampledSigma(s: Scene, cur: Uint8Array, { a, b, c }: Tone, step: number): number {
  const { n, active, reference: ref } = s;
  const histogram = sigmaHistogram;
  histogram.fill(0);
  let count = 0;
  for (let i = 0; i < n; i += step) {
    if (!active[i]) continue;
    const x = (ref[i]! - 128) / 128;
    histogram[binOf(Math.abs(cur[i]! - clampLevel(128 + 128 * (a + b * x + c * x * x))))]!++;
    count++;
  }
  return sigmaFromHistogram(count);
}

function countAbove(s: Scene, level: number): number {
  let count = 0;
  for (let i = 0; i < s.n; i++) if (s.active[i] && Math.abs(s.residual[i]!) > level) count++;
  return count;
}

function markChanged(s: Scene, level: number): void {
  for (let i = 0; i < s.n; i++) s.changed[i] = s.active[i] && Math.abs(s.residual[i]!) > level ? 1 : 0;
}

/** Changed pixels with enough changed neighbours: single noisy pixels and thin edges drop out. */
function despeckledCount(s: Scene): number {
  const { width: w, height: h, changed } = s;
  let count = 0;
  for (let y = 0; y < h; y++) {
    const y0 = Math.max(0, y - 1);
    const y1 = Math.min(h - 1, y + 1);
    for (let x = 0; x < w; x++) {
      if (!changed[y * w + x]) continue;
      const x0 = Math.max(0, x - 1);
      const x1 = Math.min(w - 1, x + 1);
      let neighbours = -1;
      for (let yy = y0; yy <= y1; yy++) for (let xx = x0; xx <= x1; xx++) neighbours += changed[yy * w + xx]!;
      if (neighbours >= DESPECKLE_NEIGHBOURS) count++;
    }
  }
  return count;
}

/**
 * After a lighting change the light is rarely uniform (a lamp lights its corner more, and
 * brighter surfaces more than darker ones): fits the residual as a + b x f(reference) per block,
 * robustly, takes the median of each parameter over 3x3 blocks, so that an object covering
 * less than about half of that neighbourhood cannot be explained away as light, and removes
 * the bilinearly interpolated correction.
 */
function removeLocalLight(s: Scene, tolerance: number): void {
  const { width: w, height: h, residual, predicted, active } = s;
  const cols = Math.max(2, Math.min(FIELD_COLUMNS, w));
  const rows = Math.max(2, Math.min(h, Math.round((FIELD_COLUMNS * h) / w)));
  const blockA = new Float32Array(cols * rows).fill(Number.NaN);
  const blockB = new Float32Array(cols * rows).fill(Number.NaN);
  const blockLevel = new Float32Array(cols * rows).fill(128);
  const values: number[] = [];
  for (let by = 0; by < rows; by++) {
    const ys = Math.floor((by * h) / rows), ye = Math.floor(((by + 1) * h) / rows);
    for (let bx = 0; bx < cols; bx++) {
      const xs = Math.floor((bx * w) / cols), xe = Math.floor(((bx + 1) * w) / cols);
      let cutoff = Infinity;
      for (let iteration = 0; iteration < 2; iteration++) {
        let n = 0, sx = 0, sxx = 0, sy = 0, sxy = 0;
        values.length = 0;
        for (let y = ys; y < ye; y++) {
          for (let x = xs; x < xe; x++) {
            const i = y * w + x;
            if (!active[i]) continue;
            const x1 = (predicted[i]! - 128) / 128;
            const r = residual[i]! - (iteration ? blockA[by * cols + bx]! + blockB[by * cols + bx]! * x1 : 0);
            if (Math.abs(r) > cutoff) continue;
            n++; sx += x1; sxx += x1 * x1; sy += residual[i]!; sxy += x1 * residual[i]!;
            values.push(Math.abs(r));
          }
        }
        if (n < 8) break;
        const ridge = LOCAL_RIDGE * n;
        const mx = sx / n, my = sy / n;
        const b = (sxy - n * mx * my) / (sxx - n * mx * mx + ridge);
        blockA[by * cols + bx] = my - b * mx;
        blockB[by * cols + bx] = b;
        blockLevel[by * cols + bx] = 128 + 128 * mx;
        cutoff = Math.max(3, 2.5 * 1.4826 * median(values));
      }
    }
  }
  // A block that disagrees with its neighbourhood by more than `tolerance` grey levels (at its
  // own mean level) is an object, not light: it takes the neighbourhood's median instead.
  const medianA = medianOfNeighbours(blockA, cols, rows);
  const medianB = medianOfNeighbours(blockB, cols, rows);
  const fieldA = new Float32Array(cols * rows);
  const fieldB = new Float32Array(cols * rows);
  for (let k = 0; k < cols * rows; k++) {
    const x1 = (blockLevel[k]! - 128) / 128;
    const own = blockA[k]! + blockB[k]! * x1;
    const near = medianA[k]! + medianB[k]! * x1;
    const keep = !Number.isNaN(own) && Math.abs(own - near) <= tolerance;
    fieldA[k] = keep ? blockA[k]! : medianA[k]!;
    fieldB[k] = keep ? blockB[k]! : medianB[k]!;
  }
  // Bilinear between block centres, extrapolated over the outer half blocks: light keeps its
  // slope up to the frame's edge.
  for (let y = 0; y < h; y++) {
    const fy = ((y + 0.5) * rows) / h - 0.5;
    const y0 = Math.min(rows - 2, Math.max(0, Math.floor(fy))), y1 = y0 + 1, wy = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = ((x + 0.5) * cols) / w - 0.5;
      const x0 = Math.min(cols - 2, Math.max(0, Math.floor(fx))), x1 = x0 + 1, wx = fx - x0;
      const k00 = (1 - wx) * (1 - wy), k01 = wx * (1 - wy), k10 = (1 - wx) * wy, k11 = wx * wy;
      const a = fieldA[y0 * cols + x0]! * k00 + fieldA[y0 * cols + x1]! * k01 + fieldA[y1 * cols + x0]! * k10 + fieldA[y1 * cols + x1]! * k11;
      const b = fieldB[y0 * cols + x0]! * k00 + fieldB[y0 * cols + x1]! * k01 + fieldB[y1 * cols + x0]! * k10 + fieldB[y1 * cols + x1]! * k11;
      const i = y * w + x;
      residual[i]! -= a + b * ((predicted[i]! - 128) / 128);
    }
  }
}

function medianOfNeighbours(grid: Float32Array, cols: number, rows: number): Float32Array {
  const out = new Float32Array(cols * rows);
  const values: number[] = [];
  for (let by = 0; by < rows; by++) {
    for (let bx = 0; bx < cols; bx++) {
      values.length = 0;
      for (let y = Math.max(0, by - 1); y <= Math.min(rows - 1, by + 1); y++) {
        for (let x = Math.max(0, bx - 1); x <= Math.min(cols - 1, bx + 1); x++) {
          const v = grid[y * cols + x]!;
          if (!Number.isNaN(v)) values.push(v);
        }
      }
      out[by * cols + bx] = values.length ? median(values) : 0;
    }
  }
  return out;
}

function median(values: number[]): number {
  values.sort((p, q) => p - q);
  const mid = values.length >> 1;
  return values.length % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}

function adaptReference(s: Scene, cur: Uint8Array): void {
  const { n, reference: ref, changed } = s;
  for (let i = 0; i < n; i++) {
    const rate = changed[i] ? ADAPT_CHANGED : ADAPT_STILL;
    ref[i]! += rate * (cur[i]! - ref[i]!);
  }
}
