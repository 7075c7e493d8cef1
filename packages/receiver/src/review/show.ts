import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SurveillanceError, type Spec, formatDuration, writeStderr } from '@surveillance/shared';
import { startCommand } from '../command-start.ts';
import { storeSpec } from '../store/store-options.ts';
import type { FrameEntry, FrameIndex } from '../store/store.ts';
import { cameraOption, checkCamera, jsonOption, out } from './review-command.ts';
import { formatLocal, isoLocal } from './time-range.ts';

const SHOW_HELP = `Usage: surveillance-receiver show [--camera NAME] [--path | --json]

Prints the latest frame of each camera (or of --camera): camera, local time, age, path.
--path prints only the path(s), one a line, for $(...) in scripts; --json one JSON object a
line: {"camera","id","time","local","name","path"}. Fails (not-found, exit 66) on an empty
store, an unknown camera, or a camera without frames.`;

const OPEN_HELP = `Usage: surveillance-receiver open [--camera NAME]

Opens the latest frame (of --camera, else the newest of all cameras) with xdg-open, and prints
its path; without xdg-open it only prints the path.`;

export const showSpec = {
  ...storeSpec,
  ...cameraOption,
  path: { kind: 'boolean', description: 'print only the path', default: false, flagOnly: true },
  ...jsonOption,
} as const satisfies Spec;

export const openSpec = { ...storeSpec, ...cameraOption } as const satisfies Spec;

/** Latest frame per camera asked for; fails when there is none to show. */
async function latestFrames(store: FrameIndex, camera: string | undefined): Promise<FrameEntry[]> {
  await checkCamera(store, camera);
  const cameras = camera !== undefined ? [camera] : await store.cameras();
  const frames = (await Promise.all(cameras.map((c) => store.latest(c)))).filter((f): f is FrameEntry => f !== undefined);
  if (frames.length === 0) {
    const where = store.location;
    throw new SurveillanceError('not-found', camera !== undefined ? `camera ${JSON.stringify(camera)} has no frames in store ${where}` : `store ${where} holds no frames yet`);
  }
  return frames;
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const start = await startCommand(SHOW_HELP, showSpec, argv, env);
  if (!start) return 0;
  const { values, store } = start;
  if (values.path && values.json) throw new SurveillanceError('usage', 'options --path and --json cannot be combined');
  const frames = await latestFrames(store, values.camera);
  const now = Date.now();
  const width = frames.reduce((w, f) => Math.max(w, f.camera.length), 0);
  // A frame newer than this clock (the camera's clock runs ahead) says so, not "0s ago".
  const age = (f: FrameEntry) => {
    const ms = now - f.time.getTime();
    return ms >= 0 ? `${formatDuration(ms)} ago` : `${formatDuration(-ms)} ahead of this clock`;
  };
  const ageWidth = frames.reduce((w, f) => Math.max(w, age(f).length), 0);
  const line = (f: FrameEntry): string => {
    const path = store.locate(f.name);
    if (values.path) return path;
    if (values.json) return JSON.stringify({ camera: f.camera, id: f.id, time: f.time.toISOString(), local: isoLocal(f.time), name: f.name, path });
    return `${f.camera.padEnd(width)}  ${formatLocal(f.time)}  ${age(f).padStart(ageWidth)}  ${path}`;
  };
  out(frames.map((f) => `${line(f)}\n`).join(''));
  return 0;
}

function findOnPath(program: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `open`: the newest frame, handed to the desktop's viewer. */
export async function runOpen(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const start = await startCommand(OPEN_HELP, openSpec, argv, env);
  if (!start) return 0;
  const { values, store } = start;
  const newest = (await latestFrames(store, values.camera)).reduce((a, b) => (b.time > a.time ? b : a));
  const path = store.locate(newest.name);
  out(`${path}\n`);
  const opener = findOnPath('xdg-open', env);
  if (!opener) {
    writeStderr('xdg-open not found: open the path above yourself\n');
    return 0;
  }
  // Detached: xdg-open may start a viewer that outlives us; we must not wait for it.
  const child = spawn(opener, [path], { detached: true, stdio: 'ignore', env });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(new SurveillanceError('not-found', `cannot run ${opener}: ${e.message}`)));
  });
  child.unref();
  return 0;
}
