import { EventGrouper, eventJson, type FrameEvent } from '../store/events.ts';
import { localDate } from '../store/local-date.ts';
import type { FrameEntry, FrameIndex } from '../store/store.ts';

/** What happened to an event, as the gallery's feed says it (`event` messages). */
export type EventChange = 'start' | 'grow' | 'end';

export interface LiveEventsOptions {
  store: Pick<FrameIndex, 'cameras' | 'frames' | 'marks'>;
  gapMs: number;
  /** Called for every change, in order. */
  emit: (change: EventChange, event: FrameEvent) => void;
  onError: (e: Error) => void;
  now?: () => Date;
}

/** An event and its change as JSON for the page, with the local day it starts on. */
export function eventMessage(change: EventChange, event: FrameEvent): Record<string, unknown> {
  return { change, ...eventJson(event), day: localDate(event.start) };
}

/**
 * The events of frames as they arrive, for the page: one EventGrouper per camera (the fold of
 * store/events.ts), fed by the watcher's `added` batches with their reasons from `marks`.
 *
 * An open event ends once no frame has ARRIVED for it for the gap (and its last frame was
 * captured at least the gap ago). By capture time alone, a sender's backlog from last week
 * would end an event after each frame, and every next frame of the same burst would start
 * another: the store's `events` (what the page lists) would disagree with what it was told live.
 */
export class LiveEvents {
  private readonly cameras = new Map<string, { grouper: EventGrouper; arrived: number }>();
  private work: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: LiveEventsOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** Picks up the events still open (frames within a gap of now), then ends events as their gap passes. */
  async start(): Promise<void> {
    const { store, gapMs } = this.options;
    const now = this.now();
    for (const camera of await store.cameras()) {
      const grouper = this.camera(camera, now).grouper;
      for (const frame of await store.marks(await store.frames({ camera, from: new Date(now.getTime() - gapMs) }))) grouper.add(frame);
    }
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.min(1000, gapMs / 10))).unref();
  }

  /** A batch the watcher reported; batches are folded one after the other, in order. */
  added(frames: readonly FrameEntry[]): void {
    this.work = this.work.then(() => this.fold(frames)).catch((e: unknown) => this.options.onError(e as Error));
  }

  private camera(name: string, now: Date) {
    let state = this.cameras.get(name);
    if (!state) {
      state = { grouper: new EventGrouper(name, this.options.gapMs), arrived: now.getTime() };
      this.cameras.set(name, state);
    }
    return state;
  }

  private async fold(frames: readonly FrameEntry[]): Promise<void> {
    const sorted = [...frames].sort((a, b) => a.time.getTime() - b.time.getTime());
    const marked = await this.options.store.marks(sorted);
    const now = this.now();
    const { emit } = this.options;
    for (const [i, frame] of marked.entries()) {
      const state = this.camera(sorted[i]!.camera, now);
      const change = state.grouper.add(frame);
      if (change.ended) emit('end', change.ended);
      if (change.started) emit('start', change.started);
      if (change.extended) emit('grow', change.extended);
      if (change.started || change.extended) state.arrived = now.getTime();
    }
  }

  tick(): void {
    const now = this.now();
    for (const state of this.cameras.values()) {
      if (now.getTime() - state.arrived < this.options.gapMs) continue;
      const ended = state.grouper.expire(now);
      if (ended) this.options.emit('end', ended);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.work;
  }
}
