import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { isCompleteJpeg, SurveillanceError, type Spec, type Values, formatBytes } from '@surveillance/shared';
import { loadSharp, type SharpFactory } from '@surveillance/shared/sharp';
import type { SharpOptions } from 'sharp';
import { startCommand } from '../command-start.ts';
import { storeSpec } from '../store/store-options.ts';
import type { FrameEntry, FrameIndex } from '../store/store.ts';
import { OutputFile } from './output-file.ts';
import { ProgressBar } from './progress-bar.ts';
import { cameraOption, checkCamera, eventGapOption, out } from './review-command.ts';
import { parseEventId } from '../store/events.ts';
import { eventWithFrames } from '../store/event-query.ts';
import { formatLocal, rangeSpec, resolveRange, type TimeRange } from './time-range.ts';

const HELP = `Usage: surveillance-receiver export --out FILE [--camera NAME] [--since 2h | --day DATE | --from TIME [--to TIME]]
                                    [--max-frames N] [--step N] [--width PX] [--columns N] [--fps N]
       surveillance-receiver export --out FILE --event ID [--event-gap 30s] [...]

Exports a camera's frames in a time range; what is made follows the extension of --out:
  .jpg .jpeg .png   contact sheet: a grid of thumbnails, each with its local time
  .webp .gif        time-lapse: an animation of the frames, each with its local time
  .mjpeg .mjpg      time-lapse of the original JPEGs, concatenated (ffplay/VLC/ffmpeg read it)
--step N takes every Nth frame; then at most --max-frames are kept, spread evenly over the
range. --event ID takes one event's frames instead (its id from \`events\` or a notification;
heartbeats are not part of it), with the same --event-gap as when it was listed. The file appears only when complete (written beside it, then renamed). --camera may be
left out when the store has a single camera. A progress bar shows on a terminal (stderr).`;

type Kind = 'sheet' | 'animation' | 'mjpeg';

const FORMATS: Record<string, { kind: Kind; format: 'jpeg' | 'png' | 'webp' | 'gif' | 'mjpeg' }> = {
  '.jpg': { kind: 'sheet', format: 'jpeg' },
  '.jpeg': { kind: 'sheet', format: 'jpeg' },
  '.png': { kind: 'sheet', format: 'png' },
  '.webp': { kind: 'animation', format: 'webp' },
  '.gif': { kind: 'animation', format: 'gif' },
  '.mjpeg': { kind: 'mjpeg', format: 'mjpeg' },
  '.mjpg': { kind: 'mjpeg', format: 'mjpeg' },
};

const DEFAULTS: Record<Kind, { maxFrames: number; width: number }> = {
  sheet: { maxFrames: 120, width: 240 },
  animation: { maxFrames: 240, width: 480 },
  mjpeg: { maxFrames: 100_000, width: 0 },
};

/** Beyond these an export would take gigabytes of memory, or make an image nothing opens. */
const MAX_SHEET_PIXELS = 120_000_000;
const MAX_SHEET_SIDE = 32_000;
const MAX_ANIMATION_BYTES = 768 * 1024 * 1024;

export const exportSpec = {
  ...storeSpec,
  ...cameraOption,
  ...rangeSpec,
  event: { kind: 'string', description: 'one event, by its id (from `events`, a notification or the gallery)', flagOnly: true },
  ...eventGapOption,
  out: { kind: 'path', description: 'file to write; its extension picks what is made', flagOnly: true },
  'max-frames': { kind: 'int', description: 'at most this many frames, spread evenly', defaultText: '120 sheet, 240 animation, 100000 MJPEG', min: 1, flagOnly: true },
  step: { kind: 'int', description: 'take every Nth frame of the range', default: 1, min: 1, flagOnly: true },
  width: { kind: 'int', description: 'thumbnail or animation width in pixels', defaultText: '240 sheet, 480 animation', min: 16, max: 4096, flagOnly: true },
  columns: { kind: 'int', description: 'contact sheet: thumbnails per row', defaultText: 'up to 8', min: 1, max: 100, flagOnly: true },
  fps: { kind: 'number', description: 'animation: frames per second', default: 10, min: 0.1, max: 100, flagOnly: true },
  quality: { kind: 'int', description: 'JPEG/WebP quality', default: 80, min: 1, max: 100, flagOnly: true },
} as const satisfies Spec;

/**
 * sharp (loaded only when an export runs) for the frames, with the shared pixel limit, and for
 * the images export composes itself (the sheet's canvas, the animation's strip), whose size the
 * checks in contactSheet and timeLapse bound: their limit is that bound, not a camera's.
 */
async function loadSharps(): Promise<{ frames: SharpFactory; composed: SharpFactory }> {
  const [frames, composed] = await Promise.all([loadSharp(), loadSharp({ limitInputPixels: Math.max(MAX_SHEET_PIXELS, MAX_ANIMATION_BYTES / 3) })]);
  return { frames, composed };
}

