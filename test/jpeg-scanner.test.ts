import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_PIXELS, JpegScanner, SurveillanceError, scanJpeg, type FfSearch } from '@surveillance/shared';
import { FIXTURES } from './helpers/receiver.ts';

const JPEG_DIR = join(FIXTURES, 'jpeg');
const fixtures = readdirSync(JPEG_DIR).filter((f) => f.endsWith('.jpg')).sort();
const read = (name: string) => readFileSync(join(JPEG_DIR, name));
const baseline = read('cjpeg-baseline.jpg');

/** Feeds `bytes` in chunks of `size`; returns where the first frame ended, or the error. */
function feed(bytes: Buffer, size: number, maxBytes?: number, search?: FfSearch): { end: number; done: boolean } {
  const scanner = new JpegScanner(maxBytes, undefined, search);
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

  // Both FF searches (a copy for one-frame processes, Buffer.indexOf for listeners) on every fixture.
  describe.each(fixtures.flatMap((name) => (['copy', 'buffer'] as const).map((search) => [name, search] as const)))('%s, FF search %s', (name, search) => {
    const bytes = read(name);
    it.each([1, 7, 64, bytes.length])('finds the frame end exactly in %i-byte chunks', (size) => {
      expect(feed(bytes, size, undefined, search)).toEqual({ end: bytes.length, done: true });
    });

    it('stops at EOI and leaves the next frame untouched', () => {
      const two = Buffer.concat([bytes, baseline]);
      for (const size of [1, 7, 64, two.length]) expect(feed(two, size, undefined, search).end).toBe(bytes.length);
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

describe('JpegScanner: segments must hold the fields it reads, frames must stay below the pixel limit', () => {
  const sofAt = baseline.indexOf(Buffer.from([0xff, 0xc0]));
  const sosAt = baseline.indexOf(Buffer.from([0xff, 0xda]));
  const patched = (at: number, bytes: number[]) => {
    const copy = Buffer.from(baseline);
    Buffer.from(bytes).copy(copy, at);
    return copy;
  };
  const withSize = (width: number, height: number) => {
    const copy = Buffer.from(baseline);
    copy.writeUInt16BE(height, sofAt + 5);
    copy.writeUInt16BE(width, sofAt + 7);
    return copy;
  };
  const hexBytes = (s: string) => Buffer.from(s.replace(/ /g, ''), 'hex');
  // SOF0 8-bit 16x16, three components; SOS for three components.
  const sof3 = 'ffc0 0011 08 0010 0010 03 012200 021101 031101';
  const bomb = readFileSync(join(FIXTURES, 'bad/bomb-16383x16383.jpg'));

  const cases: Array<[string, Buffer, number | undefined, string, string]> = [
    [
      'the 17-byte non-image: an SOF of length 6, the low byte of its width missing',
      hexBytes('ffd8 ffc0 0006 08 0001 01 ffda 0002 00 ffd9'),
      undefined,
      'bad-jpeg',
      'not a valid JPEG at byte 9: SOF segment of length 6 is shorter than the 8 bytes of its fixed fields',
    ],
    [
      'an SOF without components',
      hexBytes('ffd8 ffc0 0008 08 0010 0010 00 ffda 0008 01 0100 00 3f 00 00 ffd9'),
      undefined,
      'bad-jpeg',
      'not a valid JPEG at byte 11: SOF with no components',
    ],
    [
      'a real SOF whose component count says 2 where its length holds 3',
      patched(sofAt + 9, [2]),
      undefined,
      'bad-jpeg',
      `not a valid JPEG at byte ${sofAt + 18}: SOF segment of length 17 does not fit its 2 components (8 + 3 per component = 14)`,
    ],
    [
      'an SOS of length 2',
      hexBytes(`ffd8 ${sof3} ffda 0002 00 ffd9`),
      undefined,
      'bad-jpeg',
      'not a valid JPEG at byte 24: SOS segment of length 2 is too short to hold its component count',
    ],
    [
      'an SOS with 5 components',
      hexBytes(`ffd8 ${sof3} ffda 0010 05 0100 0211 0311 0411 0511 00 3f 00 00 ffd9`),
      undefined,
      'bad-jpeg',
      'not a valid JPEG at byte 38: SOS with 5 components (1-4 allowed)',
    ],
    [
      'a real SOS whose component count says 2 where its length holds 3',
      patched(sosAt + 4, [2]),
      undefined,
      'bad-jpeg',
      `not a valid JPEG at byte ${sosAt + 13}: SOS segment of length 12 does not fit its 2 components (6 + 2 per component = 10)`,
    ],
    [
      'the 556-byte progressive JPEG from cjpeg whose SOF claims 16383x16383',
      bomb,
      DEFAULT_MAX_PIXELS,
      'too-large',
      'frame of 16383x16383 = 268402689 pixels is larger than the limit of 50000000 pixels',
    ],
    [
      'one pixel over a limit',
      baseline,
      320 * 240 - 1,
      'too-large',
      'frame of 320x240 = 76800 pixels is larger than the limit of 76799 pixels',
    ],
  ];

  it.each(cases)('%s', (_name, bytes, maxPixels, code, message) => {
    for (const size of [1, 3, 64, bytes.length]) {
      const error = errorOf(() => {
        const scanner = new JpegScanner(undefined, maxPixels);
        for (let i = 0; i < bytes.length && !scanner.done; i += size) scanner.push(bytes.subarray(i, i + size));
        scanner.end();
      });
      expect({ code: error.code, message: error.message }).toEqual({ code, message });
    }
  });

  it('lets every real camera through the default limit: 12 MP stills, 8K video, a 48 MP sensor', () => {
    for (const [w, h] of [[4000, 3000], [7680, 4320], [8000, 6000]] as const) {
      expect(scanJpeg(withSize(w, h), undefined, DEFAULT_MAX_PIXELS)).toMatchObject({ width: w, height: h });
    }
    expect(scanJpeg(baseline, undefined, 320 * 240)).toMatchObject({ width: 320, height: 240 });
  });

  it('reports the components of the frame', () => {
    expect(scanJpeg(read('cjpeg-grayscale.jpg')).components).toBe(1);
    expect(scanJpeg(baseline).components).toBe(3);
    expect(scanJpeg(bomb)).toEqual({ bytes: bomb.length, width: 16383, height: 16383, components: 3, progressive: true });
  });

  it.each(['copy', 'buffer'] as const)('decides a frame over the byte limit the same way in one chunk as byte by byte (FF search %s)', (search) => {
    // Bad bytes past the limit must not decide the outcome when they happen to share a chunk.
    const broken = patched(393, [0x00]);
    for (const size of [1, 64, broken.length]) {
      const error = errorOf(() => feed(broken, size, 300, search));
      expect({ code: error.code, message: error.message }).toEqual({ code: 'too-large', message: 'frame is larger than the limit of 300 bytes' });
    }
  });
});
