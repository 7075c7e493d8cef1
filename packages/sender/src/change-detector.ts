import { accessSync, constants, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { usage, type JpegInfo, type Spec, type Values } from '@surveillance/shared';
import { decodeGrey, loadMaskImage, scaleMask, type GreyFrame } from './greyscale.ts';
import { Scene } from './light-model.ts';

/**
 * Decides whether a frame differs from the scene's reference enough to keep it.
 *
 * Each JPEG is decoded at about 200 px wide in greyscale at a JPEG DCT scale (greyscale.ts): a
 * 1080p frame becomes 240x135, Y's DC coefficients read straight from the file (jpeg-dc.ts), so
 * it is never decoded in full, and the 1/8 scale alone averages away most sensor noise. The light model (light-model.ts) maps the slowly adapting reference to the
 * frame's exposure with a robustly fitted tone curve, so that lights, auto exposure and clouds
 * are explained away and motion is not. Pixels whose residual exceeds the noise level (fixed,
 * or 4 sigmas of a running robust estimate) count as changed, except isolated ones (despeckle);
 * the frame is kept when their share of the unmasked frame reaches the threshold. After a large
 * tone change (a "lightswitch") the light is also corrected locally and the reference is
 * re-based on the new frame, but the frame still counts as motion when a localized blob remains.
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
    description: 'width in px of the greyscale frame that is compared, rounded to a size JPEG decodes fast: 1/8 of the frame (240 for 1080p), about 1/5, 1/3, or all of it',
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

/**
 * Reference adaptation per frame, for pixels that did not change and for those that did: slow
 * enough for the latter that motion stays visible, but a parked car becomes background in
 * ~60 frames.
 */
const ADAPT = { still: 0.1, changed: 0.05 } as const;
/** Auto noise: threshold = sigmas x the running robust noise estimate, within these bounds. */
const AUTO_NOISE_SIGMAS = 4;
const AUTO_NOISE_FLOOR = 6;
const AUTO_NOISE_CEILING = 64;
const NOISE_SMOOTHING = 0.1;
/** Frames where more than this share stands out say little about noise: not used for the estimate. */
const NOISE_ESTIMATE_MAX_SHARE = 0.1;
/** Mean |tone change| in grey levels beyond which the reference is re-based (a "lightswitch"). */
const LIGHTING_TONE_CHANGE = 10;
/** How far (in noise levels) a block's light may differ from its neighbours' before it is called an object. */
const LOCAL_LIGHT_TOLERANCE_NOISES = 2;
/** A changed pixel counts only with at least this many changed among its 8 neighbours. */
const DESPECKLE_NEIGHBOURS = 3;

export class ChangeDetector {
  private scene: Scene | undefined;
  private sigma: number | undefined;
  private readonly masks = new Map<string, Promise<Uint8Array>>();
  /**
   * The frame last decided, for setReference() with the same frame: a copy (the caller may
   * reuse its buffer), in a buffer kept from frame to frame rather than a fresh one of a few
   * hundred KB per frame for the garbage collector.
   */
  private lastDecoded: { jpeg: Buffer; grey: GreyFrame } | undefined;
  private lastJpegCopy = Buffer.alloc(0);
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

  /**
   * Compares `jpeg` with the reference and updates the reference. `info` is the scanner's
   * result for it, when the caller scanned it already: the header is then not walked again.
   */
  decide(jpeg: Buffer, info?: JpegInfo): Promise<Decision> {
    return this.serial(() => this.decideNow(jpeg, info));
  }

  /**
   * Makes `jpeg` the reference (e.g. the last frame sent), keeping the noise estimate. The
   * frame just decided is the usual case: it is not decoded again.
   */
  setReference(jpeg: Buffer, info?: JpegInfo): Promise<void> {
    return this.serial(async () => {
      const last = this.lastDecoded;
      const grey = last && last.jpeg.equals(jpeg) ? last.grey : await decodeGrey(jpeg, this.options.analysisWidth, info);
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

  private async decideNow(jpeg: Buffer, info: JpegInfo | undefined): Promise<Decision> {
    const start = performance.now();
    const grey = await decodeGrey(jpeg, this.options.analysisWidth, info);
    if (this.lastJpegCopy.length < jpeg.length) this.lastJpegCopy = Buffer.allocUnsafe(jpeg.length);
    jpeg.copy(this.lastJpegCopy);
    this.lastDecoded = { jpeg: this.lastJpegCopy.subarray(0, jpeg.length), grey };
    const size = `${grey.width}x${grey.height}`;
    const s = this.scene;
    if (!s || s.width !== grey.width || s.height !== grey.height) {
      await this.rebase(grey);
      return { changed: true, reason: 'first', changedShare: 1, noiseLevel: this.noiseLevel(), brightnessShift: 0, ms: performance.now() - start, size };
    }
    const cur = grey.data;
    const { shift, change } = s.fitLight(cur);
    const lighting = change >= LIGHTING_TONE_CHANGE;
    if (lighting) s.removeLocalLight(cur, LOCAL_LIGHT_TOLERANCE_NOISES * this.noiseLevel());

    const frameSigma = s.spread.sigma();
    // Motion over a large share of the frame inflates the median: such frames are skipped.
    if (this.options.noise === 'auto' && !lighting && s.spread.shareAbove(AUTO_NOISE_SIGMAS * frameSigma) <= NOISE_ESTIMATE_MAX_SHARE) {
      this.sigma = this.sigma === undefined ? frameSigma : this.sigma + NOISE_SMOOTHING * (frameSigma - this.sigma);
    }
    // A lighting frame's residual holds what the light model could not explain: only what
    // stands out from this frame's own spread counts.
    const noiseLevel = lighting ? Math.max(this.noiseLevel(), AUTO_NOISE_SIGMAS * frameSigma) : this.noiseLevel();
    s.markChanged(cur, noiseLevel, lighting ? undefined : ADAPT);
    if (lighting) s.reference.set(cur);
    // A mask may leave no pixel at this size: nothing can change there.
    const changedShare = s.activeCount ? despeckledCount(s) / s.activeCount : 0;
    const changed = changedShare > 0 && changedShare >= this.options.threshold;
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
 * Changed pixels with enough changed neighbours: single noisy pixels and thin edges drop out.
 * Rows where nothing changed are skipped: on most frames that is nearly all of them.
 */
function despeckledCount(s: Scene): number {
  const { width: w, height: h, changed, changedInRow } = s;
  let count = 0;
  for (let y = 0; y < h; y++) {
    if (changedInRow[y] === 0) continue;
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
