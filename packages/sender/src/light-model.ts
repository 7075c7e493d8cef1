/**
 * What lighting explains in a frame, so that only the rest is compared.
 *
 * A global tone curve (quadratic in the reference's grey level) maps the reference to the
 * frame's exposure: lights, auto exposure and clouds change that curve, motion does not. After
 * a lighting change a coarse local correction follows, for light that is not uniform (a lamp).
 * Both are fitted robustly, so that a moving object is left in the residual rather than
 * explained away. Pure code over grey levels: no I/O.
 */

/** Pull of the tone curve towards "no change" (ridge), so flat scenes fit an offset only. */
const TONE_RIDGE = 1e-3;
const TONE_ITERATIONS = 2;
/** The tone fit reads every FIT_STEP-th pixel (odd, so that it does not follow columns). */
const FIT_STEP = 5;
/** The starting guesses only need to be told apart: a sparser sample. */
const GUESS_STEP = 11;
/** Pixels further than this from the curve (in robust sigmas, at least MIN grey levels) are not fitted. */
const TONE_CUTOFF_SIGMAS = 3;
const TONE_MIN_CUTOFF = 3;
/** Clipped pixels say nothing about the curve, only that it went past the end. */
const CLIPPED_LOW = 3;
const CLIPPED_HIGH = 252;
const PERCENTILES = [0.1, 0.5, 0.9];
/** Grid of the local light correction (columns; rows follow the aspect ratio). */
const LOCAL_COLUMNS = 8;
const LOCAL_RIDGE = 0.01;
const LOCAL_CUTOFF_SIGMAS = 2.5;
const SIGMA_BINS_PER_LEVEL = 4;
/** Median absolute deviation to standard deviation, for normal noise. */
const MAD_TO_SIGMA = 1.4826;

/**
 * A tone curve, a + b x + c x^2 on grey levels mapped to [-1, 1]. A class, so that every curve
 * has one shape: curves built as literals in several places (some fields integers, some not)
 * kept V8 deoptimizing the fit on every frame.
 */
class Tone {
  constructor(
    readonly a: number,
    readonly b: number,
    readonly c: number,
  ) {}
}

const IDENTITY = new Tone(0, 1, 0);

const SPREAD_TOP_BIN = 256 * SIGMA_BINS_PER_LEVEL;

/** Histogram of |residual| in quarter grey levels: robust noise and shares above a level. */
class ResidualSpread {
  /** Filled by the pixel loops themselves (`fill`), which a method call per pixel would slow. */
  readonly histogram = new Uint32Array(SPREAD_TOP_BIN + 1);
  private count = 0;

  /** Takes the histogram as filled since `histogram.fill(0)`, of `count` residuals. */
  filled(count: number): void {
    this.count = count;
  }

  /** Replaces the contents with the active pixels of `residual`. */
  measure(residual: Float32Array, active: Uint8Array): void {
    const histogram = this.histogram;
    const top = histogram.length - 1;
    histogram.fill(0);
    let count = 0;
    for (let i = 0; i < residual.length; i++) {
      if (!active[i]) continue;
      const r = residual[i]!;
      const bin = ((r < 0 ? -r : r) * SIGMA_BINS_PER_LEVEL + 0.5) | 0;
      histogram[bin < top ? bin : top]!++;
      count++;
    }
    this.count = count;
  }

  /** 1.4826 x the median: the noise's standard deviation, ignoring a minority of motion. */
  sigma(): number {
    let seen = 0;
    for (let bin = 0; bin < this.histogram.length; bin++) {
      seen += this.histogram[bin]!;
      if (seen >= this.count / 2) return (MAD_TO_SIGMA * bin) / SIGMA_BINS_PER_LEVEL;
    }
    return 0;
  }

  shareAbove(level: number): number {
    let above = 0;
    for (let bin = Math.floor(level * SIGMA_BINS_PER_LEVEL) + 1; bin < this.histogram.length; bin++) above += this.histogram[bin]!;
    return this.count ? above / this.count : 0;
  }
}

