import type { Sharp, SharpOptions } from 'sharp';
import { SurveillanceError } from '@surveillance/shared';

/**
 * Small greyscale frames for change detection, decoded with libjpeg's DCT scaling so that a
 * 1080p JPEG is never decoded at full size (the cost everyone on a Raspberry Pi complains about).
 */

export interface GreyFrame {
  /** One byte per pixel, row by row. */
  data: Uint8Array;
  width: number;
  height: number;
}

type SharpFactory = (input?: Buffer | string, options?: SharpOptions) => Sharp;

let sharpFactory: Promise<SharpFactory> | undefined;

/** sharp costs ~120 ms to import: only programs that compare frames pay for it, once. */
export function loadSharp(): Promise<SharpFactory> {
  sharpFactory ??= import('sharp').then((m) => {
    // libvips' operation cache keeps recent results for reuse; camera frames never repeat, so
    // it would only hold memory (up to 50 MB) and cost a lookup per frame.
    m.default.cache(false);
    return m.default as unknown as SharpFactory;
  });
  return sharpFactory;
}

const SOI = 0xd8;
const SOS = 0xda;

/** Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC). */
function isSof(m: number): boolean {
  return m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
}

function badJpeg(reason: string): SurveillanceError {
  return new SurveillanceError('bad-jpeg', `cannot compare frame: ${reason}`);
}

/**
 * Width and height from the SOF segment, walking only the header segments: the analysis size
 * must be chosen before decoding, and scanning the entropy-coded data would cost more than
 * the decode it is meant to make cheaper. The decoder checks the rest.
 */
function jpegSize(jpeg: Uint8Array): { width: number; height: number } {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== SOI) {
    throw badJpeg(`not a JPEG (${jpeg.length} bytes, no FF D8 start-of-image marker)`);
  }
  let at = 2;
  while (at + 4 <= jpeg.length) {
    if (jpeg[at] !== 0xff) throw badJpeg(`broken marker structure at byte ${at}`);
    const marker = jpeg[at + 1]!;
    if (marker === 0xff) {
      at += 1; // fill byte before a marker
      continue;
    }
    const length = (jpeg[at + 2]! << 8) | jpeg[at + 3]!;
    if (isSof(marker)) {
      if (at + 9 > jpeg.length) break;
      const height = (jpeg[at + 5]! << 8) | jpeg[at + 6]!;
      const width = (jpeg[at + 7]! << 8) | jpeg[at + 8]!;
      if (width === 0 || height === 0) throw badJpeg(`frame size ${width}x${height} in the JPEG header`);
      return { width, height };
    }
    if (marker === SOS || length < 2) throw badJpeg(`no start-of-frame segment before byte ${at}`);
    at += 2 + length;
  }
  throw badJpeg(`truncated in the header (${jpeg.length} bytes, no start-of-frame segment)`);
}

/**
 * libjpeg decodes directly at 1/2, 1/4 or 1/8 scale, but sharp only uses scale 1/s when asked
 * for a shrink of at least s+1 (it halves s for an exact integer shrink, to dodge libjpeg
 * rounding). So the sizes worth asking for are just under W/3, W/5 and W/9, or W itself:
 * take the one nearest (by ratio) to the requested width.
 */
export function analysisWidth(frameWidth: number, requested: number): number {
  if (requested >= frameWidth) return frameWidth;
  const candidates = [9, 5, 3].map((d) => Math.floor(frameWidth / d)).filter((w) => w >= 8);
  candidates.push(frameWidth);
  let best = frameWidth;
  for (const w of candidates) {
    if (Math.abs(Math.log(w / requested)) < Math.abs(Math.log(best / requested))) best = w;
  }
  return best;
}

/** Decodes a JPEG to a small greyscale frame; anything sharp cannot decode is a `bad-jpeg`. */
export async function decodeGrey(jpeg: Buffer, requestedWidth: number): Promise<GreyFrame> {
  const { width: frameWidth } = jpegSize(jpeg);
  const sharp = await loadSharp();
  const width = analysisWidth(frameWidth, requestedWidth);
  let result;
  try {
    // failOn 'warning': libjpeg only warns on a truncated file and fills the rest with grey,
    // which would read as motion.
    const image = sharp(jpeg, { failOn: 'warning' });
    if (width !== frameWidth) image.resize({ width, kernel: 'linear', fastShrinkOnLoad: true });
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
