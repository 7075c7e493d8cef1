import type { FrameReason } from './store.ts';

/**
 * Events: a camera's bursts of frames, folded from the frames alone (time, id, reason, score).
 * Pure code, no I/O and no clock: whoever folds says what time it is (`now`).
 *
 * - An event starts with a frame that is not a heartbeat, after at least `gapMs` of quiet.
 * - It ends `gapMs` after its last such frame; until then it is open.
 * - Heartbeats (the sender's "still alive, nothing changed") never start or extend one, and
 *   are not part of it. A frame with no reason (a raw frame, an older sender, an index line
 *   lost to a power cut) counts as motion: a false event is better than a missed one.
 * - The cover is the frame with the largest score. A `first` frame's score says nothing (the
 *   sender had no picture to compare it with), so it is not counted; with no score at all, the
 *   first frame is the cover.
 *
 * Times are UTC instants throughout, so midnight and daylight-saving changes mean nothing here:
 * a burst from 23:59:50 to 00:00:20, or across 02:00 -> 03:00, is one event of 30 s.
 */

export interface EventFrame {
  time: Date;
  id: string;
  /** The frame's key in the store. */
  name: string;
  reason?: FrameReason;
  score?: number;
}

export interface FrameEvent {
  camera: string;
  /** Stable for the event's life: camera and the first frame's capture time (see eventId). */
  id: string;
  start: Date;
  /** Capture time of the last frame in it. */
  last: Date;
  /** `last + gap` once the event is over; undefined while it is open. */
  end: Date | undefined;
  /** Frames in it (heartbeats are not). */
  frames: number;
  cover: EventFrame;
}

/** `20261121T055300.123Z`: compact, sorts by time, safe in a URL, a file name and an MQTT topic. */
function stamp(time: Date): string {
  return time.toISOString().replace(/[-:]/g, '');
}

const STAMP_LENGTH = 20;
const STAMP_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/;

export function eventId(camera: string, start: Date): string {
  return `${camera}-${stamp(start)}`;
}

/** Reads an event id back; undefined for text that is not one (it comes from users and URLs). */
export function parseEventId(id: string): { camera: string; start: Date } | undefined {
  if (id.length < STAMP_LENGTH + 2 || id[id.length - STAMP_LENGTH - 1] !== '-') return undefined;
  const camera = id.slice(0, -STAMP_LENGTH - 1);
  const m = STAMP_RE.exec(id.slice(-STAMP_LENGTH));
  if (!m || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(camera)) return undefined;
  const start = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
  return Number.isNaN(start.getTime()) || stamp(start) !== id.slice(-STAMP_LENGTH) ? undefined : { camera, start };
}

/** The score that competes for the cover, or undefined. */
function coverScore(frame: EventFrame): number | undefined {
  return frame.reason === 'first' ? undefined : frame.score;
}

/** What adding a frame did. */
export interface GroupChange {
  /** The event that was open and is over (the new frame came after the gap). */
  ended?: FrameEvent;
  /** A new event began with this frame. */
  started?: FrameEvent;
  /** The open event took this frame; `coverChanged` when it is the new cover. */
  extended?: FrameEvent;
  coverChanged?: boolean;
}

/**
 * One camera's events, a frame at a time, in capture order: the notifier feeds it as frames
 * arrive, and `groupEvents` folds a stored range with it. A frame older than the open event's
 * start (a late resend) is ignored here: it belongs to history, which `groupEvents` sorts.
 */
export class EventGrouper {
  private open: FrameEvent | undefined;

  constructor(
    readonly camera: string,
    readonly gapMs: number,
  ) {}

  get current(): FrameEvent | undefined {
    return this.open;
  }

  add(frame: EventFrame): GroupChange {
    if (frame.reason === 'heartbeat') return {};
    const t = frame.time.getTime();
    const open = this.open;
    if (open && t < open.start.getTime()) return {};
    if (open && t - open.last.getTime() < this.gapMs) {
      open.frames++;
      if (t > open.last.getTime()) open.last = frame.time;
      const score = coverScore(frame);
      const best = coverScore(open.cover);
      const coverChanged = score !== undefined && (best === undefined || score > best);
      if (coverChanged) open.cover = frame;
      return { extended: open, coverChanged };
    }
    const ended = open ? this.close(open) : undefined;
    this.open = { camera: this.camera, id: eventId(this.camera, frame.time), start: frame.time, last: frame.time, end: undefined, frames: 1, cover: frame };
    return { ended, started: this.open };
  }

  /** Ends the open event when `now` is at least the gap after its last frame. */
  expire(now: Date): FrameEvent | undefined {
    const open = this.open;
    if (!open || now.getTime() - open.last.getTime() < this.gapMs) return undefined;
    return this.close(open);
  }

  /** When the open event ends unless another frame comes. */
  get endsAt(): Date | undefined {
    return this.open && new Date(this.open.last.getTime() + this.gapMs);
  }

  private close(event: FrameEvent): FrameEvent {
    event.end = new Date(event.last.getTime() + this.gapMs);
    this.open = undefined;
    return event;
  }
}

/** A camera's events over some frames (any order), oldest first; the last may be open at `now`. */
export function groupEvents(camera: string, frames: readonly EventFrame[], gapMs: number, now: Date): FrameEvent[] {
  const sorted = [...frames].sort((a, b) => a.time.getTime() - b.time.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const grouper = new EventGrouper(camera, gapMs);
  const events: FrameEvent[] = [];
  for (const frame of sorted) {
    const change = grouper.add(frame);
    if (change.ended) events.push(change.ended);
  }
  const last = grouper.current;
  if (last) events.push(grouper.expire(now) ?? { ...last });
  return events;
}

/** An event as JSON for people and programs (CLI --json, webhook, MQTT, gallery). */
export function eventJson(event: FrameEvent): Record<string, unknown> {
  return {
    id: event.id,
    camera: event.camera,
    start: event.start.toISOString(),
    last: event.last.toISOString(),
    end: event.end?.toISOString() ?? null,
    open: event.end === undefined,
    frames: event.frames,
    cover: event.cover.name,
    ...(coverScore(event.cover) !== undefined ? { score: event.cover.score } : {}),
  };
}
