import { SurveillanceError } from './errors.ts';

/**
 * A streaming JPEG frame scanner: it walks the marker/segment structure of one JPEG
 * (ITU T.81, B.1) chunk by chunk and says where the frame ends, in constant memory.
 *
 * It never searches for FF D9 in the raw bytes: an EOI also stands inside EXIF thumbnails and
 * other segments, which the scanner skips by their length. Inside entropy-coded data, FF 00
 * (stuffing), FF D0-D7 (restart markers) and FF FF (fill) are data; any other marker ends the
 * scan and is handled as a marker, which covers progressive and arithmetic-coded images.
 *
 * The only segments whose content it reads, SOF and SOS, must be exactly as long as their own
 * fields say (T.81 B.2.2, B.2.3): a short SOF once made a 17-byte non-image pass as a frame.
 * The SOF's dimensions are checked against a pixel limit the moment they are known, so that a
 * few hundred bytes claiming 16383x16383 (a decompression bomb for every later decoder) are
 * refused before anything is stored.
 */

/**
 * Pixels a frame may have unless the caller says otherwise: well above any camera's still
 * (12 MP phones, 20-48 MP system cameras, 8K video at 33 MP) and far below the 268 MP a
 * 16383x16383 bomb claims.
 */
export const DEFAULT_MAX_PIXELS = 50_000_000;

