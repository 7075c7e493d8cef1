import { type Spec, formatBytes, formatDuration } from '@surveillance/shared';
import { startCommand } from '../command-start.ts';
import { storeSpec } from '../store/store-options.ts';
import type { FrameEntry } from '../store/store.ts';
import { cameraOption, checkCamera, jsonOption, out } from './review-command.ts';
import { formatLocal, localDate, rangeSpec, resolveRange } from './time-range.ts';

const HELP = `Usage: surveillance-receiver stats [--camera NAME] [--since 7d | --day DATE | --from TIME [--to TIME]] [--gap 10m] [--json]

Frames and bytes per camera and per local day, first and last frame, and the gaps where a
camera sent nothing for --gap or longer (including "silent since", when the range reaches now).
Sizes take one stat per frame; listing takes none.

--json prints one object: {"store","timeZone","from","to","gapMs","frames","bytes","cameras":[
  {"camera","frames","bytes","first","last","days":[{"date","frames","bytes","first","last"}],
   "gaps":[{"from","to","ms"}]}]}; times are ISO UTC; "to" of a gap is null while still silent.`;

export const statsSpec = {
  ...storeSpec,
  ...cameraOption,
  ...rangeSpec,
  gap: { kind: 'duration', description: 'report silences at least this long', default: 600_000, min: 1000 },
  ...jsonOption,
} as const satisfies Spec;

export interface DayStats {
  /** Local date, yyyy-MM-dd. */
  date: string;
  frames: number;
  bytes: number;
  first: Date;
  last: Date;
}

export interface Gap {
  from: Date;
  /** null: the camera is still silent. */
  to: Date | null;
  ms: number;
}

export interface CameraStats {
  camera: string;
  frames: number;
  bytes: number;
  first?: Date;
  last?: Date;
  days: DayStats[];
  gaps: Gap[];
}

/**
 * Per-camera figures from frames sorted by time. A silence that runs to the end of the range
 * counts as a gap only when the range ends now or later: "the camera went quiet an hour ago".
 */
export function cameraStats(camera: string, frames: readonly FrameEntry[], sizes: readonly number[], gapMs: number, openUntil?: Date): CameraStats {
  const s: CameraStats = { camera, frames: 0, bytes: 0, days: [], gaps: [] };
  let day: DayStats | undefined;
  frames.forEach((f, i) => {
    if (f.camera !== camera) return;
    const bytes = sizes[i]!;
    if (s.last && f.time.getTime() - s.last.getTime() >= gapMs) s.gaps.push({ from: s.last, to: f.time, ms: f.time.getTime() - s.last.getTime() });
    const date = localDate(f.time);
    if (day?.date !== date) s.days.push((day = { date, frames: 0, bytes: 0, first: f.time, last: f.time }));
    day.frames++;
    day.bytes += bytes;
    day.last = f.time;
    s.frames++;
    s.bytes += bytes;
    s.first ??= f.time;
    s.last = f.time;
  });
  if (s.last && openUntil && openUntil.getTime() - s.last.getTime() >= gapMs) {
    s.gaps.push({ from: s.last, to: null, ms: openUntil.getTime() - s.last.getTime() });
  }
  return s;
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const start = await startCommand(HELP, statsSpec, argv, env);
  if (!start) return 0;
  const { values, store } = start;
  const root = store.location;
  await checkCamera(store, values.camera);
  const now = new Date();
  const range = resolveRange(values, now);
  const frames = await store.frames({ camera: values.camera, ...range });
  const sizes = await store.sizes(frames);
  const openUntil = range.to === undefined || range.to > now ? now : undefined;
  const cameras = (values.camera !== undefined ? [values.camera] : await store.cameras()).map((c) =>
    cameraStats(c, frames, sizes, values.gap, openUntil),
  );
  const total = { frames: frames.length, bytes: sizes.reduce((a, b) => a + b, 0) };
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (values.json) {
    const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
    const doc = {
      store: root,
      timeZone,
      from: iso(range.from),
      to: iso(range.to),
      gapMs: values.gap,
      ...total,
      cameras: cameras.map((c) => ({
        camera: c.camera,
        frames: c.frames,
        bytes: c.bytes,
        first: iso(c.first),
        last: iso(c.last),
        days: c.days.map((d) => ({ ...d, first: iso(d.first), last: iso(d.last) })),
        gaps: c.gaps.map((g) => ({ from: iso(g.from), to: iso(g.to), ms: g.ms })),
      })),
    };
    out(`${JSON.stringify(doc, null, 2)}\n`);
    return 0;
  }
  out(humanReport(root, timeZone, cameras, total, values.gap));
  return 0;
}

function table(rows: string[][], rightAligned: number[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) => r.map((cell, c) => (rightAligned.includes(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd())
    .map((line) => `  ${line}\n`)
    .join('');
}

function humanReport(root: string, timeZone: string, cameras: CameraStats[], total: { frames: number; bytes: number }, gapMs: number): string {
  const when = (d?: Date) => (d ? formatLocal(d, false) : '-');
  const clock = (d: Date) => formatLocal(d, false).slice(11, 19);
  let text = `store ${root} (local times: ${timeZone})\n`;
  text += table(
    [
      ['camera', 'frames', 'size', 'first', 'last'],
      ...cameras.map((c) => [c.camera, String(c.frames), formatBytes(c.bytes), when(c.first), when(c.last)]),
      ['total', String(total.frames), formatBytes(total.bytes), '', ''],
    ],
    [1, 2],
  );
  for (const c of cameras) {
    if (c.frames === 0) continue;
    text += `\n${c.camera} by local day:\n`;
    text += table([['date', 'frames', 'size', 'first', 'last'], ...c.days.map((d) => [d.date, String(d.frames), formatBytes(d.bytes), clock(d.first), clock(d.last)])], [1, 2]);
    text += c.gaps.length
      ? `${c.camera} silent for ${formatDuration(gapMs)} or more:\n${table(c.gaps.map((g) => [when(g.from), '..', g.to ? when(g.to) : 'now', formatDuration(g.ms)]), [3])}`
      : `${c.camera}: no silence of ${formatDuration(gapMs)} or more\n`;
  }
  return text;
}
