import { DEFAULT_MAX_PIXELS, JpegScanner, SurveillanceError } from '@surveillance/shared';
import type { FrameData } from '../store/store.ts';

/**
 * Frames too large to decode, told from their SOF alone. The receiver refuses such frames
 * (--max-pixels), but a store can hold older ones, or files put there by hand: a 550-byte
 * JPEG can claim 16383x16383, and decoding it (a thumbnail, or a browser showing it) takes
 * gigabytes. The gallery reads the first bytes of a frame before it serves or thumbnails it.
 */

/** How far into a frame its SOF is looked for: past an EXIF block (at most 64 kB) and the tables. */
const HEAD_BYTES = 256 * 1024;
/** Verdicts remembered (a frame never changes under its name); forgotten all at once past this. */
const REMEMBERED = 20_000;

export class PixelLimit {
  private readonly verdicts = new Map<string, string | undefined>();

  constructor(readonly maxPixels = DEFAULT_MAX_PIXELS) {}

  /** Why the frame must not be decoded, or undefined when it may (or its header cannot tell). */
  async refusal(name: string, data: FrameData): Promise<string | undefined> {
    if (this.verdicts.has(name)) return this.verdicts.get(name);
    const verdict = await this.read(data);
    if (this.verdicts.size >= REMEMBERED) this.verdicts.clear();
    this.verdicts.set(name, verdict);
    return verdict;
  }

  private async read(data: FrameData): Promise<string | undefined> {
    const scanner = new JpegScanner(Number.POSITIVE_INFINITY, this.maxPixels);
    const stream = data.stream();
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        scanner.push(chunk);
        // SOF read and within the limit, or no SOF where one would be: nothing to refuse.
        if (scanner.info.width > 0 || scanner.done || scanner.bytes >= HEAD_BYTES) return undefined;
      }
      return undefined;
    } catch (e) {
      if (e instanceof SurveillanceError && e.code === 'too-large') return `${e.message}: not decoded, here or in the browser (a decompression bomb takes gigabytes); the file stays in the store`;
      // A damaged JPEG is not a bomb: decoders stop at the damage.
      if (e instanceof SurveillanceError) return undefined;
      throw e;
    } finally {
      stream.destroy();
    }
  }
}
