import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { encodeHeader, HeaderReader, JpegScanner, SurveillanceError, type FfSearch, type Logger } from '@surveillance/shared';
import { Connection } from '../../packages/receiver/src/receive/connection.ts';
import { FileStore } from '../../packages/receiver/src/store/file-store.ts';
import { INCOMING_DIR } from '../../packages/receiver/src/store/file-layout.ts';
import { FIXTURES } from './receiver.ts';

/**
 * Inputs and properties for fuzzing the parsers that face the network (test/fuzz.test.ts runs a
 * short round, `pnpm fuzz` a long one). Inputs are any bytes, but mostly bytes near the grammar
 * (real JPEGs mutated, segments put together at random, header lines with wrong fields), since
 * random bytes alone stop at the first byte. Every input is also cut into random chunks: the
 * outcome must not depend on where a read() happened to end.
 */

/** What a parser made of an input: where it stopped and what it found, or which error. */
export type Outcome = { ok: true; used: number; value: unknown } | { ok: false; code: string; message: string };

/** Cut points: the input split at these positions (any count, any place, empty chunks too). */
export function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

function caught(e: unknown): Outcome {
  // Anything but our own error is a crash: let it fail the property.
  if (!(e instanceof SurveillanceError)) throw e;
  return { ok: false, code: e.code, message: e.message };
}

const STATE_KINDS = new Set(['number', 'boolean']);

/** Feeds chunks to a scanner the way the receiver does; checks it keeps no buffers. */
export function scanOutcome(chunks: Uint8Array[], maxBytes: number, maxPixels: number, search: FfSearch = 'copy'): Outcome {
  const scanner = new JpegScanner(maxBytes, maxPixels, search);
  let used = 0;
  try {
    for (const chunk of chunks) {
      const n = scanner.push(chunk);
      // A caller loops until the chunk is used up or the frame is done: anything else hangs it.
      if (n < chunk.length && !scanner.done) throw new Error(`push used ${n} of ${chunk.length} bytes and the frame is not done`);
      if (n > chunk.length) throw new Error(`push used ${n} bytes of a ${chunk.length}-byte chunk`);
      used += n;
      if (scanner.done) break;
    }
    const value = scanner.end();
    return { ok: true, used, value };
  } catch (e) {
    return caught(e);
  } finally {
    // Constant memory: the scanner's state is positions and flags, never bytes.
    for (const [key, v] of Object.entries(scanner)) {
      if (!STATE_KINDS.has(typeof v)) throw new Error(`scanner holds ${key} of type ${typeof v}`);
    }
  }
}

export function headerOutcome(chunks: Uint8Array[]): Outcome {
  const reader = new HeaderReader();
  let used = 0;
  try {
    for (const chunk of chunks) {
      const n = reader.push(chunk);
      if (n < chunk.length && reader.header === undefined) throw new Error(`push used ${n} of ${chunk.length} bytes without a header`);
      used += n;
      if (reader.header !== undefined) break;
    }
    if (reader.header === undefined) return { ok: true, used, value: 'incomplete' };
    const h = reader.header;
    return { ok: true, used, value: h === 'ping' ? h : { ...h, time: h.time.toISOString() } };
  } catch (e) {
    return caught(e);
  } finally {
    const buffer = (reader as unknown as { buffer: Buffer }).buffer;
    if (buffer.length !== 1024) throw new Error(`header reader grew its buffer to ${buffer.length}`);
  }
}

const jpegFixtures = ['bad/bomb-16383x16383.jpg', 'jpeg/cjpeg-grayscale.jpg'].map((f) => readFileSync(join(FIXTURES, f)));

const byte = fc.integer({ min: 0, max: 255 });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength });

/** A segment: FF, a marker, a length that may or may not match its payload, the payload. */
const segment = fc
  .record({
    marker: fc.oneof(fc.constantFrom(0xc0, 0xc2, 0xc4, 0xdb, 0xdd, 0xe0, 0xe1, 0xfe, 0xda, 0xd9, 0xd8, 0xd0, 0x01, 0xff, 0x00), byte),
    payload: fc.oneof(
      bytes(24),
      // SOF-like: precision, height, width, components, per-component triples.
      fc.tuple(fc.constantFrom(8, 12), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 5 })).map(
        ([p, h, w, nf]) => Uint8Array.from([p, h >> 8, h & 255, w >> 8, w & 255, nf, ...Array.from({ length: nf * 3 }, (_, i) => i + 1)]),
      ),
      // SOS-like: Ns, pairs, Ss Se AhAl.
      fc.integer({ min: 0, max: 5 }).map((ns) => Uint8Array.from([ns, ...Array.from({ length: ns * 2 }, (_, i) => i), 0, 63, 0])),
    ),
    lengthDelta: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -4, max: 4 })),
  })
  .map(({ marker, payload, lengthDelta }) => {
    const length = Math.max(0, Math.min(0xffff, payload.length + 2 + lengthDelta));
    return Uint8Array.from([0xff, marker, length >> 8, length & 255, ...payload]);
  });

