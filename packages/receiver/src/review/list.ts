import { writeStderr, type Spec } from '@surveillance/shared';
import { startCommand } from '../command-start.ts';
import { storeSpec } from '../store/store-options.ts';
import type { FrameEntry, FrameIndex } from '../store/store.ts';
import { cameraOption, checkCamera, jsonOption, out } from './review-command.ts';
import { ListingTimes } from './listing-times.ts';
import { rangeSpec, resolveRange } from './time-range.ts';

const HELP = `Usage: surveillance-receiver list [--camera NAME] [--since 2h | --day DATE | --from TIME [--to TIME]] [--json]

Lists stored frames, oldest first, one line each: local time (with its UTC offset), camera,
path. Times you type are local (the TZ environment variable); --to is exclusive, so
--from 2026-03-29 --to 2026-03-30 is exactly that local day, however many hours it has.

--json prints one JSON object per line (NDJSON), for jq and scripts:
  {"camera":"front","id":"4f2a9c","time":"2026-11-21T05:53:00.123Z",
   "local":"2026-11-21T06:53:00.123+01:00","name":"front/2026-11-21/...jpg","path":"/var/lib/..."}`;

export const listSpec = {
  ...storeSpec,
  ...cameraOption,
  ...rangeSpec,
  last: { kind: 'int', description: 'only the newest N frames of the range', min: 1, flagOnly: true },
  ...jsonOption,
} as const satisfies Spec;

/**
 * Output is written in chunks of about this many characters: one write per frame is ten times
 * slower for a day of frames, and a chunk much larger keeps its lines alive through collections.
 */
const CHUNK_CHARS = 1 << 16;

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const start = await startCommand(HELP, listSpec, argv, env);
  if (!start) return 0;
  const { values, store } = start;
  await checkCamera(store, values.camera);
  let frames = await store.frames({ camera: values.camera, ...resolveRange(values) });
  if (values.last !== undefined) frames = frames.slice(-values.last);
  const line = values.json ? jsonLine(store) : humanLine(store, frames);
  let text = '';
  for (const f of frames) {
    text += line(f);
    if (text.length >= CHUNK_CHARS) {
      out(text);
      text = '';
    }
  }
  out(text);
  if (frames.length === 0) writeStderr('no frames in that range\n');
  return 0;
}

/**
 * The text of a frame's location: its store's prefix, made once, then the name, when the
 * store locates every name that way (both do); else the store is asked per frame.
 */
function locator(store: FrameIndex, escape: (text: string) => string): (name: string) => string {
  const prefix = store.locate('');
  const sample = 'a/b.jpg';
  if (store.locate(sample) !== prefix + sample) return (name) => escape(store.locate(name));
  const escaped = escape(prefix);
  return (name) => escaped + name;
}

/**
 * Written by hand rather than by JSON.stringify per frame (a third of the time of listing a
 * day): camera, id and name are [A-Za-z0-9._/-] by construction, times are ISO; only the
 * frame's location (which holds the store's own path) can need escaping, and its prefix is
 * escaped once.
 */
function jsonLine(store: FrameIndex): (f: FrameEntry) => string {
  const times = new ListingTimes();
  const path = locator(store, (text) => JSON.stringify(text).slice(1, -1));
  return (f) => {
    const t = f.time.getTime();
    return `{"camera":"${f.camera}","id":"${f.id}","time":"${times.iso(t)}","local":"${times.isoLocal(t)}","name":"${f.name}","path":"${path(f.name)}"}\n`;
  };
}

function humanLine(store: FrameIndex, frames: FrameEntry[]): (f: FrameEntry) => string {
  const width = frames.reduce((w, f) => Math.max(w, f.camera.length), 0);
  const times = new ListingTimes();
  const path = locator(store, (text) => text);
  // Cameras repeat from frame to frame: pad each name once.
  const padded = new Map<string, string>();
  const pad = (camera: string) => padded.get(camera) ?? padded.set(camera, camera.padEnd(width)).get(camera)!;
  return (f) => `${times.local(f.time.getTime())}  ${pad(f.camera)}  ${path(f.name)}\n`;
}
