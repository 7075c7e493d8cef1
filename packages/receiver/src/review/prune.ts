import { SurveillanceError, type Spec, formatBytes, formatDuration } from '@surveillance/shared';
import { startCommand } from '../command-start.ts';
import { storeSpec } from '../store/store-options.ts';
import type { FrameEntry, FrameIndex, RemoveOutcome } from '../store/store.ts';
import { jsonOption, out } from './review-command.ts';
import { formatLocal, localDate } from './time-range.ts';

const HELP = `Usage: surveillance-receiver prune [--older-than 30d] [--max-bytes 50GiB] [--keep-free 2GiB] [--dry-run] [--list] [--json]

Removes the oldest frames, across all cameras, by three rules applied in this order:
  --older-than D   frames captured more than D ago
  --max-bytes S    then the oldest until all frames together take at most S
  --keep-free S    then the oldest until the store's file system has S free (sizes, not blocks)
and then the day folders they leave empty. Prints one summary line (the journal's, under the
timer); --dry-run prints what would go, per camera and local day, and removes nothing.
It only unlinks finished frames: it never touches .incoming/ (frames being received) or any
hidden folder, and locks nothing, so receiving goes on while it runs. The same names work in
the environment (SURVEILLANCE_OLDER_THAN, SURVEILLANCE_MAX_BYTES, SURVEILLANCE_KEEP_FREE), as
the prune timer's EnvironmentFile uses them.`;

export const pruneSpec = {
  ...storeSpec,
  'older-than': { kind: 'duration', description: 'remove frames captured longer ago than this (30d, 12h)', min: 60_000 },
  'max-bytes': { kind: 'size', description: 'keep at most this many bytes of frames (50GiB), removing the oldest', min: 1 },
  'keep-free': { kind: 'size', description: 'remove the oldest frames until the file system has this much free', min: 1 },
  'dry-run': { kind: 'boolean', description: 'show what would be removed; remove nothing', default: false, flagOnly: true },
  list: { kind: 'boolean', description: 'also print the path of every frame removed (or that would be)', default: false, flagOnly: true },
  ...jsonOption,
} as const satisfies Spec;

type Rule = 'older-than' | 'max-bytes' | 'keep-free';

export interface PruneRules {
  olderThanMs?: number;
  maxBytes?: number;
  keepFreeBytes?: number;
}

export interface PrunePlan {
  victims: { frame: FrameEntry; bytes: number; rule: Rule }[];
  /** What stays, when the whole store had to be listed to decide (not for --older-than alone). */
  kept?: { frames: number; bytes: number };
}

/**
 * Decides what goes; touches nothing. With --older-than alone only the day folders before the
 * cut-off are read and only their frames stat'ed; a size rule needs every frame's size.
 */
export async function planPrune(store: FrameIndex, rules: PruneRules, now: number): Promise<PrunePlan> {
  const cutoff = rules.olderThanMs !== undefined ? new Date(now - rules.olderThanMs) : undefined;
  const bySize = rules.maxBytes !== undefined || rules.keepFreeBytes !== undefined;
  const frames = await store.frames({ to: bySize ? undefined : cutoff });
  const sizes = await store.sizes(frames);
  const victims: PrunePlan['victims'] = [];
  let i = 0;
  if (cutoff) for (; i < frames.length && frames[i]!.time < cutoff; i++) victims.push({ frame: frames[i]!, bytes: sizes[i]!, rule: 'older-than' });
  if (!bySize) return { victims };
  let keptBytes = sizes.slice(i).reduce((a, b) => a + b, 0);
  if (rules.maxBytes !== undefined) {
    for (; i < frames.length && keptBytes > rules.maxBytes; i++) {
      victims.push({ frame: frames[i]!, bytes: sizes[i]!, rule: 'max-bytes' });
      keptBytes -= sizes[i]!;
    }
  }
  if (rules.keepFreeBytes !== undefined) {
    let missing = rules.keepFreeBytes - ((await store.freeBytes()) ?? Infinity) - victims.reduce((a, v) => a + v.bytes, 0);
    for (; i < frames.length && missing > 0; i++) {
      victims.push({ frame: frames[i]!, bytes: sizes[i]!, rule: 'keep-free' });
      keptBytes -= sizes[i]!;
      missing -= sizes[i]!;
    }
  }
  return { victims, kept: { frames: frames.length - i, bytes: keptBytes } };
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const start = await startCommand(HELP, pruneSpec, argv, env);
  if (!start) return 0;
  const { values, store } = start;
  const rules: PruneRules = { olderThanMs: values['older-than'], maxBytes: values['max-bytes'], keepFreeBytes: values['keep-free'] };
  if (rules.olderThanMs === undefined && rules.maxBytes === undefined && rules.keepFreeBytes === undefined) {
    throw new SurveillanceError('usage', 'nothing to prune by: give --older-than, --max-bytes or --keep-free (or SURVEILLANCE_OLDER_THAN, ...)');
  }
  const dryRun = values['dry-run'];
  const plan = await planPrune(store, rules, Date.now());
  const outcome = summed(plan, await store.remove(plan.victims.map((v) => v.frame), { dryRun }));

  const frames = plan.victims.map((v) => v.frame);
  const byRule = (rule: Rule) => plan.victims.filter((v) => v.rule === rule).length;
  if (values.json) {
    out(
      `${JSON.stringify({
        dryRun,
        rules: { olderThanMs: rules.olderThanMs ?? null, maxBytes: rules.maxBytes ?? null, keepFreeBytes: rules.keepFreeBytes ?? null },
        removed: { frames: outcome.removed, bytes: outcome.bytes, folders: outcome.folders, first: frames[0]?.time.toISOString() ?? null, last: frames.at(-1)?.time.toISOString() ?? null },
        byRule: { 'older-than': byRule('older-than'), 'max-bytes': byRule('max-bytes'), 'keep-free': byRule('keep-free') },
        kept: plan.kept ?? null,
        failed: outcome.failed,
        ...(values.list ? { names: frames.map((f) => f.name) } : {}),
      })}\n`,
    );
  } else {
    if (values.list) out(frames.map((f) => `${store.locate(f.name)}\n`).join(''));
    if (dryRun) out(groups(plan));
    out(`${summary(dryRun, rules, plan, outcome, byRule)}\n`);
  }
  if (outcome.failed.length > 0) {
    throw new SurveillanceError('store-failed', `could not remove ${outcome.failed.length} frame(s), first ${outcome.failed[0]}`);
  }
  return 0;
}

