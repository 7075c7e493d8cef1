import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SurveillanceError } from '../packages/shared/src/errors.ts';
import { encodeHeader, HeaderReader, MAX_HEADER_BYTES, parseHeader, PING_LINE, type FrameHeader } from '../packages/shared/src/protocol.ts';

// Property tests of the frame header (docs/protocol.md): what the sender encodes, the receiver
// parses back exactly, however TCP cuts the bytes into chunks. Runs are kept short (a few
// seconds for the file); a failure prints the seed and the shrunk case to replay.

const RUNS = { numRuns: 60 };

// The protocol's rules, typed again here on purpose: the test states the spec, not the code.
const camera = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
const id = fc.stringMatching(/^[A-Za-z0-9-]{1,64}$/);
/** Any millisecond with a four-digit year, the range an ISO 8601 `...Z` time can name. */
const time = fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true });
const header = fc.record({ camera, id, time, length: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) });
/** A small frame, so that a stream of several fits in a test: its bytes may hold LFs. */
const smallFrame = fc.uint8Array({ minLength: 1, maxLength: 48 }).chain((body) =>
  fc.record({ camera, id, time }).map((h) => ({ header: { ...h, length: body.length } as FrameHeader, body: Buffer.from(body) })),
);

/** The stream cut at `cuts` (any order, repeats give empty chunks). */
function cut(stream: Buffer, cuts: number[]): Buffer[] {
  const at = [0, ...cuts.map((c) => c % (stream.length + 1)).sort((a, b) => a - b), stream.length];
  return at.slice(1).map((end, i) => stream.subarray(at[i]!, end));
}

/** Every way to cut the stream in two, and `extra` random ways to cut it in many. */
const cutsOf = (stream: Buffer): number[][] => Array.from({ length: stream.length + 1 }, (_, i) => [i]);
const manyCuts = fc.array(fc.nat(), { maxLength: 12 });

/**
 * The receiver's use of HeaderReader, reduced to its core: a header line, then `length` bytes
 * of frame (none after a ping), then the next unit, the chunks cut anywhere.
 */
function demux(chunks: Buffer[]): { units: (FrameHeader | 'ping')[]; bodies: Buffer[] } {
  const units: (FrameHeader | 'ping')[] = [];
  const bodies: Buffer[] = [];
  let reader = new HeaderReader();
  let body: Buffer[] = [];
  let need = 0;
  for (let chunk of chunks) {
    while (chunk.length > 0) {
      if (need > 0) {
        const take = Math.min(need, chunk.length);
        body.push(chunk.subarray(0, take));
        chunk = chunk.subarray(take);
        need -= take;
        if (need === 0) bodies.push(Buffer.concat(body));
        continue;
      }
      const used = reader.push(chunk);
      expect(used).toBeGreaterThanOrEqual(0);
      expect(used).toBeLessThanOrEqual(chunk.length);
      if (reader.header === undefined) expect(used).toBe(chunk.length); // a partial line is held, never left over
      chunk = chunk.subarray(used);
      if (reader.header !== undefined) {
        units.push(reader.header);
        if (reader.header !== 'ping') {
          need = reader.header.length;
          body = [];
        }
        reader = new HeaderReader();
      }
    }
  }
  return { units, bodies };
}

describe('header encode and parse', () => {
  it('parses back exactly what was encoded, one line ending in LF', () => {
    fc.assert(
      fc.property(header, (h) => {
        const line = encodeHeader(h).toString('latin1');
        expect(line.endsWith('\n')).toBe(true);
        expect(line.indexOf('\n')).toBe(line.length - 1);
        expect(parseHeader(line.slice(0, -1))).toEqual(h);
      }),
      RUNS,
    );
  });

  it('ignores keys it does not know, wherever they stand (later extensions)', () => {
    const extra = fc.array(fc.tuple(fc.stringMatching(/^x-[a-z0-9-]{0,20}$/), fc.stringMatching(/^[!-~]{0,20}$/)), { maxLength: 4 });
    fc.assert(
      fc.property(header, extra, fc.nat(), (h, keys, at) => {
        const fields = encodeHeader(h).toString('latin1').slice(5, -1).split(' ');
        const unique = [...new Map(keys).entries()].map(([k, v]) => `${k}=${v}`);
        fields.splice(at % (fields.length + 1), 0, ...unique);
        expect(parseHeader(`SVF1 ${fields.join(' ')}`)).toEqual(h);
      }),
      RUNS,
    );
  });

  it('answers any other line with a bad-header error, never with another kind of error', () => {
    const token = fc.oneof(
      fc.constantFrom('camera=c', 'camera=../x', 'camera=', 'id=x', 'id=a_b', 'time=2026-11-21T05:53:00.123Z', 'time=2026-02-30T00:00:00Z', 'time=2026-11-21', 'length=5', 'length=0', 'length=-1', 'length=1e3', '=', 'x', ''),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(token, { maxLength: 8 }), (magic, tokens) => {
        const line = `${magic ? 'SVF1 ' : ''}${tokens.join(' ')}`;
        let parsed: FrameHeader | undefined;
        try {
          parsed = parseHeader(line);
        } catch (e) {
          expect(e).toBeInstanceOf(SurveillanceError);
          expect((e as SurveillanceError).code).toBe('bad-header');
          return;
        }
        // Accepted: then it is a header that encodes and parses to itself.
        expect(parseHeader(encodeHeader(parsed).toString('latin1').slice(0, -1))).toEqual(parsed);
      }),
      { numRuns: 300 },
    );
  });
});

