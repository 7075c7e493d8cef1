import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JpegScanner, SurveillanceError, scanJpeg } from '@surveillance/shared';
import { FIXTURES } from './helpers/receiver.ts';

const JPEG_DIR = join(FIXTURES, 'jpeg');
const fixtures = readdirSync(JPEG_DIR).filter((f) => f.endsWith('.jpg')).sort();
const read = (name: string) => readFileSync(join(JPEG_DIR, name));
const baseline = read('cjpeg-baseline.jpg');

/** Feeds `bytes` in chunks of `size`; returns where the first frame ended, or the error. */
function feed(bytes: Buffer, size: number, maxBytes?: number): { end: number; done: boolean } {
  const scanner = new JpegScanner(maxBytes);
  let offset = 0;
  while (offset < bytes.length && !scanner.done) {
    const chunk = bytes.subarray(offset, Math.min(offset + size, bytes.length));
    offset += scanner.push(chunk);
  }
  return { end: offset, done: scanner.done };
}

function errorOf(fn: () => unknown): SurveillanceError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SurveillanceError) return e;
    throw e;
  }
  throw new Error('expected a SurveillanceError');
}

describe('JpegScanner on JPEGs written by real encoders', () => {
  it('has the fixtures made by scripts/make-fixtures.sh', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(11);
  });

  describe.each(fixtures)('%s', (name) => {
    const bytes = read(name);
    it.each([1, 7, 64, bytes.length])('finds the frame end exactly in %i-byte chunks', (size) => {
      expect(feed(bytes, size)).toEqual({ end: bytes.length, done: true });
    });

    it('stops at EOI and leaves the next frame untouched', () => {
      const two = Buffer.concat([bytes, baseline]);
      for (const size of [1, 7, 64, two.length]) expect(feed(two, size).end).toBe(bytes.length);
    });
  });

  it('reads dimensions and the coding process', () => {
    expect(scanJpeg(read('cjpeg-progressive.jpg'))).toMatchObject({ width: 320, height: 240, progressive: true });
    expect(scanJpeg(read('ffmpeg-baseline.jpg'))).toMatchObject({ width: 320, height: 240, progressive: false });
  });

  it('skips the thumbnail inside EXIF: its FF D9 is not the end of the frame', () => {
    const bytes = read('exif-thumbnail.jpg');
    const innerEoi = bytes.indexOf(Buffer.from([0xff, 0xd9]));
    expect(innerEoi).toBeLessThan(bytes.length - 2);
    expect(scanJpeg(bytes).bytes).toBe(bytes.length);
  });
});

describe('JpegScanner on bad input', () => {
  const sos = baseline.indexOf(Buffer.from([0xff, 0xda]));
  const withByte = (at: number, value: number) => {
    const copy = Buffer.from(baseline);
    copy[at] = value;
    return copy;
  };
  const cases: Array<[string, Buffer, string, RegExp]> = [
    ['random bytes', Buffer.from('5c1e88a0f3', 'hex'), 'bad-jpeg', /does not start with a JPEG SOI marker \(FF D8\), found 5C/],
    ['a PNG', readFileSync(join(FIXTURES, 'bad/image.png')), 'bad-jpeg', /found 89/],
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'bad-jpeg', /found 47/],
    ['truncated in the headers', baseline.subarray(0, 300), 'truncated', /after 300 bytes: input ended before image data/],
    ['truncated in the image data', baseline.subarray(0, sos + 400), 'truncated', /inside image data, before EOI/],
    ['a JPEG without EOI', baseline.subarray(0, -2), 'truncated', /before EOI/],
    ['a segment length below 2', withByte(5, 1).fill(0, 4, 5), 'bad-jpeg', /length 1, below the minimum of 2/],
    ['a segment length past the end', Buffer.concat([baseline.subarray(0, 4), Buffer.from([0xff, 0xff])]), 'truncated', /before image data/],
    ['garbage between segments', withByte(2 + 2 + baseline.readUInt16BE(4), 0x00), 'bad-jpeg', /expected a marker, found 00/],
    ['EOI before any image data', Buffer.from([0xff, 0xd8, 0xff, 0xd9]), 'bad-jpeg', /EOI before any image data/],
    ['SOS before SOF', Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]), 'bad-jpeg', /SOS before any SOF/],
    ['an empty input', Buffer.alloc(0), 'empty', /no JPEG bytes/],
  ];

  it.each(cases)('%s', (_name, bytes, code, message) => {
    for (const size of [1, 7, 64, Math.max(bytes.length, 1)]) {
      const error = errorOf(() => {
        const scanner = new JpegScanner();
        for (let i = 0; i < bytes.length; i += size) scanner.push(bytes.subarray(i, i + size));
        scanner.end();
      });
      expect(error.code).toBe(code);
      expect(error.message).toMatch(message);
    }
  });

  it('refuses a frame over the size limit as soon as it passes it', () => {
    const error = errorOf(() => feed(baseline, 64, 4096));
    expect(error.code).toBe('too-large');
    expect(error.message).toBe('frame is larger than the limit of 4096 bytes');
  });

  it('keeps constant memory: a 64 MiB APP segment is skipped, not buffered', () => {
    const scanner = new JpegScanner();
    scanner.push(Buffer.from([0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff]));
    const chunk = Buffer.alloc(1 << 20, 0xff);
    let skipped = 0;
    const before = process.memoryUsage().arrayBuffers;
    // 1000 segments of 64 KiB each, fed in 1 MiB chunks: only positions are kept.
    for (let segments = 0; segments < 1000; segments++) {
      let left = 0xfffd;
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        skipped += scanner.push(chunk.subarray(0, n));
        left -= n;
      }
      if (segments < 999) scanner.push(Buffer.from([0xff, 0xe1, 0xff, 0xff]));
    }
    expect(skipped).toBe(1000 * 0xfffd);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
  });
});
