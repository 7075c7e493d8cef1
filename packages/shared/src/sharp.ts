import type { Sharp, SharpOptions } from 'sharp';

/**
 * The one way to load sharp (import '@surveillance/shared/sharp', never the package index, so
 * that programs which decode no images never load it). sharp is native and costs about 100 ms
 * to import: it is loaded on first use, once per process.
 *
 * Every image opened through the factory gets the limits every use needs:
 * - libvips' operation cache is off: frames are each read once, and the cache would only hold
 *   memory (up to 50 MB) and cost a lookup per frame;
 * - a pixel limit: a JPEG header can claim 65535x65535 pixels in a few hundred bytes, and
 *   decoding that would take gigabytes. sharp's own default (about 268 MP) is far above any
 *   camera; ours is what a camera makes, and configurable per caller.
 */

export type SharpInput = Buffer | Uint8Array | string;
/** sharp's constructor, with the caller's limits applied to every image. */
export type SharpFactory = (input?: SharpInput | SharpOptions, options?: SharpOptions) => Sharp;

/** 40 megapixels: above every camera sensor in use here (8K is 33 MP), far below a decompression bomb. */
export const DEFAULT_PIXEL_LIMIT = 40_000_000;

export interface SharpLimits {
  /** Largest input in pixels (width x height); larger inputs fail before they are decoded. */
  limitInputPixels?: number;
  /** What counts as a broken image; a call may ask for another in its own options. */
  failOn?: SharpOptions['failOn'];
}

type SharpModule = SharpFactory & { cache(options: boolean): unknown };

let loading: Promise<SharpModule> | undefined;

export async function loadSharp(limits: SharpLimits = {}): Promise<SharpFactory> {
  loading ??= import('sharp').then((m) => {
    const sharp = m.default as unknown as SharpModule;
    sharp.cache(false);
    return sharp;
  });
  const sharp = await loading;
  const limitInputPixels = limits.limitInputPixels ?? DEFAULT_PIXEL_LIMIT;
  const failOn = limits.failOn ?? 'warning';
  return (input, options) => {
    // sharp({ create: ... }) and sharp(options) take the options as the first argument.
    if (input !== undefined && !isInput(input)) return sharp({ failOn, ...input, limitInputPixels });
    return sharp(input, { failOn, ...options, limitInputPixels });
  };
}

function isInput(x: unknown): x is SharpInput {
  return typeof x === 'string' || x instanceof Uint8Array;
}
