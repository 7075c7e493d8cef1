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

interface Tone {
  a: number;
  b: number;
  c: number;
}

const IDENTITY: Tone = { a: 0, b: 1, c: 0 };

/** Histogram of |residual| in quarter grey levels: robust noise and shares above a level. */
class ResidualSpread {
  private readonly histogram = new Uint32Array(256 * SIGMA_BINS_PER_LEVEL + 1);
  private count = 0;

  reset(): void {
    this.histogram.fill(0);
    this.count = 0;
  }

  add(absResidual: number): void {
    const bin = (absResidual * SIGMA_BINS_PER_LEVEL + 0.5) | 0;
    this.histogram[bin < this.histogram.length ? bin : this.histogram.length - 1]!++;
    this.count++;
  }

  get size(): number {
    return this.count;
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

/** The reference and the scratch buffers for one analysis size. */
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
  /** 1 where pixels are compared (the mask). */
  readonly active: Uint8Array;
  readonly activeCount: number;
  /** Spread of the residual, as last estimated. */
  readonly spread = new ResidualSpread();
  private readonly sample = new ResidualSpread();
  private readonly refHistogram = new Uint32Array(256);
  private readonly curHistogram = new Uint32Array(256);
  private readonly diffHistogram = new Uint32Array(511);

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

  /**
   * Fits the global tone curve to `cur` and estimates the residual's spread on a sample.
   * Returns how far the curve moved the reference: mean signed and mean absolute change, in
   * grey levels. The residual itself is only computed where needed (`removeLocalLight`,
   * `markChanged`): on most frames one pass over the pixels does all that is left.
   */
  fitLight(cur: Uint8Array): { shift: number; change: number } {
    this.tone = this.fitTone(cur);
    this.residualReady = false;
    const { n, reference: ref, active, spread } = this;
    const { a, b, c } = this.tone;
    spread.reset();
    let sum = 0;
    let abs = 0;
    for (let i = 0; i < n; i += FIT_STEP) {
      if (!active[i]) continue;
      const x = (ref[i]! - 128) / 128;
      const p = clampLevel(128 + 128 * (a + b * x + c * x * x));
      const d = p - ref[i]!;
      sum += d;
      abs += d < 0 ? -d : d;
      spread.add(Math.abs(cur[i]! - p));
    }
    const count = spread.size;
    return { shift: count ? sum / count : 0, change: count ? abs / count : 0 };
  }

  /**
   * Marks the active pixels whose residual exceeds `level` and, if `adapt`, moves the reference
   * towards the frame: quickly where nothing changed (drift), slowly where something did (so
   * that a parked object ends up as background).
   */
  markChanged(cur: Uint8Array, level: number, adapt: { still: number; changed: number } | undefined): void {
    const { n, active, residual, changed, reference: ref, residualReady } = this;
    const { a, b, c } = this.tone;
    for (let i = 0; i < n; i++) {
      let r: number;
      if (residualReady) r = residual[i]!;
      else {
        const x = (ref[i]! - 128) / 128;
        r = cur[i]! - clampLevel(128 + 128 * (a + b * x + c * x * x));
      }
      const mark = active[i] && (r > level || r < -level) ? 1 : 0;
      changed[i] = mark;
      if (adapt) ref[i]! += (mark ? adapt.changed : adapt.still) * (cur[i]! - ref[i]!);
    }
  }

  /**
   * Least squares alone would be pulled by a large moving object, so the fit starts from the
   * most plausible of a few robust guesses (no change; a uniform offset; the curve through the
   * 10th, 50th and 90th percentiles), judged by the median residual, and is then refitted on
   * the pixels that follow the curve.
   */
  private fitTone(cur: Uint8Array): Tone {
    let best = IDENTITY;
    let bestSigma = Infinity;
    for (const guess of this.toneGuesses(cur)) {
      const sigma = this.sampledSigma(cur, guess, GUESS_STEP);
      if (sigma < bestSigma) [best, bestSigma] = [guess, sigma];
    }
    const { n, reference: ref, active } = this;
    for (let iteration = 0; iteration < TONE_ITERATIONS; iteration++) {
      const cutoff = Math.max(TONE_MIN_CUTOFF, TONE_CUTOFF_SIGMAS * bestSigma);
      const { a, b, c } = best;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, t0 = 0, t1 = 0, t2 = 0;
      for (let i = 0; i < n; i += FIT_STEP) {
        const v = cur[i]!;
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
      if (iteration + 1 < TONE_ITERATIONS) bestSigma = this.sampledSigma(cur, tone, FIT_STEP);
    }
    return best;
  }

  private toneGuesses(cur: Uint8Array): Tone[] {
    const { n, active, reference: ref, refHistogram, curHistogram, diffHistogram } = this;
    refHistogram.fill(0);
    curHistogram.fill(0);
    diffHistogram.fill(0);
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

  /** Robust noise of cur - tone(reference) on every `step`-th pixel. */
  private sampledSigma(cur: Uint8Array, { a, b, c }: Tone, step: number): number {
    const { n, active, reference: ref, sample } = this;
    sample.reset();
    for (let i = 0; i < n; i += step) {
      if (!active[i]) continue;
      const x = (ref[i]! - 128) / 128;
      sample.add(Math.abs(cur[i]! - clampLevel(128 + 128 * (a + b * x + c * x * x))));
    }
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