/**
 * The reference and the scratch buffers for one analysis size.
 *
 * The pixel loops are written for V8's optimizing compiler: short functions called many times
 * a frame (see CHUNK), locals rather than fields, no call or allocation per pixel, and Math.abs
 * rather than a test of the residual's sign, which noise makes a branch mispredicted every
 * other pixel. The sampled pixels are listed once per scene, and (reference - 128) / 128 is
 * kept for them between the fit's passes. Every value is computed by the same expression, in
 * the same order, as the plain loops over the pixels before them: the decisions are the same.
 */
export class Scene {
  readonly n: number;
  readonly reference: Float32Array;
  /** f(reference): the reference under the frame's light, filled only when lighting changed. */
  readonly predicted: Float32Array;
  /** frame - predicted, after the local correction; filled only when lighting changed. */
  readonly residual: Float32Array;
  private residualReady = false;
  /** The tone curve of the last fit. */
  private tone = IDENTITY;
  readonly changed: Uint8Array;
  /** How many pixels of each row markChanged marked: the rest of a frame is not looked at again. */
  readonly changedInRow: Uint32Array;
  /** 1 where pixels are compared (the mask). */
  readonly active: Uint8Array;
  readonly activeCount: number;
  /** Spread of the residual, as last estimated. */
  readonly spread = new ResidualSpread();
  private readonly sample = new ResidualSpread();
  /** The active pixels the tone fit reads (every FIT_STEP-th), and those the guesses are judged on. */
  private readonly fitPixels: Int32Array;
  private readonly guessPixels: Int32Array;
  /** (reference - 128) / 128 at fitPixels and guessPixels, for the frame being fitted. */
  private readonly fitX: Float64Array;
  private readonly guessX: Float64Array;
  private readonly refHistogram = new Uint32Array(256);
  private readonly curHistogram = new Uint32Array(256);
  private readonly diffHistogram = new Uint32Array(511);
  /** markChanged's adaptation rates, [still, changed]. */
  private readonly rates = new Float64Array(2);
  /** Running sums of the sampled loops, carried from one CHUNK to the next. */
  private readonly sums = new Float64Array(8);
  /** The 3x4 augmented matrix solveTone works on, row by row. */
  private readonly system = new Float64Array(12);

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
    this.changedInRow = new Uint32Array(height);
    this.active = active ?? new Uint8Array(this.n).fill(1);
    let count = 0;
    for (let i = 0; i < this.n; i++) count += this.active[i]!;
    this.activeCount = count;
    this.fitPixels = activeEvery(this.active, FIT_STEP);
    this.guessPixels = activeEvery(this.active, GUESS_STEP);
    this.fitX = new Float64Array(this.fitPixels.length);
    this.guessX = new Float64Array(this.guessPixels.length);
  }

  /**
   * Fits the global tone curve to `cur` and estimates the residual's spread on a sample.
   * Returns how far the curve moved the reference: mean signed and mean absolute change, in
   * grey levels. The residual itself is only computed where needed (`removeLocalLight`,
   * `markChanged`): on most frames one pass over the pixels does all that is left.
   */
  fitLight(cur: Uint8Array): { shift: number; change: number } {
    this.tone = this.fitTone(cur);
    this.residualReady = false;
    const { reference: ref, fitPixels: pixels, fitX: xs, spread, sums } = this;
    const { a, b, c } = this.tone;
    const histogram = spread.histogram;
    histogram.fill(0);
    sums[0] = sums[1] = 0;
    for (let from = 0; from < pixels.length; from += CHUNK) {
      addShifts(ref, cur, pixels, xs, from, Math.min(pixels.length, from + CHUNK), a, b, c, histogram, sums);
    }
    const count = pixels.length;
    spread.filled(count);
    return { shift: count ? sums[0]! / count : 0, change: count ? sums[1]! / count : 0 };
  }

  /**
   * Marks the active pixels whose residual exceeds `level` and, if `adapt`, moves the reference
   * towards the frame: quickly where nothing changed (drift), slowly where something did (so
   * that a parked object ends up as background).
   */
  markChanged(cur: Uint8Array, level: number, adapt: { still: number; changed: number } | undefined): void {
    const { width: w, height: h, active, residual, changed, changedInRow, reference: ref, residualReady } = this;
    const { a, b, c } = this.tone;
    if (adapt && !residualReady) {
      // The usual frame, one row per call (see CHUNK), without the branches of the general case.
      const rates = this.rates;
      rates[0] = adapt.still;
      rates[1] = adapt.changed;
      for (let y = 0; y < h; y++) changedInRow[y] = markAndAdapt(cur, ref, active, changed, y * w, y * w + w, a, b, c, level, rates);
      return;
    }
    for (let y = 0, i = 0; y < h; y++) {
      let marked = 0;
      for (const rowEnd = i + w; i < rowEnd; i++) {
        let r: number;
        if (residualReady) r = residual[i]!;
        else {
          const x = (ref[i]! - 128) / 128;
          r = cur[i]! - clampLevel(128 + 128 * (a + b * x + c * x * x));
        }
        const mark = active[i] && (r > level || r < -level) ? 1 : 0;
        changed[i] = mark;
        marked += mark;
        if (adapt) ref[i]! += (mark ? adapt.changed : adapt.still) * (cur[i]! - ref[i]!);
      }
      changedInRow[y] = marked;
    }
  }

  /**
   * Least squares alone would be pulled by a large moving object, so the fit starts from the
   * most plausible of a few robust guesses (no change; a uniform offset; the curve through the
   * 10th, 50th and 90th percentiles), judged by the median residual, and is then refitted on
   * the pixels that follow the curve.
   */
  private fitTone(cur: Uint8Array): Tone {
    const guesses = this.toneGuesses(cur);
    const { reference: ref, guessPixels, guessX, fitPixels: pixels, fitX: xs, sums } = this;
    for (let from = 0; from < guessPixels.length; from += CHUNK) levelsAt(ref, guessPixels, guessX, from, Math.min(guessPixels.length, from + CHUNK));
    let best = IDENTITY;
    let bestSigma = Infinity;
    for (const guess of guesses) {
      const sigma = this.sampledSigma(cur, guess, guessPixels, guessX);
      if (sigma < bestSigma) {
        best = guess;
        bestSigma = sigma;
      }
    }
    for (let iteration = 0; iteration < TONE_ITERATIONS; iteration++) {
      const cutoff = Math.max(TONE_MIN_CUTOFF, TONE_CUTOFF_SIGMAS * bestSigma);
      const { a, b, c } = best;
      sums.fill(0);
      for (let from = 0; from < pixels.length; from += CHUNK) {
        addFitSums(cur, pixels, xs, from, Math.min(pixels.length, from + CHUNK), a, b, c, cutoff, sums);
      }
      const s0 = sums[0]!, s1 = sums[1]!, s2 = sums[2]!, s3 = sums[3]!, s4 = sums[4]!, t0 = sums[5]!, t1 = sums[6]!, t2 = sums[7]!;
      if (s0 === 0) break;
      const ridge = TONE_RIDGE * s0;
      const m = this.system;
      m[0] = s0; m[1] = s1; m[2] = s2; m[3] = t0;
      m[4] = s1; m[5] = s2 + ridge; m[6] = s3; m[7] = t1 + ridge;
      m[8] = s2; m[9] = s3; m[10] = s4 + ridge; m[11] = t2;
      const tone = solveTone(m);
      if (!tone) break;
      best = tone;
      if (iteration + 1 < TONE_ITERATIONS) bestSigma = this.sampledSigma(cur, tone, pixels, xs);
    }
    return best;
  }

  /** Also notes (reference - 128) / 128 at the fit's pixels, which the rest of the fit reads. */
  private toneGuesses(cur: Uint8Array): Tone[] {
    const { reference: ref, fitPixels: pixels, fitX: xs, refHistogram, curHistogram, diffHistogram } = this;
    refHistogram.fill(0);
    curHistogram.fill(0);
    diffHistogram.fill(0);
    for (let from = 0; from < pixels.length; from += CHUNK) {
      addLevels(ref, cur, pixels, xs, from, Math.min(pixels.length, from + CHUNK), refHistogram, curHistogram, diffHistogram);
    }
    const count = pixels.length;
    const guesses = [IDENTITY, new Tone((percentile(diffHistogram, 0.5, count) - 255) / 128, 1, 0)];
    const m = this.system;
    for (let k = 0; k < PERCENTILES.length; k++) {
      const x = (percentile(refHistogram, PERCENTILES[k]!, count) - 128) / 128;
      m[4 * k] = 1;
      m[4 * k + 1] = x;
      m[4 * k + 2] = x * x;
      m[4 * k + 3] = (percentile(curHistogram, PERCENTILES[k]!, count) - 128) / 128;
    }
    const throughPercentiles = solveTone(m);
    if (throughPercentiles) guesses.push(throughPercentiles);
    return guesses;
  }

  /** Robust noise of cur - tone(reference) on `pixels`, whose (reference - 128) / 128 is `xs`. */
  private sampledSigma(cur: Uint8Array, { a, b, c }: Tone, pixels: Int32Array, xs: Float64Array): number {
    const { sample } = this;
    const histogram = sample.histogram;
    histogram.fill(0);
    for (let from = 0; from < pixels.length; from += CHUNK) addResiduals(cur, pixels, xs, from, Math.min(pixels.length, from + CHUNK), a, b, c, histogram);
    sample.filled(pixels.length);
    return sample.sigma();
  }

  /**
   * After a lighting change the light is rarely uniform (a lamp lights its corner more, and
   * brighter surfaces more than darker ones): fits the residual as a + b x predicted per block,
   * robustly. A block whose correction differs from its 3x3 neighbourhood's median by more than
   * `tolerance` grey levels (at its own mean level) is an object, not light, and takes the
   * median instead. The bilinearly interpolated correction is removed from the residual and
   * `spread` is recomputed.
   */
  removeLocalLight(cur: Uint8Array, tolerance: number): void {
    const { width: w, height: h, residual, predicted, active, reference: ref } = this;
    const { a: ta, b: tb, c: tc } = this.tone;
    for (let i = 0; i < this.n; i++) {
      const x = (ref[i]! - 128) / 128;
      predicted[i] = clampLevel(128 + 128 * (ta + tb * x + tc * x * x));
      residual[i] = cur[i]! - predicted[i]!;
    }
    const cols = Math.max(2, Math.min(LOCAL_COLUMNS, w));
    const rows = Math.max(2, Math.min(h, Math.round((LOCAL_COLUMNS * h) / w)));
    const blockA = new Float32Array(cols * rows).fill(Number.NaN);
    const blockB = new Float32Array(cols * rows).fill(Number.NaN);
    const blockLevel = new Float32Array(cols * rows).fill(128);
    const values: number[] = [];
    for (let by = 0; by < rows; by++) {
      const ys = Math.floor((by * h) / rows), ye = Math.floor(((by + 1) * h) / rows);
      for (let bx = 0; bx < cols; bx++) {
        const xs = Math.floor((bx * w) / cols), xe = Math.floor(((bx + 1) * w) / cols);
        const k = by * cols + bx;
        let cutoff = Infinity;
        for (let iteration = 0; iteration < 2; iteration++) {
          let n = 0, sx = 0, sxx = 0, sy = 0, sxy = 0;
          values.length = 0;
          for (let y = ys; y < ye; y++) {
            for (let x = xs; x < xe; x++) {
              const i = y * w + x;
              if (!active[i]) continue;
              const level = (predicted[i]! - 128) / 128;
              const r = residual[i]! - (iteration ? blockA[k]! + blockB[k]! * level : 0);
              if (Math.abs(r) > cutoff) continue;
              n++; sx += level; sxx += level * level; sy += residual[i]!; sxy += level * residual[i]!;
              values.push(Math.abs(r));
            }
          }
          if (n < 8) break;
          const mx = sx / n, my = sy / n;
          const b = (sxy - n * mx * my) / (sxx - n * mx * mx + LOCAL_RIDGE * n);
          blockA[k] = my - b * mx;
          blockB[k] = b;
          blockLevel[k] = mx;
          cutoff = Math.max(TONE_MIN_CUTOFF, LOCAL_CUTOFF_SIGMAS * MAD_TO_SIGMA * median(values));
        }
      }
    }
    const medianA = medianOfNeighbours(blockA, cols, rows);
    const medianB = medianOfNeighbours(blockB, cols, rows);
    const fieldA = new Float32Array(cols * rows);
    const fieldB = new Float32Array(cols * rows);
    for (let k = 0; k < cols * rows; k++) {
      const own = blockA[k]! + blockB[k]! * blockLevel[k]!;
      const near = medianA[k]! + medianB[k]! * blockLevel[k]!;
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
    this.spread.measure(residual, active);
    this.residualReady = true;
  }
}

