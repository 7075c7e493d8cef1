import type { Readable } from 'node:stream';
import type { AsyncDurableFile } from '@surveillance/shared';
import type { EventFrame, FrameEvent } from './events.ts';

/**
 * The store, as every caller sees it: a writer for the connection path and an index for
 * review, the gallery, events and notifications. Two implementations satisfy it: files on one
 * machine (file-store.ts, the default) and NATS JetStream (a later issue). No caller may know
 * which one it has: nothing outside `store/` builds a path from a frame's name.
 *
 * Names (`FrameEntry.name`) are opaque, store-relative keys like
 * `front/2026-11-21/20261121T055300.123Z_4f2a9c.jpg`. They are stable (a frame keeps its name
 * for life), unique, and safe in a URL path. Times are UTC instants; days are LOCAL dates
 * (yyyy-MM-dd in the process time zone), which is what a person asks for.
 */

/** Why the sender sent a frame (docs/protocol.md `reason=`); raw frames count as motion. */
export type FrameReason = 'first' | 'motion' | 'heartbeat';

/** What the connection knows about a frame once its bytes are in. */
export interface FrameMeta {
  camera: string;
  /** Capture time. */
  time: Date;
  /** The sender's id: the same every time the frame is sent again (the DUP rule). */
  id: string;
  reason?: FrameReason;
  /** The change detector's score for this frame, when the sender gave one. */
  score?: number;
}

/** A frame in the store. */
export interface FrameEntry {
  camera: string;
  time: Date;
  id: string;
  /** The frame's key in the store (see above). */
  name: string;
}

export interface StoredFrame {
  name: string;
  /** The frame was already stored under this name (a resend): nothing new was written. */
  duplicate: boolean;
  /**
   * Something went wrong that cost the frame nothing but what is derived from it (its event
   * index entry could not be written: it will count as motion). For the log.
   */
  warning?: string;
}

/**
 * One frame being received. `write` takes its bytes as they arrive (it may buffer them, or
 * write them to a temporary place no reader sees); `commit` makes the frame durable under its
 * name and resolves only then: an `OK` or `DUP` is sent after it and never before. `abort`
 * drops everything of it and may be called more than once, also after a failed commit.
 * Errors are SurveillanceErrors (`store-full`, `store-failed`); anything else is a bug.
 */
export interface FrameWriter {
  /** Bytes written so far. */
  readonly bytes: number;
  write(chunk: Uint8Array): void;
  commit(meta: FrameMeta): Promise<StoredFrame>;
  abort(): void;
}

/** The write side: all the connection path needs. */
export interface FrameSink {
  /**
   * Starts a frame of `expectedBytes` (0 when not known in advance, as for a raw frame).
   * Throws `store-full` before anything is written when the frame would not fit.
   */
  begin(expectedBytes?: number): FrameWriter;
  /**
   * Says that a long-lived process writes frames from many connections at once, so that the
   * store may make frames that arrive together durable together (group commit). Each commit
   * still resolves only once its own frame is durable. `files` is the thread-pool file to write
   * them with, handed in by the listener so that the per-connection bundle does not carry it.
   */
  manyWriters?(files: typeof AsyncDurableFile): void;
  /** Housekeeping for long-running modes (temporary files of receivers that died). */
  tidy?(): void;
  close(): Promise<void>;
}

export interface FrameQuery {
  /** Only this camera; all cameras when absent. */
  camera?: string;
  /** Inclusive lower bound of the capture time. */
  from?: Date;
  /** Exclusive upper bound of the capture time. */
  to?: Date;
}

export interface EventQuery extends FrameQuery {
  /** Quiet that ends an event (the notifier's --event-gap). */
  gapMs: number;
  /** What time it is, to tell an event still open from one that is over. */
  now: Date;
}

/** A stored frame opened for reading. */
export interface FrameData {
  size: number;
  /** Capture time, which is also the file's modification time in the file store. */
  time: Date;
  stream(): Readable;
  bytes(): Promise<Buffer>;
}