describe('HeaderReader across chunks', () => {
  it('reads a header split at every point, and leaves the frame bytes after it untouched', () => {
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 40 }), (h, after) => {
        const line = encodeHeader(h);
        const stream = Buffer.concat([line, after]);
        for (const cuts of cutsOf(stream)) {
          const reader = new HeaderReader();
          const rest: Buffer[] = [];
          for (const chunk of cut(stream, cuts)) {
            if (reader.header !== undefined) rest.push(chunk);
            else rest.push(chunk.subarray(reader.push(chunk)));
          }
          expect(reader.header).toEqual(h);
          expect(reader.bytes).toBe(line.length - 1);
          expect(Buffer.concat(rest)).toEqual(Buffer.from(after));
        }
      }),
      { numRuns: 25 },
    );
  });

  it('tells pings and frames apart in one stream, however it is cut', () => {
    const unit = fc.oneof(fc.constant('ping' as const), smallFrame);
    fc.assert(
      fc.property(fc.array(unit, { minLength: 1, maxLength: 5 }), manyCuts, (units, cuts) => {
        const stream = Buffer.concat(units.flatMap((u) => (u === 'ping' ? [Buffer.from(`${PING_LINE}\n`)] : [encodeHeader(u.header), u.body])));
        const expected = { units: units.map((u) => (u === 'ping' ? 'ping' : u.header)), bodies: units.flatMap((u) => (u === 'ping' ? [] : [u.body])) };
        expect(demux(cut(stream, cuts))).toEqual(expected);
      }),
      RUNS,
    );
  });

  it('takes a ping, the next header and the start of its frame from one chunk, and cut at every point', () => {
    fc.assert(
      fc.property(smallFrame, ({ header: h, body }) => {
        const stream = Buffer.concat([Buffer.from(`${PING_LINE}\n`), encodeHeader(h), body]);
        expect(demux([stream])).toEqual({ units: ['ping', h], bodies: [body] });
        for (const cuts of cutsOf(stream)) expect(demux(cut(stream, cuts))).toEqual({ units: ['ping', h], bodies: [body] });
      }),
      { numRuns: 15 },
    );
  });

  /** A valid header line of exactly `n` bytes before its LF, padded with a key nobody knows. */
  const lineOf = (n: number) => {
    const base = encodeHeader({ camera: 'c', id: 'x', time: new Date('2026-11-21T05:53:00.123Z'), length: 5 }).toString('latin1').slice(0, -1);
    return Buffer.from(`${base} pad=${'p'.repeat(n - base.length - 5)}\n`, 'latin1');
  };

  it(`accepts a line of ${MAX_HEADER_BYTES - 1} bytes and refuses one of ${MAX_HEADER_BYTES}, wherever it is cut`, () => {
    const longest = lineOf(MAX_HEADER_BYTES - 1);
    const tooLong = lineOf(MAX_HEADER_BYTES);
    expect([longest.length, tooLong.length]).toEqual([MAX_HEADER_BYTES, MAX_HEADER_BYTES + 1]);
    fc.assert(
      fc.property(manyCuts, (cuts) => {
        expect(demux(cut(longest, cuts)).units).toHaveLength(1);
        expect(() => demux(cut(tooLong, cuts))).toThrow(expect.objectContaining({ code: 'bad-header', message: `bad frame header: no line end within ${MAX_HEADER_BYTES} bytes` }));
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a line with a byte that is not printable ASCII, wherever it is cut', () => {
    const unprintable = fc.oneof(fc.integer({ min: 0, max: 0x09 }), fc.integer({ min: 0x0b, max: 0x1f }), fc.integer({ min: 0x7f, max: 0xff }));
    fc.assert(
      fc.property(header, fc.nat(), unprintable, manyCuts, (h, at, byte, cuts) => {
        const line = encodeHeader(h);
        line[at % (line.length - 1)] = byte;
        expect(() => demux(cut(line, cuts))).toThrow(expect.objectContaining({ code: 'bad-header' }));
      }),
      RUNS,
    );
  });
});