/**
 * Sampled pixels per call of the loops below, which carry their sums over from one call to the
 * next in the same order as one loop would. V8 compiles a function whose loop runs long in its
 * first call on stack replacement, before the code after the loop ever ran: that code then has
 * no type feedback and deoptimizes, and the compiled loop is entered again on every frame, so
 * the fit deoptimized on every frame. Loops of a few hundred pixels, called many times a
 * frame, are compiled whole, with the feedback of earlier calls.
 */
const CHUNK = 256;

/** toneGuesses' histograms, and (reference - 128) / 128 into `xs`, over pixels[from, to). */
function addLevels(
  ref: Float32Array,
  cur: Uint8Array,
  pixels: Int32Array,
  xs: Float64Array,
  from: number,
  to: number,
  refHistogram: Uint32Array,
  curHistogram: Uint32Array,
  diffHistogram: Uint32Array,
): void {
  for (let j = from; j < to; j++) {
    const i = pixels[j]!;
    const level = ref[i]!;
    const r = Math.round(level);
    const v = cur[i]!;
    xs[j] = (level - 128) / 128;
    refHistogram[r]!++;
    curHistogram[v]!++;
    diffHistogram[v - r + 255]!++;
  }
}

/** (reference - 128) / 128 into `xs` over pixels[from, to). */
function levelsAt(ref: Float32Array, pixels: Int32Array, xs: Float64Array, from: number, to: number): void {
  for (let j = from; j < to; j++) xs[j] = (ref[pixels[j]!]! - 128) / 128;
}

