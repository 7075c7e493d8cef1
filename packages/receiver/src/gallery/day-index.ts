import { localDate } from '../store/local-date.ts';
import type { FrameEntry, FrameIndex } from '../store/store.ts';
import { localDay } from '../review/time-range.ts';

export interface DayListing {
  camera: string;
  /** Local date, yyyy-MM-dd, in the server's time zone. */
  day: string;
  from: Date;
  to: Date;
  /** Oldest first, as FrameIndex.frames sorts them. */
  frames: FrameEntry[];
  /** Frames per BUCKET_MS from `from`, made on first request and kept up to date. */
  buckets?: number[];
}

/** Bars of a day's timeline: one per 5 minutes. */
export const BUCKET_MS = 5 * 60_000;

/** Keeps this many day listings; a day of 20,000 frames takes a few MB. */
const MAX_LISTINGS = 8;

function compare(a: FrameEntry, b: FrameEntry): number {
  return a.time.getTime() - b.time.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Frames per 5 minutes over the listing's day (23, 24 or 25 hours long). */
export function bucketsOf(listing: DayListing): number[] {
  if (!listing.buckets) {
    const from = listing.from.getTime();
    const buckets = new Array<number>(Math.ceil((listing.to.getTime() - from) / BUCKET_MS)).fill(0);
    for (const f of listing.frames) buckets[Math.floor((f.time.getTime() - from) / BUCKET_MS)]!++;
    listing.buckets = buckets;
  }
  return listing.buckets;
}

/** First index whose frame is not before `time` (binary search). */
export function indexAt(frames: readonly FrameEntry[], time: number): number {
  let lo = 0;
  let hi = frames.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (frames[mid]!.time.getTime() < time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The gallery's memory of the store, over its FrameIndex: the days of each camera and the
 * listings of the days recently looked at. Paging through a day of 20,000 frames must not list
 * the folder again for every page, so listings are kept and brought up to date by the store
 * watcher's reports instead of being read again. The store is read only on a miss.
 */
export class DayIndex {
  private readonly days = new Map<string, Set<string>>();
  private readonly listings = new Map<string, DayListing>();
  /**
   * What the watcher reported while a camera's days, or a day's frames, were being read from
   * the store: the read may have begun before it, so it is applied to what the read returns.
   * Without this a frame that lands during the read is missing from the page until a restart
   * (a NATS store, whose reads take a round trip, showed it).
   */
  private readonly readingDays = new Map<string, { added: Set<string>; removed: boolean }>();
  private readonly readingFrames = new Map<string, { added: FrameEntry[]; removed: FrameEntry[] }>();

  constructor(private readonly store: FrameIndex) {}

  cameras(): Promise<string[]> {
    return this.store.cameras();
  }

  async daysOf(camera: string): Promise<string[]> {
    const known = this.days.get(camera);
    if (known) return [...known].sort();
    const meanwhile = this.readingDays.get(camera) ?? { added: new Set<string>(), removed: false };
    this.readingDays.set(camera, meanwhile);
    const days = new Set([...(await this.store.days(camera)), ...meanwhile.added]);
    if (this.readingDays.get(camera) === meanwhile) this.readingDays.delete(camera);
    // A frame removed meanwhile may have emptied a day the read still saw: keep nothing, and
    // read again next time (as remove() does).
    if (!meanwhile.removed && !this.days.has(camera)) this.days.set(camera, days);
    return [...(this.days.get(camera) ?? days)].sort();
  }

  /** A local day (yyyy-MM-dd) of a camera; throws a usage error for a day that is not a date. */
  async listing(camera: string, dayText: string): Promise<DayListing> {
    const { from, to } = localDay(dayText, 'day');
    const day = localDate(from);
    const key = `${camera}/${day}`;
    let listing = this.listings.get(key);
    if (listing) {
      // Most recently used last: Map keeps insertion order.
      this.listings.delete(key);
    } else {
      const meanwhile = this.readingFrames.get(key) ?? { added: [], removed: [] };
      this.readingFrames.set(key, meanwhile);
      listing = { camera, day, from, to, frames: await this.store.frames({ camera, from, to }) };
      if (this.readingFrames.get(key) === meanwhile) this.readingFrames.delete(key);
      for (const frame of meanwhile.added) insert(listing.frames, frame);
      for (const frame of meanwhile.removed) takeOut(listing, frame);
      // Another request may have listed the same day meanwhile: keep the one already kept.
      listing = this.listings.get(key) ?? listing;
      this.listings.delete(key);
      if (this.listings.size >= MAX_LISTINGS) this.listings.delete(this.listings.keys().next().value!);
    }
    this.listings.set(key, listing);
    return listing;
  }

  /** Frames the watcher saw arrive; each is returned with its local day. */
  add(frames: readonly FrameEntry[]): (FrameEntry & { day: string })[] {
    const out: (FrameEntry & { day: string })[] = [];
    for (const frame of frames) {
      const day = localDate(frame.time);
      const key = `${frame.camera}/${day}`;
      this.days.get(frame.camera)?.add(day);
      this.readingDays.get(frame.camera)?.added.add(day);
      this.readingFrames.get(key)?.added.push(frame);
      const listing = this.listings.get(key);
      if (listing && insert(listing.frames, frame) && listing.buckets) {
        listing.buckets[Math.floor((frame.time.getTime() - listing.from.getTime()) / BUCKET_MS)]!++;
      }
      out.push({ ...frame, day });
    }
    return out;
  }

  /**
   * Frames that went away (pruned): taken out of kept listings; a camera's days are listed
   * again on next request, since a day may have lost its last frame. Each is returned with its
   * local day.
   */
  remove(frames: readonly FrameEntry[]): (FrameEntry & { day: string })[] {
    const out: (FrameEntry & { day: string })[] = [];
    for (const frame of frames) {
      const day = localDate(frame.time);
      const key = `${frame.camera}/${day}`;
      this.days.delete(frame.camera);
      const reading = this.readingDays.get(frame.camera);
      if (reading) reading.removed = true;
      this.readingFrames.get(key)?.removed.push(frame);
      const listing = this.listings.get(key);
      if (listing) takeOut(listing, frame);
      out.push({ ...frame, day });
    }
    return out;
  }
}

/** Takes a frame out of a listing, if it is there. */
function takeOut(listing: DayListing, frame: FrameEntry): void {
  let i = indexAt(listing.frames, frame.time.getTime());
  while (i < listing.frames.length && listing.frames[i]!.name !== frame.name && compare(listing.frames[i]!, frame) <= 0) i++;
  if (listing.frames[i]?.name === frame.name) {
    listing.frames.splice(i, 1);
    if (listing.buckets) listing.buckets[Math.floor((frame.time.getTime() - listing.from.getTime()) / BUCKET_MS)]!--;
  }
}

/**
 * Inserts in time order, unless already there (a listing read just after the file landed);
 * says whether it inserted.
 */
function insert(frames: FrameEntry[], frame: FrameEntry): boolean {
  let i = indexAt(frames, frame.time.getTime());
  for (; i < frames.length && compare(frames[i]!, frame) <= 0; i++) {
    if (frames[i]!.name === frame.name) return false;
  }
  frames.splice(i, 0, frame);
  return true;
}