/** Entropy-coded data with the byte pairs that matter there: stuffing, restarts, fill, markers. */
const entropy = fc
  .array(fc.oneof(bytes(8), fc.constantFrom([0xff, 0x00], [0xff, 0xd0], [0xff, 0xd7], [0xff, 0xff], [0xff, 0xd9], [0xff, 0xc4], [0xff, 0xda]).map((a) => Uint8Array.from(a))), { maxLength: 8 })
  .map((parts) => Buffer.concat(parts));

const assembled = fc
  .tuple(fc.boolean(), fc.array(fc.oneof(segment, entropy), { maxLength: 10 }), fc.boolean())
  .map(([soi, parts, eoi]) => Buffer.concat([soi ? Buffer.from([0xff, 0xd8]) : Buffer.alloc(0), ...parts, eoi ? Buffer.from([0xff, 0xd9]) : Buffer.alloc(0)]));

/** A real JPEG with a few bytes changed, some inserted or removed, or cut short. */
const mutated = fc
  .tuple(
    fc.constantFrom(...jpegFixtures),
    fc.array(fc.tuple(fc.nat(), byte, fc.constantFrom('set', 'insert', 'delete')), { maxLength: 6 }),
    fc.option(fc.nat()),
    bytes(8),
  )
  .map(([base, edits, cut, tail]) => {
    const out = [...base];
    for (const [at, value, how] of edits) {
      const i = at % (out.length + 1);
      if (how === 'set') out[i] = value;
      else if (how === 'insert') out.splice(i, 0, value);
      else out.splice(i, 1);
    }
    const body = cut === null ? out : out.slice(0, cut % (out.length + 1));
    return Buffer.concat([Uint8Array.from(body), tail]);
  });

export const jpegInput = fc.oneof({ weight: 1, arbitrary: bytes(64) }, { weight: 3, arbitrary: assembled }, { weight: 3, arbitrary: mutated });

const limits = fc.record({
  maxBytes: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.integer({ min: 1, max: 2048 })),
  maxPixels: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.constant(50_000_000), fc.integer({ min: 1, max: 100_000 })),
});

const cuts = fc.array(fc.nat(), { maxLength: 12 });

const OK_CODES = new Set(['bad-jpeg', 'truncated', 'empty', 'too-large']);

/** Any bytes, any chunking: a defined outcome, the same one as in a single chunk. */
export const scannerProperty = fc.property(jpegInput, cuts, limits, (input, cutPoints, { maxBytes, maxPixels }) => {
  const whole = scanOutcome([input], maxBytes, maxPixels);
  const pieces = scanOutcome(chunked(input, cutPoints), maxBytes, maxPixels);
  // The listener's search (Buffer.indexOf over the whole chunk, past the byte limit) decides the same.
  const buffered = scanOutcome(chunked(input, cutPoints), maxBytes, maxPixels, 'buffer');
  if (!whole.ok && !OK_CODES.has(whole.code)) throw new Error(`unexpected code ${whole.code}`);
  if (whole.ok) {
    // What was taken for a frame is one by itself, and within the limits.
    const frame = input.subarray(0, whole.used);
    const again = scanOutcome([frame], maxBytes, maxPixels);
    if (!again.ok || again.used !== whole.used) throw new Error('the frame found is not a frame by itself');
    if (whole.used > maxBytes) throw new Error('frame over the byte limit accepted');
  }
  expectSame(whole, pieces);
  expectSame(whole, buffered);
});

