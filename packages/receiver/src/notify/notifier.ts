import type { Logger } from '@surveillance/shared';
import { EventGrouper, type EventFrame, type FrameEvent } from '../store/events.ts';
import type { FrameEntry, StoreChanges } from '../store/store.ts';
import type { Notice } from './notice.ts';
import type { Outbox } from './outbox.ts';

/**
 * What the notifier needs of the store: the read side (FrameIndex) and the event index's marks.
 * It learns of frames by watching the store, not from the receiver: the per-connection path
 * knows nothing of it, and a notifier that is dead, slow or stuck on a target blocks no frame.
 */
export interface NotifySource {
  cameras(): Promise<string[]>;
  latest(camera: string): Promise<FrameEntry | undefined>;
  frames(query: { camera: string; from: Date }): Promise<FrameEntry[]>;
  /** The frame's bytes, or undefined when it is gone. */
  bytes(name: string): Promise<Buffer | undefined>;
  watch(): Promise<StoreChanges>;
  /** The frames with their reasons and scores (FrameIndex.marks; none: motion). */
  marks(frames: readonly FrameEntry[]): Promise<EventFrame[]>;
}

export interface NotifierOptions {
  source: NotifySource;
  outboxes: Outbox[];
  gapMs: number;
  cooldownMs: number;
  /** 0: no silence alerts. */
  silenceMs: number;
  /** Base of links to the gallery, e.g. https://nvr.example/ (without: no links). */
  galleryUrl?: string;
  log: Logger;
  now?: () => Date;
}

interface CameraState {
  grouper: EventGrouper;
  /** When a frame of it (heartbeats too) was last captured or arrived. */
  lastSeen: Date;
  silent: boolean;
  /** Start of the last event announced to push targets (for the cooldown). */
  lastAnnounced?: Date;
}

export class Notifier {
  private readonly cameras = new Map<string, CameraState>();
  private changes: StoreChanges | undefined;
  private timer: NodeJS.Timeout | undefined;
  private work: Promise<void> = Promise.resolve();
  private readonly now: () => Date;

  constructor(private readonly options: NotifierOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Learns the known cameras and any event still open (a restart mid-event says ON again: the
   * latest state), then watches the store.
   */
  async start(): Promise<void> {
    const { source, gapMs } = this.options;
    this.changes = await source.watch();
    // One batch after the other: an event's frames must reach the grouper in order.
    this.changes.on('added', (frames) => {
      this.work = this.work.then(() => this.added(frames)).catch((e: unknown) => this.options.log.error({ err: e }, `cannot notify of new frames: ${(e as Error).message}`));
    });
    this.changes.on('error', (e) => this.options.log.warn({ err: e }, `watching the store: ${e.message}`));
    const now = this.now();
    for (const camera of await source.cameras()) {
      const latest = await source.latest(camera);
      const state = this.state(camera, latest?.time ?? now);
      for (const frame of await source.marks(await source.frames({ camera, from: new Date(now.getTime() - gapMs) }))) state.grouper.add(frame);
      const open = state.grouper.current;
      if (open) await this.announce('start', open, state);
    }
    await this.publishCameras();
    const tickMs = Math.max(50, Math.min(1000, gapMs / 10));
    this.timer = setInterval(() => void this.tick(), tickMs);
  }

  private state(camera: string, seen: Date): CameraState {
    let state = this.cameras.get(camera);
    if (!state) {
      state = { grouper: new EventGrouper(camera, this.options.gapMs), lastSeen: seen, silent: false };
      this.cameras.set(camera, state);
    }
    return state;
  }

  private async publishCameras(): Promise<void> {
    const names = [...this.cameras.keys()].sort();
    for (const outbox of this.options.outboxes) await outbox.target.cameras?.(names).catch(() => undefined);
  }

  async added(frames: FrameEntry[]): Promise<void> {
    const { source, gapMs, log } = this.options;
    const now = this.now();
    const newCameras = frames.some((f) => !this.cameras.has(f.camera));
    const sorted = [...frames].sort((a, b) => a.time.getTime() - b.time.getTime());
    const marked = await source.marks(sorted);
    for (const [i, entry] of sorted.entries()) {
      const state = this.state(entry.camera, now);
      // Arrival counts, not only capture time: a late backlog shows the camera box is alive.
      state.lastSeen = entry.time > now ? entry.time : now;
      if (state.silent) {
        state.silent = false;
        this.post({ kind: 'back', camera: entry.camera, lastSeen: entry.time });
      }
      // A frame captured more than the gap ago (a sender's backlog after an outage) is history:
      // it is in `events`, but announcing it now would be a false "motion now".
      if (now.getTime() - entry.time.getTime() >= gapMs) {
        log.debug({ frame: entry.name }, 'late frame: not announced');
        continue;
      }
      const frame = marked[i]!;
      const change = state.grouper.add(frame);
      if (change.ended) this.post({ kind: 'end', event: { ...change.ended }, cooledDown: this.cooled(state, change.ended), ...this.link(change.ended) });
      if (change.started) await this.announce('start', change.started, state);
      if (change.coverChanged && change.extended) await this.announce('update', change.extended, state);
    }
    if (newCameras) await this.publishCameras();
  }

  private cooled(state: CameraState, event: FrameEvent): boolean {
    return state.lastAnnounced !== undefined && state.lastAnnounced.getTime() !== event.start.getTime();
  }

  private async announce(kind: 'start' | 'update', event: FrameEvent, state: CameraState): Promise<void> {
    let cooledDown = false;
    if (kind === 'start') {
      const last = state.lastAnnounced;
      cooledDown = last !== undefined && event.start.getTime() - last.getTime() < this.options.cooldownMs;
      if (!cooledDown) state.lastAnnounced = event.start;
    } else {
      cooledDown = state.lastAnnounced?.getTime() !== event.start.getTime();
    }
    const cover = await this.options.source.bytes(event.cover.name);
    this.post({ kind, event: { ...event }, cover, cooledDown, ...this.link(event) });
  }

  private link(event: FrameEvent): { url?: string } {
    const base = this.options.galleryUrl;
    return base ? { url: new URL(`?event=${encodeURIComponent(event.id)}`, base.endsWith('/') ? base : `${base}/`).href } : {};
  }

  private post(notice: Notice): void {
    if (this.options.outboxes.length === 0) {
      const { cover, ...shown } = notice as Notice & { cover?: Buffer };
      this.options.log.info({ notice: { ...shown, coverBytes: cover?.length } }, `would notify: ${notice.kind}`);
      return;
    }
    for (const outbox of this.options.outboxes) outbox.post(notice);
  }

  /** Ends events whose gap has passed and reports cameras that went silent. */
  tick(): void {
    const now = this.now();
    for (const [camera, state] of this.cameras) {
      const ended = state.grouper.expire(now);
      if (ended) this.post({ kind: 'end', event: { ...ended }, cooledDown: this.cooled(state, ended), ...this.link(ended) });
      const { silenceMs } = this.options;
      if (silenceMs > 0 && !state.silent && now.getTime() - state.lastSeen.getTime() >= silenceMs) {
        state.silent = true;
        this.options.log.warn({ camera, lastSeen: state.lastSeen.toISOString() }, `camera ${camera} sent nothing (not even a heartbeat) for ${silenceMs / 1000} s`);
        this.post({ kind: 'silent', camera, lastSeen: state.lastSeen });
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.changes?.close();
    await this.work;
    await Promise.all(this.options.outboxes.map((o) => o.close()));
  }
}
