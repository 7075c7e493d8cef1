import { scanJpeg, SurveillanceError, type JpegInfo } from '@surveillance/shared';
import { loadSharp as loadShared, type SharpFactory } from '@surveillance/shared/sharp';
import { decodeLumaEighth, eighthSize } from './jpeg-dc.ts';

/**
 * Small greyscale frames for change detection, decoded at a JPEG DCT scale so that a 1080p JPEG
 * is never decoded at full size (the cost everyone on a Raspberry Pi complains about). At 1/8
 * scale the frame is Y's DC coefficients, read by jpeg-dc.ts without libjpeg; other scales, and
 * JPEGs that jpeg-dc.ts leaves alone, are libjpeg's through sharp.
 */

export interface GreyFrame {
  /** One byte per pixel, row by row. */
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * sharp costs ~120 ms to import: only programs that compare frames pay for it, once.
 * failOn 'warning': libjpeg only warns on a truncated file and fills the rest with grey, which
 * would read as motion.
 */
function loadSharp(): Promise<SharpFactory> {
  return loadShared({ failOn: 'warning' });
}

function badJpeg(reason: string): SurveillanceError {
  return new SurveillanceError('bad-jpeg', `cannot compare frame: ${reason}`);
}

/**
 * The frame's size, which the analysis size is chosen from before decoding: the scanner's
 * result where the caller has it (the watcher scanned every frame it read), else a scan now.
 */
export function frameInfo(jpeg: Uint8Array, info?: JpegInfo): JpegInfo {
  if (info) return info;
  try {
    return scanJpeg(jpeg);
  } catch (e) {
    if (e instanceof SurveillanceError) throw badJpeg(e.message);
    throw e;
  }
}

/**
 * The analysis width nearest (by ratio) to the requested one among those a JPEG decodes to
 * fast: 1/8 of the frame's width, rounded up (Y's DC coefficients, jpeg-dc.ts), just under 1/5
 * and 1/3 of it, or all of it. libjpeg decodes directly at 1/4 and 1/2 too, but sharp only
 * uses scale 1/s when asked for a shrink of at least s+1 (it halves s for an exact integer
 * shrink, to dodge libjpeg rounding), so those are reached from W/5 and W/3 with a resize.
 */
export function analysisWidth(frameWidth: number, requested: number): number {
  if (requested >= frameWidth) return frameWidth;
  const candidates = [Math.ceil(frameWidth / 8), Math.floor(frameWidth / 5), Math.floor(frameWidth / 3)].filter((w) => w >= 8);
  candidates.push(frameWidth);
  let best = frameWidth;
  for (const w of candidates) {
    if (Math.abs(Math.log(w / requested)) < Math.abs(Math.log(best / requested))) best = w;
  }
  return best;
}

/** Decodes a JPEG to a small greyscale frame; anything that cannot be decoded is a `bad-jpeg`. */
export async function decodeGrey(jpeg: Buffer, requestedWidth: number, scanned?: JpegInfo): Promise<GreyFrame> {
  const { width: frameWidth, height: frameHeight } = frameInfo(jpeg, scanned);
  const width = analysisWidth(frameWidth, requestedWidth);
  const eighth = eighthSize(frameWidth, frameHeight);
  if (width === eighth.width && width !== frameWidth) {
    const dc = decodeLumaEighth(jpeg);
    if (dc) return dc;
  }
  const sharp = await loadSharp();
  let result;
  try {
    const image = sharp(jpeg);
    // A JPEG that jpeg-dc.ts left to libjpeg comes out at the same size: a frame that is
    // progressive once in a while must not look like another camera.
    if (width === eighth.width) image.resize({ ...eighth, fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true });
    else if (width !== frameWidth) image.resize({ width, kernel: 'linear', fastShrinkOnLoad: true });
    result = await image.raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw badJpeg((e as Error).message);
  }
  const { data, info } = result;
  return { data: luma(data, info.channels), width: info.width, height: info.height };
}

/**
 * BT.601 luma, as JPEG's own Y, from 8-bit RGB(A). Done here rather than by sharp's
 * greyscale(), which goes through a linear-light colour space and costs about a tenth of the
 * whole decode for a result the detector does not need.
 */
function luma(data: Buffer, channels: number): Uint8Array {
  if (channels < 3) return firstChannel(data, channels);
  const out = new Uint8Array(data.length / channels);
  for (let i = 0, j = 0; i < out.length; i++, j += channels) {
    out[i] = (77 * data[j]! + 150 * data[j + 1]! + 29 * data[j + 2]! + 128) >> 8;
  }
  return out;
}

function firstChannel(data: Buffer, channels: number): Uint8Array {
  if (channels === 1) return new Uint8Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint8Array(data.length / channels);
  for (let i = 0; i < out.length; i++) out[i] = data[i * channels]!;
  return out;
}

/** A mask image as greyscale at its own size; scaled per analysis size by `scaleMask`. */
export async function loadMaskImage(path: string): Promise<GreyFrame> {
  const sharp = await loadSharp();
  const { data, info } = await sharp(path).flatten({ background: '#000000' }).greyscale().raw().toBuffer({ resolveWithObject: true });
  return { data: firstChannel(data, info.channels), width: info.width, height: info.height };
}

/** 1 where pixels are compared, 0 where the mask is dark (below mid-grey). */
export async function scaleMask(mask: GreyFrame, width: number, height: number): Promise<Uint8Array> {
  const sharp = await loadSharp();
  const { data, info } = await sharp(Buffer.from(mask.data), { raw: { width: mask.width, height: mask.height, channels: 1 } })
    .resize({ width, height, fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const grey = firstChannel(data, info.channels);
  const active = new Uint8Array(width * height);
  for (let i = 0; i < active.length; i++) active[i] = grey[i]! >= 128 ? 1 : 0;
  return active;
}