/** |cur - tone(reference)| over pixels[from, to), into a spread histogram. */
function addResiduals(cur: Uint8Array, pixels: Int32Array, xs: Float64Array, from: number, to: number, a: number, b: number, c: number, histogram: Uint32Array): void {
  for (let j = from; j < to; j++) {
    const x = xs[j]!;
    histogram[spreadBin(Math.abs(cur[pixels[j]!]! - clampLevel(128 + 128 * (a + b * x + c * x * x))))]!++;
  }
}

/**
 * The tone fit's least-squares sums (s0-s4, t0-t2 in `sums`) over the pixels of [from, to)
 * that are not clipped and lie within `cutoff` of the curve.
 */
function addFitSums(
  cur: Uint8Array,
  pixels: Int32Array,
  xs: Float64Array,
  from: number,
  to: number,
  a: number,
  b: number,
  c: number,
  cutoff: number,
  sums: Float64Array,
): void {
  let s0 = sums[0]!, s1 = sums[1]!, s2 = sums[2]!, s3 = sums[3]!, s4 = sums[4]!, t0 = sums[5]!, t1 = sums[6]!, t2 = sums[7]!;
  for (let j = from; j < to; j++) {
    const v = cur[pixels[j]!]!;
    if (v >= CLIPPED_HIGH || v <= CLIPPED_LOW) continue;
    const x = xs[j]!;
    const x2 = x * x;
    if (Math.abs(v - clampLevel(128 + 128 * (a + b * x + c * x2))) > cutoff) continue;
    const y = (v - 128) / 128;
    s0 += 1; s1 += x; s2 += x2; s3 += x2 * x; s4 += x2 * x2;
    t0 += y; t1 += x * y; t2 += x2 * y;
  }
  sums[0] = s0; sums[1] = s1; sums[2] = s2; sums[3] = s3; sums[4] = s4; sums[5] = t0; sums[6] = t1; sums[7] = t2;
}