/** Dry run: what would go, per camera and local day. */
interface Outcome {
  removed: number;
  bytes: number;
  folders: number;
  failed: string[];
}

/** What the store did, with the bytes of the frames it removed. */
function summed(plan: PrunePlan, done: RemoveOutcome): Outcome {
  const failed = new Set(done.failed.map((f) => f.name));
  const bytes = plan.victims.reduce((a, v) => (failed.has(v.frame.name) ? a : a + v.bytes), 0);
  return { removed: done.removed, bytes, folders: done.emptied, failed: done.failed.map((f) => `${f.name}: ${f.reason}`) };
}

function groups(plan: PrunePlan): string {
  const rows = new Map<string, { frames: number; bytes: number; first: Date; last: Date }>();
  for (const { frame, bytes } of plan.victims) {
    const key = `${frame.camera} ${localDate(frame.time)}`;
    const row = rows.get(key) ?? { frames: 0, bytes: 0, first: frame.time, last: frame.time };
    row.frames++;
    row.bytes += bytes;
    row.last = frame.time;
    rows.set(key, row);
  }
  const clock = (d: Date) => formatLocal(d, false).slice(11);
  return [...rows].map(([key, r]) => `would remove ${key}: ${r.frames} frames, ${formatBytes(r.bytes)} (${clock(r.first)} .. ${clock(r.last)})\n`).join('');
}

function summary(dryRun: boolean, rules: PruneRules, plan: PrunePlan, o: Outcome, byRule: (r: Rule) => number): string {
  const kept = plan.kept ? `; keeps ${plan.kept.frames} frames (${formatBytes(plan.kept.bytes)})` : '';
  const prefix = dryRun ? 'prune (dry run):' : 'prune:';
  if (plan.victims.length === 0) return `${prefix} nothing to remove${kept}`;
  const reasons = [
    rules.olderThanMs !== undefined && `${byRule('older-than')} older than ${formatDuration(rules.olderThanMs)}`,
    rules.maxBytes !== undefined && `${byRule('max-bytes')} over ${formatBytes(rules.maxBytes)}`,
    rules.keepFreeBytes !== undefined && `${byRule('keep-free')} to keep ${formatBytes(rules.keepFreeBytes)} free`,
  ].filter(Boolean);
  const cameras = new Set(plan.victims.map((v) => v.frame.camera)).size;
  const first = formatLocal(plan.victims[0]!.frame.time, false);
  const last = formatLocal(plan.victims.at(-1)!.frame.time, false);
  const verb = dryRun ? 'would remove' : 'removed';
  const failed = o.failed.length ? `; FAILED to remove ${o.failed.length}` : '';
  return `${prefix} ${verb} ${o.removed} frames (${formatBytes(o.bytes)}) of ${cameras} camera(s) captured ${first} .. ${last} (${reasons.join(', ')}) and ${o.folders} emptied folder(s)${kept}${failed}`;
}
