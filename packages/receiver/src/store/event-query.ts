import { EventGrouper, type EventFrame, type FrameEvent } from './events.ts';
import type { EventQuery, FrameEntry, FrameIndex } from './store.ts';

/**
 * `FrameIndex.events` over any store's `frames` and `marks`: the file store uses it, and so can
 * any other, since events are folded from frames, never stored. Reads only the range asked for,
 * plus one gap before it (is the first frame in range part of an event that began earlier?)
 * and, for the last event, as far past `to` as it goes on.
 */

type Source = Pick<FrameIndex, 'cameras' | 'frames' | 'marks'>;

/** Past `to`, frames are read in windows of this (or 4 gaps, when longer). */
const LOOK_AHEAD_MS = 3_600_000;

export async function eventsOf(index: Source, query: EventQuery): Promise<FrameEvent[]> {
  const cameras = query.camera !== undefined ? [query.camera] : await index.cameras();
  const all: FrameEvent[] = [];
  for (const camera of cameras) all.push(...(await cameraEvents(index, camera, query)));
  return all.sort((a, b) => a.start.getTime() - b.start.getTime() || (a.camera < b.camera ? -1 : a.camera > b.camera ? 1 : 0));
}

/** A camera's frames that can start or extend an event (heartbeats cannot), oldest first. */
async function eventFrames(index: Source, camera: string, from: Date | undefined, to: Date | undefined): Promise<EventFrame[]> {
  const marked = await index.marks(await index.frames({ camera, from, to }));
  return marked.filter((f) => f.reason !== 'heartbeat');
}

async function cameraEvents(index: Source, camera: string, { from, to, gapMs, now }: EventQuery): Promise<FrameEvent[]> {
  const grouper = new EventGrouper(camera, gapMs);
  const events: FrameEvent[] = [];
  // The last frame within a gap before `from`, if any, stands for the event that began before
  // the range: the frames in range that continue it are not an event of their own.
  let earlier: string | undefined;
  if (from) {
    const before = (await eventFrames(index, camera, new Date(from.getTime() - gapMs), from)).at(-1);
    if (before) earlier = grouper.add(before).started?.id;
  }
  const keep = (event: FrameEvent) => {
    if (event.id !== earlier) events.push(event);
  };
  for (const frame of await eventFrames(index, camera, from, to)) {
    const change = grouper.add(frame);
    if (change.ended) keep(change.ended);
  }
  if (to) {
    // The last event in range may go on past `to`: follow it until it ends or the present.
    // Windows that double: an event that goes on for a day (a camera that never rests) costs a
    // few reads of each day, not one per hour.
    let window = Math.max(LOOK_AHEAD_MS, 4 * gapMs);
    for (let cursor = to.getTime(); grouper.current && grouper.current.id !== earlier && cursor < now.getTime(); cursor += window, window *= 2) {
      const end = Math.min(cursor + window, now.getTime());
      for (const frame of await eventFrames(index, camera, new Date(cursor), new Date(end))) {
        const change = grouper.add(frame);
        if (change.ended) {
          // That frame starts an event after the range, which was not asked for.
          keep(change.ended);
          return events;
        }
      }
      const ended = grouper.expire(new Date(end));
      if (ended) keep(ended);
    }
  }
  const last = grouper.current;
  if (last) keep(grouper.expire(now) ?? { ...last });
  return events;
}

/**
 * One event by its id (parseEventId), with its frames from the first to the last, heartbeats
 * left out: what `export --event` makes a clip of and the gallery plays. Undefined when there
 * is no such event (pruned, or grouped with another gap).
 */
export async function eventWithFrames(
  index: Pick<FrameIndex, 'events' | 'frames' | 'marks'>,
  id: string,
  { camera, start }: { camera: string; start: Date },
  gapMs: number,
  now: Date,
): Promise<{ event: FrameEvent; frames: FrameEntry[] } | undefined> {
  const [event] = (await index.events({ camera, from: start, to: new Date(start.getTime() + 1), gapMs, now })).filter((e) => e.id === id);
  if (!event) return undefined;
  const frames = await index.frames({ camera, from: event.start, to: new Date(event.last.getTime() + 1) });
  const marks = await index.marks(frames);
  return { event, frames: frames.filter((_, i) => marks[i]!.reason !== 'heartbeat') };
}