/**
 * fitLight's pass over pixels[from, to): how far the curve moves the reference (signed into
 * sums[0], absolute into sums[1]), and |cur - tone(reference)| into a spread histogram.
 */
function addShifts(
  ref: Float32Array,
  cur: Uint8Array,
  pixels: Int32Array,
  xs: Float64Array,
  from: number,
  to: number,
  a: number,
  b: number,
  c: number,
  histogram: Uint32Array,
  sums: Float64Array,
): void {
  let sum = sums[0]!;
  let abs = sums[1]!;
  for (let j = from; j < to; j++) {
    const i = pixels[j]!;
    const x = xs[j]!;
    const p = clampLevel(128 + 128 * (a + b * x + c * x * x));
    const d = p - ref[i]!;
    sum += d;
    abs += Math.abs(d);
    histogram[spreadBin(Math.abs(cur[i]! - p))]!++;
  }
  sums[0] = sum;
  sums[1] = abs;
}

/**
 * markChanged over pixels [from, to) with the tone: marks those whose residual exceeds `level`
 * and moves the reference towards the frame at rates[0] where unmarked, rates[1] where marked.
 * Returns how many it marked. `active` holds 0 or 1.
 */
function markAndAdapt(
  cur: Uint8Array,
  ref: Float32Array,
  active: Uint8Array,
  changed: Uint8Array,
  from: number,
  to: number,
  a: number,
  b: number,
  c: number,
  level: number,
  rates: Float64Array,
): number {
  let marked = 0;
  for (let i = from; i < to; i++) {
    const v = cur[i]!;
    const r0 = ref[i]!;
    const x = (r0 - 128) / 128;
    const mark = active[i]! & (Math.abs(v - clampLevel(128 + 128 * (a + b * x + c * x * x))) > level ? 1 : 0);
    changed[i] = mark;
    marked += mark;
    ref[i] = r0 + rates[mark]! * (v - r0);
  }
  return marked;
}