/** A frame's bytes; a frame pruned since it was listed is an error for that frame only. */
async function frameBytes(store: FrameIndex, frame: FrameEntry): Promise<Buffer> {
  const data = await store.open(frame.name);
  if (!data) throw new SurveillanceError('not-found', 'gone from the store (pruned?)');
  return data.bytes();
}

/** Every `step`th frame, then at most `max`, spread evenly from first to last. */
export function pickFrames<T>(frames: readonly T[], step: number, max: number): T[] {
  const stepped = step > 1 ? frames.filter((_, i) => i % step === 0) : [...frames];
  if (stepped.length <= max) return stepped;
  if (max === 1) return [stepped[0]!];
  return Array.from({ length: max }, (_, i) => stepped[Math.round((i * (stepped.length - 1)) / (max - 1))]!);
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const start = await startCommand(HELP, exportSpec, argv, env);
  if (!start) return 0;
  const { values, store } = start;
  if (values.out === undefined) throw new SurveillanceError('usage', 'option --out FILE is required: the file to write (.jpg/.png sheet, .webp/.gif/.mjpeg time-lapse)');
  const ext = extname(values.out).toLowerCase();
  const target = FORMATS[ext];
  if (!target) {
    throw new SurveillanceError(
      'usage',
      `cannot tell what to make from --out ${values.out}: use .jpg or .png (contact sheet), .webp or .gif (time-lapse) or .mjpeg (time-lapse of the original JPEGs)`,
    );
  }
  const { camera, range, inRange } = values.event !== undefined ? await eventFrames(store, values) : await rangeFrames(store, values);
  const defaults = DEFAULTS[target.kind];
  const frames = pickFrames(inRange, values.step, values['max-frames'] ?? defaults.maxFrames);
  const job: Job = {
    store,
    camera,
    range,
    frames,
    inRange: inRange.length,
    width: values.width ?? defaults.width,
    columns: values.columns,
    delayMs: Math.round(1000 / values.fps),
    quality: values.quality,
    format: target.format,
  };
  const output = new OutputFile(values.out);
  try {
    const made = target.kind === 'mjpeg' ? await writeMjpeg(job, output) : await (target.kind === 'sheet' ? contactSheet(job) : timeLapse(job));
    if (made.output) output.write(made.output);
    if (made.skipped.length > 0) {
      process.stderr.write(`skipped ${made.skipped.length} unreadable frame(s), first ${made.skipped[0]}\n`);
    }
    output.commit();
    const picked = frames.length - made.skipped.length;
    const what = target.kind === 'sheet' ? 'contact sheet' : 'time-lapse';
    const first = formatLocal(frames[0]!.time, false);
    const last = formatLocal(frames.at(-1)!.time, false);
    out(`wrote ${output.path}: ${what} of ${picked} frames (of ${inRange.length} in range) of ${camera}, ${first} .. ${last}, ${made.size}, ${formatBytes(output.bytes)}\n`);
    return 0;
  } catch (e) {
    output.abort();
    throw e;
  }
}

interface Job {
  store: FrameIndex;
  camera: string;
  range: TimeRange;
  frames: FrameEntry[];
  inRange: number;
  width: number;
  columns: number | undefined;
  delayMs: number;
  quality: number;
  format: 'jpeg' | 'png' | 'webp' | 'gif' | 'mjpeg';
}

interface Made {
  /** Frames that could not be read, as "name: reason". */
  skipped: string[];
  /** Dimensions, for the summary line. */
  size: string;
  output?: Buffer;
}

type ExportValues = Values<typeof exportSpec>;

async function rangeFrames(store: FrameIndex, values: ExportValues): Promise<{ camera: string; range: TimeRange; inRange: FrameEntry[] }> {
  const camera = values.camera ?? (await onlyCamera(store));
  await checkCamera(store, camera);
  const range = resolveRange(values);
  const inRange = await store.frames({ camera, ...range });
  if (inRange.length === 0) throw new SurveillanceError('not-found', `no frames of camera ${JSON.stringify(camera)} ${describeRange(range)}`);
  return { camera, range, inRange };
}