export interface StoreChanges {
  /** New frames, in batches. */
  on(event: 'added', listener: (frames: FrameEntry[]) => void): this;
  /** Frames removed (pruned), in batches. */
  on(event: 'removed', listener: (frames: FrameEntry[]) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  close(): Promise<void>;
}

export interface RemoveOutcome {
  /** Frames removed (or found gone already). */
  removed: number;
  /** Containers left empty and removed with them (day folders); 0 where a store has none. */
  emptied: number;
  /** Frames that could not be removed, with the reason. */
  failed: { name: string; reason: string }[];
}

/**
 * What a line of a listing holds of its own frame: its id, its name, its location (`path`:
 * what `locate` gives), its UTC minute into the hour, `mm`, and its seconds into the minute
 * with milliseconds, `SS.mmm` (the rest of its time is its hour's or minute's).
 */
export type LineField = 'id' | 'name' | 'path' | 'minute' | 'second';

/** The spans LineSpec.line is asked for. */
export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;

export interface LineSpec {
  /**
   * The line of each frame in the UTC hour (`span` HOUR_MS) or minute (MINUTE_MS) that starts
   * at `start` (ms since the epoch): text and fields in order. Undefined when the span's frames
   * cannot share one: for an hour, the store then asks for each of its minutes; for a minute
   * (its frames need their times formatted one by one: the clocks change inside it), `lines`
   * lists nothing.
   */
  line(start: number, span: number): readonly (string | { field: LineField })[] | undefined;
  /** How the store's own part of `path` is written (JSON escapes it); names need nothing. */
  escape(text: string): string;
  write(text: string): void;
}

/** The read side: review, the gallery, events and notifications. */
export interface FrameIndex {
  /** Where the store is, for messages: a folder, or a NATS URL without credentials. */
  readonly location: string;
  /** Camera names, sorted. */
  cameras(): Promise<string[]>;
  /** LOCAL dates on which a camera has frames, ascending. */
  days(camera: string): Promise<string[]>;
  /** Frames matching the query, oldest first (ties: camera, then id). */
  frames(query?: FrameQuery): Promise<FrameEntry[]>;
  /**
   * One camera's frames of the query as text, a line each, for listings of tens of thousands
   * (`list`): what `frames` gives, without a FrameEntry per frame. `spec.line` says once per
   * minute what each frame's line in that minute is; the store fills in the frame's own fields
   * and hands the text to `spec.write` in chunks. Returns how many frames there were, or
   * undefined when the store cannot list these frames this way: then nothing was written, and
   * `frames` lists them. Optional: a store without it is listed by `frames`.
   */
  lines?(query: FrameQuery & { camera: string; last?: number }, spec: LineSpec): Promise<number | undefined>;
  /** The newest frame of a camera (of any camera when absent). */
  latest(camera?: string): Promise<FrameEntry | undefined>;
  /**
   * Bytes of each frame (0 for one that vanished meanwhile). A store may answer from the
   * listing that gave the entries (NATS): a frame another process removed since may count.
   */
  sizes(frames: readonly FrameEntry[]): Promise<number[]>;
  /** A frame by name; undefined when there is no such frame (or it was pruned). */
  open(name: string): Promise<FrameData | undefined>;
  /** Reads a frame name from untrusted text (a URL): only a name this store could have made. */
  parseName(text: string): FrameEntry | undefined;
  /**
   * Removes frames (prune), and what the store derived from them (thumbnails); frames already
   * gone are not an error. With `dryRun`, removes nothing and tells what it would do.
   */
  remove(frames: readonly FrameEntry[], options?: { dryRun?: boolean }): Promise<RemoveOutcome>;
  /**
   * Where a frame is, for a person or a script to open: the file's absolute path in the file
   * store, a URL elsewhere. Only for showing: callers read frames with `open`.
   */
  locate(name: string): string;
  /** Bytes free for frames, for --keep-free and the reserve; undefined when not meaningful. */
  freeBytes(): Promise<number | undefined>;
  /**
   * A local folder this user may write, for what is derived from frames and may be made again
   * (thumbnails): in the store when it is a folder this user may write, else in the user's cache.
   */
  cacheDir(env: NodeJS.ProcessEnv): string;
  /** Reports frames as they arrive or go. Resolves once watching. */
  watch(): Promise<StoreChanges>;
  /**
   * The frames with the reason and score the writer was given (FrameMeta), in the same order;
   * a frame whose entry is missing or damaged has neither, and so counts as motion. Cheap for
   * frames just added (the notifier and the gallery call it on every batch `watch` reports).
   */
  marks(frames: readonly FrameEntry[]): Promise<EventFrame[]>;
  /**
   * Events (events.ts) that START in the query's range, oldest first (ties: camera), each
   * whole: its frames before `to` or after it count, and one that began before `from` is not
   * in it. The last event of a camera may be open at `now`.
   */
  events(query: EventQuery): Promise<FrameEvent[]>;
}

/** A store opened for both sides. */
export interface Store extends FrameSink, FrameIndex {}
