import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeLumaEighth, eighthSize } from '../packages/sender/src/jpeg-dc.ts';
import { FIXTURES } from './helpers/receiver.ts';
import { needTools } from './helpers/tools.ts';
import { SceneGenerator } from './helpers/scenes.ts';

/** libjpeg's own answer: `djpeg -scale 1/8 -grayscale` as a PGM. */
function djpegEighth(jpeg: Buffer): { width: number; height: number; data: Buffer } {
  const pgm = execFileSync('djpeg', ['-scale', '1/8', '-grayscale', '-pnm'], { input: jpeg });
  const header = /^P5\s+(\d+)\s+(\d+)\s+255\s/.exec(pgm.subarray(0, 32).toString('latin1'))!;
  return { width: Number(header[1]), height: Number(header[2]), data: pgm.subarray(header[0].length) };
}

const fixture = (name: string) => readFileSync(join(FIXTURES, 'jpeg', name));
/** The fixtures this decoder leaves to libjpeg: not sequential Huffman-coded. */
const LEFT_TO_LIBJPEG = ['cjpeg-arithmetic-progressive.jpg', 'cjpeg-arithmetic.jpg', 'cjpeg-progressive.jpg'];
const HANDLED = readdirSync(join(FIXTURES, 'jpeg')).filter((f) => f.endsWith('.jpg') && !LEFT_TO_LIBJPEG.includes(f));

describe.skipIf(!needTools('djpeg'))('Y at 1/8 scale, against djpeg -scale 1/8 -grayscale', () => {
  it.each(HANDLED)('is byte for byte the same for %s', (name) => {
    const jpeg = fixture(name);
    const expected = djpegEighth(jpeg);
    const frame = decodeLumaEighth(jpeg)!;
    expect({ width: frame.width, height: frame.height }).toEqual({ width: expected.width, height: expected.height });
    expect(Buffer.from(frame.data).equals(expected.data)).toBe(true);
  });

  // Sizes that are not a multiple of the MCU, 4:2:0, 4:4:4, 4:2:2 and greyscale, with and
  // without restart intervals (sharp writes no DRI itself; ffmpeg and cameras often do).
  it.each([
    [1920, 1080, '4:2:0'],
    [1366, 769, '4:2:0'],
    [321, 243, '4:4:4'],
    [100, 75, '4:2:2'],
  ] as const)('is byte for byte the same for a %ix%i camera frame (%s)', async (width, height, subsampling) => {
    const scene = await new SceneGenerator(width, height, 5).frame({ noise: 6, quality: 85, objects: [{ x: 0.4, y: 0.5, share: 0.03 }] });
    const pixels = await sharp(scene).raw().toBuffer();
    const encodings = [
      await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90, chromaSubsampling: subsampling === '4:2:2' ? '4:4:4' : subsampling }).toBuffer(),
      await sharp(pixels, { raw: { width, height, channels: 3 } }).greyscale().jpeg({ quality: 75 }).toBuffer(),
    ];
    if (needTools('cjpeg')) {
      const ppm = Buffer.concat([Buffer.from(`P6\n${width} ${height}\n255\n`), pixels]);
      const sample = subsampling === '4:2:0' ? '2x2' : subsampling === '4:2:2' ? '2x1' : '1x1';
      encodings.push(execFileSync('cjpeg', ['-quality', '80', '-sample', sample, '-restart', '3B'], { input: ppm }));
    }
    for (const jpeg of encodings) {
      const expected = djpegEighth(jpeg);
      const frame = decodeLumaEighth(jpeg)!;
      expect(frame).toBeDefined();
      expect({ width: frame.width, height: frame.height }).toEqual(eighthSize(width, height));
      expect(Buffer.from(frame.data).equals(expected.data)).toBe(true);
    }
  });
});

describe('JPEGs left to libjpeg (undefined)', () => {
  let baseline: Buffer;
  beforeAll(() => {
    baseline = fixture('cjpeg-baseline.jpg');
  });

  it.each(LEFT_TO_LIBJPEG)('%s: not sequential Huffman-coded', (name) => {
    expect(decodeLumaEighth(fixture(name))).toBeUndefined();
  });

  it.runIf(needTools('cjpeg'))('an RGB JPEG (Adobe transform 0): its first component is red, not Y', async () => {
    const scene = await new SceneGenerator(64, 48, 2).frame({ noise: 0, quality: 90 });
    const rgb = execFileSync('cjpeg', ['-rgb', '-quality', '90'], { input: Buffer.concat([Buffer.from('P6\n64 48\n255\n'), await sharp(scene).raw().toBuffer()]) });
    expect(decodeLumaEighth(rgb)).toBeUndefined();
  });

  it('a CMYK JPEG', async () => {
    const cmyk = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#336699' } }).toColourspace('cmyk').jpeg().toBuffer();
    expect(decodeLumaEighth(cmyk)).toBeUndefined();
  });

  it('entropy-coded data with a byte flipped, cut short, or with bytes to spare before EOI', () => {
    const eoi = baseline.length - 2;
    const sos = baseline.indexOf(Buffer.from([0xff, 0xda]));
    const dataStart = sos + 2 + baseline.readUInt16BE(sos + 2);
    const flipped = Buffer.from(baseline);
    // A run of 0xFF... in the middle of the data is no valid code in any table sharp writes.
    flipped.fill(0xfe, dataStart + 40, dataStart + 60);
    const short = Buffer.concat([baseline.subarray(0, dataStart + ((eoi - dataStart) >> 1)), baseline.subarray(eoi)]);
    const spare = Buffer.concat([baseline.subarray(0, eoi), Buffer.from([0x12, 0x34, 0x56]), baseline.subarray(eoi)]);
    for (const bad of [flipped, short, spare]) expect(decodeLumaEighth(bad)).toBeUndefined();
    expect(decodeLumaEighth(baseline)).toBeDefined();
  });
});

describe('a frame that claims more than it holds', () => {
  it('is left to libjpeg at once: 5 KB whose SOF says 65535x65535 allocates no 64 MiB output', () => {
    const jpeg = Buffer.from(fixture('cjpeg-baseline.jpg'));
    // The SOF0 segment: FF C0, length, precision, then height and width.
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    expect(sof).toBeGreaterThan(0);
    jpeg.writeUInt16BE(65535, sof + 5);
    jpeg.writeUInt16BE(65535, sof + 7);
    const before = process.memoryUsage().arrayBuffers;
    expect(decodeLumaEighth(jpeg)).toBeUndefined();
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 2 ** 20);
  });
});