const enum State {
  Soi0,
  Soi1,
  MarkerFF,
  MarkerCode,
  Length0,
  Length1,
  Segment,
  Entropy,
  EntropyFF,
  Done,
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const TEM = 0x01;

function isRst(m: number): boolean {
  return m >= 0xd0 && m <= 0xd7;
}

/** Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC). */
function isSof(m: number): boolean {
  return m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
}

/**
 * The first `n` bytes of `chunk` as a string of one character per byte, to find the FF bytes of
 * entropy-coded data with String.indexOf, a V8 builtin. Buffer.indexOf is a call into C++ that
 * costs about 3,500 instructions each time from not yet optimized code, and one frame has an FF
 * every few hundred bytes: a process that receives one frame and exits (systemd Accept=yes)
 * never gets past that code. Copying the chunk once costs less than two of those calls.
 */
function latin1(chunk: Uint8Array, n: number): string {
  return asBuffer(chunk).toString('latin1', 0, n);
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * How entropy-coded data is searched for its FF bytes. `copy` (latin1 above) suits a process
 * that scans a frame or two and exits (systemd Accept=yes). `buffer` is Buffer.indexOf on the
 * chunk itself, for a long-lived process (a listener): there its calls are optimized, and the
 * copy is the cost, a one-byte string as big as the chunk made for every chunk of image data
 * and collected again. Callgrind, a loop over the bench's 293 KiB frame in 64 KiB chunks, per
 * frame once warm: copy 593 K instructions, buffer 137 K (its 511 FFs).
 */
export type FfSearch = 'copy' | 'buffer';

function hex(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}

export interface JpegInfo {
  /** Bytes from SOI to EOI inclusive. */
  bytes: number;
  width: number;
  height: number;
  /** Colour components of the frame (SOF Nf): 1 for greyscale, 3 for YCbCr, 4 for CMYK. */
  components: number;
  progressive: boolean;
}

export class JpegScanner {
  private state = State.Soi0;
  private marker = 0;
  /** Bytes of the current segment's payload still to skip. */
  private remaining = 0;
  /** Offset inside the current segment's payload, to pick width and height out of SOF. */
  private segmentOffset = 0;
  /** Payload bytes of the current segment (its length field minus 2). */
  private segmentLength = 0;
  private sofSeen = false;
  private sosSeen = false;
  private total = 0;
  private width = 0;
  private height = 0;
  private components = 0;
  /** Ns of the current SOS, read from its first payload byte. */
  private scanComponents = 0;
  private progressive = false;

  constructor(
    private readonly maxBytes = Number.POSITIVE_INFINITY,
    private readonly maxPixels = Number.POSITIVE_INFINITY,
    search: FfSearch = 'copy',
  ) {
    // A flag, not the string: the scanner's state holds no strings (test/helpers/fuzz.ts checks).
    this.searchBuffer = search === 'buffer';
  }

  private readonly searchBuffer: boolean;

  /** True once the EOI of the frame has been consumed. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** Bytes consumed so far. */
  get bytes(): number {
    return this.total;
  }

  get info(): JpegInfo {
    return { bytes: this.total, width: this.width, height: this.height, components: this.components, progressive: this.progressive };
  }

  /**
   * Consumes bytes of `chunk` up to the end of the frame and returns how many it used: all of
   * them while the frame goes on, fewer once EOI is reached (the rest belongs to whatever
   * follows). Throws a SurveillanceError on the first byte that breaks the structure.
   */
  push(chunk: Uint8Array): number {
    if (this.state === State.Done) return 0;
    // Never look past the byte that breaks the size limit: what lies beyond it must not decide
    // the outcome, or the error would depend on how the input happened to be chunked.
    const n = Math.min(chunk.length, this.maxBytes - this.total + 1);
    let i = 0;
    /** The chunk as a one-byte string (search `copy`) or a Buffer, made once the entropy-coded data is reached. */
    let text: string | undefined;
    let bytes: Buffer | undefined;
    while (i < n) {
      const b = chunk[i]!;
      switch (this.state) {
        case State.Soi0:
          if (b !== 0xff) throw this.fail(i, `does not start with a JPEG SOI marker (FF D8), found ${hex(b)}`);
          this.state = State.Soi1;
          break;
        case State.Soi1:
          if (b !== SOI) throw this.fail(i, `does not start with a JPEG SOI marker (FF D8), found FF ${hex(b)}`);
          this.state = State.MarkerFF;
          break;
        case State.MarkerFF:
          if (b !== 0xff) throw this.fail(i, `expected a marker, found ${hex(b)}`);
          this.state = State.MarkerCode;
          break;
        case State.MarkerCode:
          // FF FF is fill before a marker.
          if (b !== 0xff) this.marker_(b, i);
          break;
        case State.Length0:
          this.remaining = b << 8;
          this.state = State.Length1;
          break;
        case State.Length1: {
          const length = this.remaining | b;
          if (length < 2) throw this.fail(i, `segment ${hex(this.marker)} has length ${length}, below the minimum of 2`);
          this.remaining = length - 2;
          this.segmentLength = length - 2;
          this.segmentOffset = 0;
          if (this.remaining === 0) this.endSegment(i);
          else this.state = State.Segment;
          break;
        }
        case State.Segment: {
          const take = Math.min(this.remaining, n - i);
          if (isSof(this.marker)) this.readSof(chunk, i, take);
          else if (this.marker === SOS && this.segmentOffset === 0) this.scanComponents = b;
          this.remaining -= take;
          this.segmentOffset += take;
          i += take;
          if (this.remaining === 0) this.endSegment(i - 1);
          continue;
        }
        case State.Entropy: {
          let ff = this.searchBuffer ? (bytes ??= asBuffer(chunk)).indexOf(0xff, i) : (text ??= latin1(chunk, n)).indexOf('\xff', i);
          // Most FF bytes of entropy-coded data are stuffing (FF 00) or restart markers, skipped
          // here rather than by a turn of the loop above each: at a third of the bytecode per FF,
          // one frame no longer makes push() hot enough for V8's optimising compiler, whose
          // compile costs more instructions than the frame's whole scan (a process that
          // receives one frame and exits never uses the result).
          while (ff !== -1 && ff + 1 < n) {
            const next = chunk[ff + 1]!;
            if (next !== 0x00 && !isRst(next)) break;
            ff = text !== undefined ? text.indexOf('\xff', ff + 2) : bytes!.indexOf(0xff, ff + 2);
          }
          // Buffer.indexOf searches the whole chunk, past the limit n.
          if (ff >= n) ff = -1;
          if (ff === -1) {
            i = n;
            continue;
          }
          i = ff;
          this.state = State.EntropyFF;
          break;
        }
        case State.EntropyFF:
          if (b === 0x00 || isRst(b)) this.state = State.Entropy;
          else if (b !== 0xff) this.marker_(b, i);
          break;
      }
      i++;
      // marker_() may have moved us to Done; TypeScript narrowed `state` before the switch.
      if ((this.state as State) === State.Done) return this.consumed(i);
    }
    return this.consumed(n);
  }

  /**
   * Called when the input ends. Throws unless a whole frame was seen, so that a JPEG without
   * its EOI is never taken for a frame.
   */
  end(): JpegInfo {
    if (this.state === State.Done) return this.info;
    if (this.total === 0) throw new SurveillanceError('empty', 'no JPEG bytes before the end of input');
    throw new SurveillanceError(
      'truncated',
      `JPEG truncated after ${this.total} bytes: input ended ${this.sosSeen ? 'inside image data, before EOI' : 'before image data'}`,
    );
  }

  private consumed(used: number): number {
    this.total += used;
    if (this.total > this.maxBytes) {
      throw new SurveillanceError('too-large', `frame is larger than the limit of ${this.maxBytes} bytes`);
    }
    return used;
  }

  private marker_(m: number, at: number): void {
    if (m === EOI) {
      if (!this.sofSeen || !this.sosSeen) throw this.fail(at, 'EOI before any image data (no SOF or SOS)');
      this.state = State.Done;
    } else if (m === SOI) {
      throw this.fail(at, 'SOI inside a frame');
    } else if (m === 0x00 || isRst(m)) {
      throw this.fail(at, `marker FF ${hex(m)} outside entropy-coded data`);
    } else if (m === TEM) {
      this.state = State.MarkerFF;
    } else {
      if (m === SOS && !this.sofSeen) throw this.fail(at, 'SOS before any SOF');
      if (isSof(m)) {
        if (this.sofSeen) throw this.fail(at, 'second SOF in one frame');
        this.sofSeen = true;
        this.progressive = m === 0xc2 || m === 0xc6 || m === 0xca || m === 0xce;
      }
      this.marker = m;
      this.state = State.Length0;
    }
  }

  private endSegment(at: number): void {
    if (this.marker === SOS) {
      // Ls = 6 + 2 x Ns, Ns 1-4 (T.81 B.2.3).
      const length = this.segmentLength + 2;
      const ns = this.scanComponents;
      if (length < 3) throw this.fail(at, `SOS segment of length ${length} is too short to hold its component count`);
      if (ns < 1 || ns > 4) throw this.fail(at, `SOS with ${ns} components (1-4 allowed)`);
      if (length !== 6 + 2 * ns) throw this.fail(at, `SOS segment of length ${length} does not fit its ${ns} components (6 + 2 per component = ${6 + 2 * ns})`);
      this.sosSeen = true;
      this.state = State.Entropy;
    } else {
      if (isSof(this.marker)) this.checkSof(at);
      this.state = State.MarkerFF;
    }
  }

  /** Lf = 8 + 3 x Nf (T.81 B.2.2); a zero height (to come in a DNL) is not accepted either. */
  private checkSof(at: number): void {
    const length = this.segmentLength + 2;
    const nf = this.components;
    if (length < 8) throw this.fail(at, `SOF segment of length ${length} is shorter than the 8 bytes of its fixed fields`);
    if (nf === 0) throw this.fail(at, 'SOF with no components');
    if (length !== 8 + 3 * nf) throw this.fail(at, `SOF segment of length ${length} does not fit its ${nf} components (8 + 3 per component = ${8 + 3 * nf})`);
    if (this.width === 0 || this.height === 0) throw this.fail(at, `SOF with a zero dimension (${this.width}x${this.height})`);
    const pixels = this.width * this.height;
    if (pixels > this.maxPixels) {
      throw new SurveillanceError('too-large', `frame of ${this.width}x${this.height} = ${pixels} pixels is larger than the limit of ${this.maxPixels} pixels`);
    }
  }

  /** SOF payload: precision (1), height (2), width (2), components (1), 3 bytes per component. */
  private readSof(chunk: Uint8Array, start: number, take: number): void {
    for (let k = 0; k < take; k++) {
      const offset = this.segmentOffset + k;
      if (offset > 5) return;
      const b = chunk[start + k]!;
      if (offset === 1) this.height = b << 8;
      else if (offset === 2) this.height |= b;
      else if (offset === 3) this.width = b << 8;
      else if (offset === 4) this.width |= b;
      else if (offset === 5) this.components = b;
    }
  }

  private fail(at: number, reason: string): SurveillanceError {
    return new SurveillanceError('bad-jpeg', `not a valid JPEG at byte ${this.total + at}: ${reason}`);
  }
}

/** Scans a whole buffer; returns the frame's info and where it ended, or throws. */
export function scanJpeg(bytes: Uint8Array, maxBytes?: number, maxPixels?: number): JpegInfo {
  const scanner = new JpegScanner(maxBytes, maxPixels);
  scanner.push(bytes);
  return scanner.end();
}

/** True when `bytes` holds one whole JPEG frame (nothing after EOI is checked). */
export function isCompleteJpeg(bytes: Uint8Array): boolean {
  try {
    scanJpeg(bytes);
    return true;
  } catch {
    return false;
  }
}