/** The active pixels among every `step`-th. */
function activeEvery(active: Uint8Array, step: number): Int32Array {
  const pixels: number[] = [];
  for (let i = 0; i < active.length; i += step) if (active[i]) pixels.push(i);
  return Int32Array.from(pixels);
}

/** The spread histogram's bin for an absolute residual; the last bin takes all beyond it. */
function spreadBin(absResidual: number): number {
  const bin = (absResidual * SIGMA_BINS_PER_LEVEL + 0.5) | 0;
  return bin < SPREAD_TOP_BIN ? bin : SPREAD_TOP_BIN;
}

function clampLevel(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function percentile(histogram: Uint32Array, p: number, total: number): number {
  let seen = 0;
  for (let bin = 0; bin < histogram.length; bin++) {
    seen += histogram[bin]!;
    if (seen >= p * total) return bin;
  }
  return histogram.length - 1;
}

/**
 * Gaussian elimination with partial pivoting on a 3x4 augmented matrix (row by row, changed in
 * place); undefined if singular.
 */
function solveTone(m: Float64Array): Tone | undefined {
  for (let col = 0; col < 3; col++) {
    let pivot = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(m[4 * r + col]!) > Math.abs(m[4 * pivot + col]!)) pivot = r;
    if (Math.abs(m[4 * pivot + col]!) < 1e-9) return undefined;
    for (let c = 0; c < 4; c++) {
      const t = m[4 * col + c]!;
      m[4 * col + c] = m[4 * pivot + c]!;
      m[4 * pivot + c] = t;
    }
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const k = m[4 * r + col]! / m[4 * col + col]!;
      for (let c = col; c < 4; c++) m[4 * r + c]! -= k * m[4 * col + c]!;
    }
  }
  return new Tone(m[3]! / m[0]!, m[7]! / m[5]!, m[11]! / m[10]!);
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