/** The frames of one event: from its first to its last, heartbeats left out. */
async function eventFrames(store: FrameIndex, values: ExportValues): Promise<{ camera: string; range: TimeRange; inRange: FrameEntry[] }> {
  const id = values.event!;
  const given = (['since', 'from', 'to', 'day'] as const).filter((k) => values[k] !== undefined);
  if (given.length > 0) throw new SurveillanceError('usage', `option --event cannot be combined with --${given[0]}: the event says which frames`);
  const parsed = parseEventId(id);
  if (!parsed) throw new SurveillanceError('usage', `option --event: ${JSON.stringify(id)} is not an event id (CAMERA-yyyyMMddTHHmmss.SSSZ, as \`events\` prints it)`);
  const { camera } = parsed;
  if (values.camera !== undefined && values.camera !== camera) throw new SurveillanceError('usage', `option --camera ${values.camera} does not match event ${id}, which is of camera ${camera}`);
  await checkCamera(store, camera);
  const found = await eventWithFrames(store, id, parsed, values['event-gap'], new Date());
  if (!found) {
    throw new SurveillanceError('not-found', `no event ${id} in store ${store.location} (pruned, or listed with another --event-gap than ${values['event-gap'] / 1000} s?)`);
  }
  const range = { from: found.event.start, to: new Date(found.event.last.getTime() + 1) };
  return { camera, range, inRange: found.frames };
}

async function onlyCamera(store: FrameIndex): Promise<string> {
  const cameras = await store.cameras();
  if (cameras.length === 1) return cameras[0]!;
  if (cameras.length === 0) throw new SurveillanceError('not-found', `store ${store.location} holds no frames yet`);
  throw new SurveillanceError('usage', `option --camera is required: the store has ${cameras.length} cameras (${cameras.join(', ')})`);
}

function describeRange(range: TimeRange): string {
  if (range.from && range.to) return `from ${formatLocal(range.from, false)} to ${formatLocal(range.to, false)}`;
  if (range.from) return `since ${formatLocal(range.from, false)}`;
  if (range.to) return `before ${formatLocal(range.to, false)}`;
  return 'in the store';
}

/** Runs `fn` over `items` with at most `limit` at once, in order of the results. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Monospace glyphs are about this wide, per pixel of font size (DejaVu Sans Mono: 0.6). */
const GLYPH_WIDTH = 0.62;

function fontSizeFor(width: number): number {
  return Math.max(8, Math.min(24, Math.floor(width / 17)));
}

/** The first of `texts` that fits on one line of `width` pixels, else the last. */
function fitting(width: number, texts: string[]): string {
  const room = width - (2 * fontSizeFor(width)) / 3;
  return texts.find((t) => t.length * GLYPH_WIDTH * fontSizeFor(width) <= room) ?? texts.at(-1)!;
}

