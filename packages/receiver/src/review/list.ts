import { writeStderr, type Spec } from '@surveillance/shared';
import { startCommand } from '../command-start.ts';
import { storeSpec } from '../store/store-options.ts';
import { HOUR_MS, type FrameEntry, type FrameIndex, type LineSpec } from '../store/store.ts';
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
  const range = resolveRange(values);
  // Every line is ASCII but for the store's own path (names, ids, cameras and times are).
  const output = chunks(!/[^\x00-\x7f]/.test(store.locate('')));
  // One camera's frames as lines the store makes (a day of them in a fraction of the time);
  // anything it cannot line, and every camera at once, a FrameEntry at a time.
  let count: number | undefined;
  if (values.camera !== undefined && store.lines) {
    const lines = values.json ? jsonLines(values.camera) : humanLines(values.camera);
    count = await store.lines({ camera: values.camera, ...range, last: values.last }, { ...lines, write: output.write });
  }
  if (count === undefined) {
    let frames = await store.frames({ camera: values.camera, ...range });
    if (values.last !== undefined) frames = frames.slice(-values.last);
    const line = values.json ? jsonLine(store) : humanLine(store, frames);
    for (const f of frames) output.write(line(f));
    count = frames.length;
  }
  output.flush();
  if (count === 0) writeStderr('no frames in that range\n');
  return 0;
}

/** Text to stdout, gathered into chunks of CHUNK_CHARS; `ascii` when it is all ASCII (see out). */
function chunks(ascii: boolean): { write(text: string): void; flush(): void } {
  let text = '';
  return {
    write: (more) => {
      text += more;
      if (text.length >= CHUNK_CHARS) {
        out(text, ascii);
        text = '';
      }
    },
    flush: () => out(text, ascii),
  };
}

/** A frame's own fields in the lines of FrameIndex.lines. */
const ID = { field: 'id' } as const;
const NAME = { field: 'name' } as const;
const PATH = { field: 'path' } as const;
const SECOND = { field: 'second' } as const;
/** What follows an hour's heads (ListingTimes.heads): the frame's own minute; a minute's hold theirs. */
const minuteOf = (span: number) => (span === HOUR_MS ? [{ field: 'minute' } as const, ':'] : []);
const jsonText = (text: string) => JSON.stringify(text).slice(1, -1);

/** jsonLine's lines for FrameIndex.lines: the same text, an hour or a minute at a time. */
function jsonLines(camera: string): Omit<LineSpec, 'write'> {
  const times = new ListingTimes();
  return {
    escape: jsonText,
    line: (start, span) => {
      const h = times.heads(start, span);
      const m = minuteOf(span);
      return h && [`{"camera":"${camera}","id":"`, ID, `","time":"${h.utc}`, ...m, SECOND, `Z","local":"${h.isoLocal}`, ...m, SECOND, `${h.offset}","name":"`, NAME, '","path":"', PATH, '"}\n'];
    },
  };
}

/** humanLine's lines of one camera (no padding then) for FrameIndex.lines. */
function humanLines(camera: string): Omit<LineSpec, 'write'> {
  const times = new ListingTimes();
  return {
    escape: (text) => text,
    line: (start, span) => {
      const h = times.heads(start, span);
      return h && [h.local, ...minuteOf(span), SECOND, `${h.offset}  ${camera}  `, PATH, '\n'];
    },
  };
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
  const path = locator(store, jsonText);
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
