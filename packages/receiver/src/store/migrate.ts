import type { EventFrame } from './events.ts';
import type { FrameEntry, FrameIndex, FrameSink } from './store.ts';

/**
 * Copies every frame of one store into another, through the store interface only, so that
 * any two stores work (files to NATS and back). Idempotent: a frame the target already has is
 * committed as a resend and comes back DUP, exactly as when a sender resends it, so a copy
 * that was interrupted is simply run again. Memory stays bounded: frames are listed one
 * camera-day at a time and copied one at a time per lane. Each frame keeps the reason and
 * score its sender gave (FrameIndex.marks), so that both stores tell the same events.
 */

export interface MigrateProgress {
  /** Called once, with the number of frames to look at. */
  start(total: number): void;
  tick(): void;
}

export interface MigrateResult {
  copied: number;
  duplicates: number;
  /** Frames listed but gone before they were read (pruned meanwhile). */
  vanished: number;
  bytes: number;
}

/** Copies in flight at once: NATS answers in round trips, and a few hide them. */
const LANES = 4;

/** The source's frames, one camera and local day at a time. */
async function* framesByDay(from: FrameIndex): AsyncGenerator<FrameEntry[]> {
  for (const camera of await from.cameras()) {
    for (const day of await from.days(camera)) {
      const [y, m, d] = day.split('-').map(Number) as [number, number, number];
      yield from.frames({ camera, from: new Date(y, m - 1, d), to: new Date(y, m - 1, d + 1) });
    }
  }
}

async function copyOne(from: FrameIndex, to: FrameSink, frame: FrameEntry, mark: EventFrame | undefined, result: MigrateResult): Promise<void> {
  const data = await from.open(frame.name);
  if (!data) {
    result.vanished++;
    return;
  }
  const writer = to.begin(data.size);
  try {
    for await (const chunk of data.stream()) writer.write(chunk as Buffer);
    const stored = await writer.commit({
      camera: frame.camera,
      time: frame.time,
      id: frame.id,
      ...(mark?.reason ? { reason: mark.reason } : {}),
      ...(mark?.score !== undefined ? { score: mark.score } : {}),
    });
    if (stored.duplicate) {
      result.duplicates++;
    } else {
      result.copied++;
      result.bytes += writer.bytes;
    }
  } catch (e) {
    writer.abort();
    throw e;
  }
}

export async function migrate(from: FrameIndex, to: FrameSink, progress?: MigrateProgress): Promise<MigrateResult> {
  let total = 0;
  // A first pass for the count the progress bar needs; names only, a day at a time.
  if (progress) {
    for await (const day of framesByDay(from)) total += day.length;
    progress.start(total);
  }
  const result: MigrateResult = { copied: 0, duplicates: 0, vanished: 0, bytes: 0 };
  for await (const day of framesByDay(from)) {
    const marks = await from.marks(day);
    let next = 0;
    const lane = async () => {
      while (next < day.length) {
        const i = next++;
        await copyOne(from, to, day[i]!, marks[i], result);
        progress?.tick();
      }
    };
    await Promise.all(Array.from({ length: Math.min(LANES, day.length) }, lane));
  }
  return result;
}