const KEYS = ['camera', 'id', 'time', 'length', 'reason', 'score', 'x', 'Camera', '1k', ''];
const VALUES = fc.oneof(
  fc.constantFrom('front', 'f1', '0190a3c2e4f1-7c2a', '2026-11-21T05:53:00.123Z', '2026-02-30T00:00:00Z', '0050-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '48213', '0', '-1', '99999999999999999', '.hidden', '..', 'a/b', ''),
  fc.string({ maxLength: 12 }),
);
const field = fc.tuple(fc.constantFrom(...KEYS), fc.constantFrom('=', '==', ''), VALUES).map(([k, eq, v]) => `${k}${eq}${v}`);
const headerLine = fc
  .tuple(fc.constantFrom('SVF1 ', 'SVF1  ', 'SVF2 ', 'SVF1', 'svf1 ', ''), fc.array(field, { maxLength: 7 }), fc.constantFrom(' ', '  '), fc.constantFrom('\n', '\r\n', '', '\n\n'), fc.nat({ max: 1100 }))
  .map(([magic, fields, sep, end, pad]) => Buffer.from(`${magic}${fields.join(sep)}${pad > 1000 ? ' p='.padEnd(pad, 'x') : ''}${end}`, 'latin1'));
const valid = fc
  .record({
    camera: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,8}$/),
    id: fc.stringMatching(/^[A-Za-z0-9-]{1,8}$/),
    time: fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
    length: fc.integer({ min: 1, max: 1e9 }),
  })
  .map((h) => Buffer.from(`SVF1 camera=${h.camera} id=${h.id} time=${h.time.toISOString()} length=${h.length}\n`));

export const headerInput = fc.oneof(headerLine, valid, fc.constant(Buffer.from('SVF1 ping\n')), bytes(64).map((b) => Buffer.from(b)), fc.tuple(valid, bytes(16)).map(([a, b]) => Buffer.concat([a, b])));

export const headerProperty = fc.property(headerInput, cuts, (input, cutPoints) => {
  const whole = headerOutcome([input]);
  const pieces = headerOutcome(chunked(input, cutPoints));
  if (!whole.ok && whole.code !== 'bad-header') throw new Error(`unexpected code ${whole.code}`);
  if (whole.ok && whole.value !== 'incomplete' && input[whole.used - 1] !== 0x0a) throw new Error('a header taken without its LF');
  expectSame(whole, pieces);
});

function expectSame(a: Outcome, b: Outcome): void {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  if (x !== y) throw new Error(`chunking changed the outcome:\n  one chunk: ${x}\n  in pieces: ${y}`);
}

// ---- the whole connection handler --------------------------------------------------------

/** The receiver's clock in the connection fuzz: capture times are judged against it. */
const NOW = new Date('2026-11-21T12:00:00.000Z');
const SILENT: Logger = { fatal() {}, error() {}, warn() {}, info() {}, debug() {}, trace() {} };
const FRAMES = ['jpeg/cjpeg-baseline.jpg', 'jpeg/cjpeg-grayscale.jpg', 'bad/bomb-16383x16383.jpg'].map((f) => readFileSync(join(FIXTURES, f)));

/** One unit on the wire: a framed frame (its length right or not), a raw JPEG, a ping, junk. */
const unit = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.oneof(fc.constantFrom(...FRAMES), jpegInput),
        fc.stringMatching(/^[A-Z0-9-]{1,6}$/),
        fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -3, max: 3 })),
        fc.oneof(fc.constant(-60_000), fc.integer({ min: -500 * 86_400_000, max: 2 * 86_400_000 })),
      )
      .map(([jpeg, id, delta, age]) => Buffer.concat([encodeHeader({ camera: 'cam', id, time: new Date(NOW.getTime() + age), length: Math.max(1, jpeg.length + delta) }), jpeg])),
  },
  { weight: 2, arbitrary: fc.oneof(fc.constantFrom(...FRAMES), jpegInput).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constant(Buffer.from('SVF1 ping\n')) },
  { weight: 1, arbitrary: headerInput },
);
export const connectionInput = fc.array(unit, { minLength: 0, maxLength: 4 }).map((units) => Buffer.concat(units));

export interface ConnectionOutcome {
  /** Every line the receiver answered, raw frame ids made neutral (they count per process). */
  acks: string[];
  /** How the connection ended: the error code, or 'ok'. */
  end: string;
  /** The store afterwards: name -> size and a digest of the bytes. */
  files: Record<string, string>;
}

/** Raw frame ids (a per-process counter) as r1, r2... in the order they were given. */
function neutralIds(): (text: string) => string {
  const ids = new Map<string, string>();
  // Exactly this process's raw ids (connection.ts: r<pid>-<count>, base 36): a sender's id that
  // merely looks like one must stay itself, or two runs would number them differently.
  const raw = new RegExp(`r${process.pid.toString(36)}-[0-9a-z]+`, 'g');
  return (text) => text.replace(raw, (id) => ids.get(id) ?? (ids.set(id, `r${ids.size + 1}`), ids.get(id)!));
}