/** A dark band with white text, as SVG for sharp's composite. */
function label(width: number, text: string): { svg: Buffer; height: number } {
  const fontSize = fontSizeFor(width);
  const height = Math.round(fontSize * 1.5);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="black" fill-opacity="0.6"/><text x="${Math.round(fontSize / 3)}" y="${Math.round(fontSize * 1.1)}" font-family="DejaVu Sans Mono, monospace" font-size="${fontSize}" fill="white">${text}</text></svg>`;
  return { svg: Buffer.from(svg), height };
}

/** Frame geometry: the given width, the first readable frame's aspect ratio. */
async function geometry(sharp: SharpFactory, job: Job): Promise<{ width: number; height: number }> {
  for (const f of job.frames) {
    try {
      const m = await sharp(await frameBytes(job.store, f)).metadata();
      if (m.width && m.height) return { width: job.width, height: Math.max(2, Math.round((job.width * m.height) / m.width)) };
    } catch {
      // unreadable: the next frame decides
    }
  }
  throw new SurveillanceError('bad-jpeg', `none of the ${job.frames.length} frames picked could be read`);
}

/** Renders every picked frame at `width`x`height` with its local time, as raw RGB; returns the unreadable ones. */
async function renderFrames(
  sharp: SharpFactory,
  job: Job,
  width: number,
  height: number,
  onFrame: (index: number, pixels: Buffer) => void,
): Promise<string[]> {
  const skipped: string[] = [];
  const bar = new ProgressBar(`export ${job.camera}`, job.frames.length);
  await mapLimit(job.frames, availableParallelism(), async (f, i) => {
    // Small thumbnails drop the date, then the offset: the time of day must stay readable.
    const local = formatLocal(f.time, false);
    const tag = label(width, fitting(width, [local, local.slice(11), local.slice(11, 19)]));
    try {
      const pixels = await sharp(await frameBytes(job.store, f), { failOn: 'error' })
        .resize(width, height, { fit: 'contain', background: '#000' })
        .composite([{ input: tag.svg, gravity: 'south' }])
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer();
      onFrame(i, pixels);
    } catch (e) {
      skipped.push(`${f.name}: ${(e as Error).message}`);
    }
    bar.tick();
  });
  bar.finish();
  if (skipped.length === job.frames.length) throw new SurveillanceError('bad-jpeg', `none of the ${job.frames.length} frames picked could be read: ${skipped[0]}`);
  return skipped;
}

async function contactSheet(job: Job): Promise<Made> {
  const sharp = await loadSharps();
  const { width, height } = await geometry(sharp.frames, job);
  const columns = Math.min(job.columns ?? 8, job.frames.length);
  const gap = 4;
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const headerText = `${job.camera}  ${formatLocal(job.frames[0]!.time, false)} .. ${formatLocal(job.frames.at(-1)!.time, false)}  (${timeZone})  ${job.frames.length} of ${job.inRange} frames`;
  const sheetWidth = columns * (width + gap) + gap;
  const header = label(sheetWidth, fitting(sheetWidth, [headerText, `${job.camera}  ${job.frames.length} of ${job.inRange} frames`, job.camera]));
  const rows = Math.ceil(job.frames.length / columns);
  const sheetHeight = header.height + rows * (height + gap) + gap;
  if (sheetWidth > MAX_SHEET_SIDE || sheetHeight > MAX_SHEET_SIDE || sheetWidth * sheetHeight > MAX_SHEET_PIXELS) {
    throw new SurveillanceError('usage', `a contact sheet of ${job.frames.length} frames would be ${sheetWidth}x${sheetHeight} pixels, too large: lower --max-frames or --width, or change --columns`);
  }
  const rendered: (Buffer | undefined)[] = [];
  const skipped = await renderFrames(sharp.frames, job, width, height, (i, pixels) => (rendered[i] = pixels));
  // Tiles in time order; unreadable frames leave no hole.
  const tiles = rendered
    .filter((p): p is Buffer => p !== undefined)
    .map((input, k) => ({
      input,
      raw: { width, height, channels: 3 as const },
      left: gap + (k % columns) * (width + gap),
      top: header.height + gap + Math.floor(k / columns) * (height + gap),
    }));
  const canvas = sharp.composed({ create: { width: sheetWidth, height: sheetHeight, channels: 3, background: '#202020' } }).composite([
    { input: header.svg, left: 0, top: 0 },
    ...tiles,
  ]);
  const encoded = await (job.format === 'png' ? canvas.png() : canvas.jpeg({ quality: job.quality, mozjpeg: false })).toBuffer();
  return { skipped, size: `${sheetWidth}x${sheetHeight}`, output: encoded };
}

async function timeLapse(job: Job): Promise<Made> {
  const sharp = await loadSharps();
  const { width, height } = await geometry(sharp.frames, job);
  const frameBytes = width * height * 3;
  if (frameBytes * job.frames.length > MAX_ANIMATION_BYTES) {
    throw new SurveillanceError(
      'usage',
      `a time-lapse of ${job.frames.length} frames at ${width}x${height} needs ${formatBytes(frameBytes * job.frames.length)} of memory, more than ${formatBytes(MAX_ANIMATION_BYTES)}: lower --max-frames or --width`,
    );
  }
  const pixels = Buffer.alloc(frameBytes * job.frames.length);
  const readable: boolean[] = [];
  const skipped = await renderFrames(sharp.frames, job, width, height, (i, frame) => {
    frame.copy(pixels, i * frameBytes);
    readable[i] = true;
  });
  // Close the holes unreadable frames left, keeping time order.
  let count = 0;
  for (let i = 0; i < job.frames.length; i++) {
    if (!readable[i]) continue;
    if (i !== count) pixels.copy(pixels, count * frameBytes, i * frameBytes, (i + 1) * frameBytes);
    count++;
  }
  const strip = sharp.composed(pixels.subarray(0, count * frameBytes), { raw: { width, height: height * count, channels: 3, pageHeight: height } } as SharpOptions);
  // One delay per frame: a single number sets only the first frame's delay.
  const animation = { delay: new Array<number>(count).fill(job.delayMs), loop: 0 };
  const encoded = await (job.format === 'gif' ? strip.gif(animation) : strip.webp({ ...animation, quality: job.quality })).toBuffer();
  return { skipped, size: `${width}x${height}, ${count} frames at ${(1000 / job.delayMs).toFixed(1)} fps`, output: encoded };
}

/** MJPEG is JPEGs back to back: no decoding, constant memory, any number of frames. */
async function writeMjpeg(job: Job, output: OutputFile): Promise<Made> {
  const skipped: string[] = [];
  const bar = new ProgressBar(`export ${job.camera}`, job.frames.length);
  for (const f of job.frames) {
    let jpeg: Buffer | undefined;
    try {
      jpeg = await frameBytes(job.store, f);
    } catch (e) {
      skipped.push(`${f.name}: ${(e as Error).message}`);
    }
    if (jpeg && !isCompleteJpeg(jpeg)) skipped.push(`${f.name}: not a complete JPEG`);
    else if (jpeg) output.write(jpeg);
    bar.tick();
  }
  bar.finish();
  if (skipped.length === job.frames.length) throw new SurveillanceError('bad-jpeg', `none of the ${job.frames.length} frames picked could be read: ${skipped[0]}`);
  return { skipped, size: 'original size' };
}
