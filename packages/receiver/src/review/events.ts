import { writeStderr, type Spec } from '@surveillance/shared';
import { startCommand } from '../command-start.ts';
import { eventJson, type FrameEvent } from '../store/events.ts';
import { storeSpec } from '../store/store-options.ts';
import type { FrameIndex } from '../store/store.ts';
import { cameraOption, checkCamera, eventGapOption, jsonOption, out } from './review-command.ts';
import { formatLocal, isoLocal, rangeSpec, resolveRange } from './time-range.ts';

const HELP = `Usage: surveillance-receiver events [--camera NAME] [--since 2h | --day DATE | --from TIME [--to TIME]]
                                    [--event-gap 30s] [--json]

Lists events, oldest first: a camera's bursts of frames, each starting after at least
--event-gap of quiet and ending --event-gap after its last frame. The sender's heartbeats
neither start nor extend one. One line each: local start, camera, duration (first to last
frame), frames, the cover frame (the largest change) and the event's id, which
\`export --event ID\` and the gallery's ?event=ID take. An event still going on says "open".
The range selects events by their start; each is shown whole.

Reasons and scores come from the store's event index (STORE/.index); where it is missing
or damaged, the frames it no longer describes count as motion, heartbeats included.

--json prints one JSON object per line (NDJSON):
  {"id":"front-20261121T055300.123Z","camera":"front","start":"2026-11-21T05:53:00.123Z",
   "last":"...","end":"..." or null,"open":false,"frames":42,"cover":"front/...jpg","score":0.31,
   "local":"2026-11-21T06:53:00.123+01:00","durationMs":81234,"coverPath":"/var/lib/..."}`;

export const eventsSpec = {
  ...storeSpec,
  ...cameraOption,
  ...rangeSpec,
  ...eventGapOption,
  ...jsonOption,
} as const satisfies Spec;

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const start = await startCommand(HELP, eventsSpec, argv, env);
  if (!start) return 0;
  const { values, store } = start;
  await checkCamera(store, values.camera);
  const now = new Date();
  const events = await store.events({ camera: values.camera, ...resolveRange(values, now), gapMs: values['event-gap'], now });
  out(events.map(values.json ? jsonLine(store) : humanLine(store, events)).join(''));
  if (events.length === 0) writeStderr('no events in that range\n');
  return 0;
}

/** 1m 05s, 12s, 2h 03m: an event's length, seconds shown. */
export function eventDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${p2(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${p2(Math.floor(s / 60) % 60)}m`;
}

function jsonLine(store: FrameIndex): (e: FrameEvent) => string {
  return (e) =>
    `${JSON.stringify({ ...eventJson(e), local: isoLocal(e.start), durationMs: e.last.getTime() - e.start.getTime(), coverPath: store.locate(e.cover.name) })}\n`;
}

function humanLine(store: FrameIndex, events: FrameEvent[]): (e: FrameEvent) => string {
  const width = events.reduce((w, e) => Math.max(w, e.camera.length), 0);
  return (e) => {
    const length = `${eventDuration(e.last.getTime() - e.start.getTime())}${e.end ? '' : ' open'}`;
    return `${formatLocal(e.start, false)}  ${e.camera.padEnd(width)}  ${length.padStart(8)}  ${String(e.frames).padStart(5)} frames  ${store.locate(e.cover.name)}  ${e.id}\n`;
  };
}