/** Stored files, and a check that nothing partial was left behind in .incoming/. */
function storeContents(root: string, neutral: (text: string) => string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path, name);
      else {
        // The event index names raw frames by their ids too (and sums each line, ids included).
        const index = () => neutral(readFileSync(path, 'utf8')).replace(/ \S+$/gm, '');
        const bytes = name.endsWith('.log') ? Buffer.from(index()) : readFileSync(path);
        files[neutral(name)] = `${bytes.length}:${createHash('sha1').update(bytes).digest('hex')}`;
      }
    }
  };
  walk(root, '');
  for (const name of Object.keys(files)) if (name.startsWith(INCOMING_DIR)) throw new Error(`partial file left behind: ${name}`);
  return files;
}

/**
 * Feeds chunks to a real Connection over a stream pair, storing into a throwaway FileStore
 * (tmpfs when there is one: fsync there costs nothing); returns the acks, the end and the store.
 * A hang (no end within `hangMs` after the input ended) and a bug both fail.
 */
export async function connectionOutcome(chunks: Uint8Array[], hangMs = 10_000): Promise<ConnectionOutcome> {
  const root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'surveillance-fuzz-'));
  try {
    const store = new FileStore({ root, minFreeBytes: 0 }).prepare();
    const written: Buffer[] = [];
    let ended = false;
    const socket = new Duplex({
      allowHalfOpen: true,
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        written.push(chunk);
        callback();
      },
      final(callback) {
        ended = true;
        callback();
      },
    });
    const connection = new Connection(socket, {
      store,
      log: SILENT,
      peer: 'fuzz',
      maxFrameBytes: 64 * 1024,
      maxPixels: 50_000_000,
      captureWindow: { maxAheadMs: 86_400_000, maxAgeMs: 400 * 86_400_000 },
      idleTimeoutMs: 60_000,
      frameTimeoutMs: 60_000,
      now: () => NOW,
    });
    for (const chunk of chunks) if (chunk.length > 0) socket.push(Buffer.from(chunk));
    socket.push(null);
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      connection.done,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`connection did not end within ${hangMs} ms of its input`)), hangMs))),
    ]).finally(() => clearTimeout(timer));
    if (result.bug !== undefined) throw result.bug instanceof Error ? result.bug : new Error(String(result.bug));
    // The answers are all written before done resolves (the ERR, the last OK), and our side ended.
    await new Promise((r) => setImmediate(r));
    if (!ended) throw new Error('the connection ended without ending its side of the stream');
    socket.destroy();
    const neutral = neutralIds();
    const acks = neutral(Buffer.concat(written).toString('utf8')).split('\n');
    if (acks.pop() !== '') throw new Error('the last answer has no LF');
    for (const line of acks) if (!/^(OK|DUP|ERR) \S+ \S/.test(line)) throw new Error(`not an answer: ${JSON.stringify(line)}`);
    return { acks, end: result.error?.code ?? 'ok', files: storeContents(root, neutral) };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const ERR_CODES = new Set(['bad-magic', 'bad-header', 'bad-jpeg', 'truncated', 'empty', 'too-large']);

/** Any bytes, any chunking: a defined end (answers, then an end), the same whatever the chunking. */
export const connectionProperty = fc.asyncProperty(connectionInput, cuts, async (input, cutPoints) => {
  const whole = await connectionOutcome([input]);
  const pieces = await connectionOutcome(chunked(input, cutPoints));
  if (whole.end !== 'ok' && !ERR_CODES.has(whole.end)) throw new Error(`unexpected end ${whole.end}`);
  // One OK or DUP per stored unit; an error is the last answer, and the only ERR.
  const errs = whole.acks.filter((l) => l.startsWith('ERR '));
  if (errs.length > 1 || (errs.length === 1 && !whole.acks.at(-1)!.startsWith('ERR '))) throw new Error(`ERR not last: ${whole.acks.join(' | ')}`);
  if (whole.end !== 'ok' && errs.length !== 1) throw new Error(`ended with ${whole.end} but answered ${whole.acks.join(' | ')}`);
  const stored = whole.acks.filter((l) => l.startsWith('OK ') && !l.endsWith(' pong')).length;
  // Frames only: the store keeps its event index beside them (compared across chunkings too).
  const frames = Object.keys(whole.files).filter((name) => !name.startsWith('.') && name.endsWith('.jpg')).length;
  if (frames !== stored) throw new Error(`${stored} OK but ${frames} frames stored`);
  const x = JSON.stringify(whole);
  const y = JSON.stringify(pieces);
  if (x !== y) throw new Error(`chunking changed the outcome:\n  one chunk: ${x}\n  in pieces: ${y}`);
});
