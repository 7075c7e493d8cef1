import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { checkCameraName, SurveillanceError } from '@surveillance/shared';
import { connect, credsAuthenticator, TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { localMidnightsIn } from '../file-index.ts';
import { forgetThumbnails, userCacheDir } from '../file-layout.ts';
import { DEFAULT_NAME_PATTERN, frameName, readFrameName } from '../frame-name.ts';
import { localDate } from '../local-date.ts';
import { eventsOf } from '../event-query.ts';
import type { EventFrame, FrameEvent } from '../events.ts';
import type { EventQuery, FrameData, FrameEntry, FrameMeta, FrameQuery, FrameWriter, RemoveOutcome, StoreChanges, Store, StoredFrame } from '../store.ts';
import { dayFilter, dayKey, dayKeyFilter, frameKey, parseDayKey, parseFrameKey, utcDay } from './nats-keys.ts';
import type { NatsSettings } from './nats-options.ts';

/**
 * The store in NATS JetStream, for several receivers and one place to review.
 *
 * - Bytes: an Object Store (`BUCKET`; JetStream chunks a frame of any size). A frame is put
 *   with "expected last revision 0" on its name: JetStream refuses the second put of a name
 *   for ever, not only within a de-duplication window, and atomically, so two receivers on
 *   two machines that get the same frame agree on one object and one DUP. The loser's chunks
 *   are purged by the client.
 * - Index: a KV bucket (`BUCKET-index`, keys in nats-keys.ts) with camera, time, id in the key
 *   and size, reason and score in the value. It is written after the object, so an entry
 *   always has its bytes; an object whose entry is missing (a receiver died in between) gets
 *   it from the resend, which is a DUP that still writes the entry.
 * - Durability: an OK is sent after JetStream acknowledged the object and the entry, which it
 *   does once the stream's replicas (--nats-replicas) have them: in a cluster, a quorum.
 * - Retention: prune deletes frames by capture time (explicit deletes). JetStream's own
 *   max_age counts from arrival, not capture, and would drop objects under a live index, so
 *   it is not used; max_bytes on the frames bucket is (--nats-max-bytes): the bucket then
 *   refuses new frames, which is the receiver's store-full.
 */

const INDEX_SUFFIX = '-index';
/** Index reads and deletes in flight at once. */
const PARALLEL = 64;
/** Watch batches: entries arriving within this long are reported together. */
const BATCH_MS = 50;
/**
 * How long an open that creates the buckets waits for them. A new replicated stream takes
 * writes once its replicas have chosen a leader: a few hundred milliseconds in a 3-node cluster
 * that has just formed on this machine, and more when the cluster or the machine is busy,
 * which can be longer than --nats-timeout lets a frame wait.
 */
const CREATE_WAIT_MS = 30_000;

interface IndexValue {
  size: number;
  reason?: string;
  score?: number;
}

/** An index entry's value; undefined when damaged (the frame then counts as motion). */
function parseValue(bytes: Uint8Array): IndexValue | undefined {
  try {
    const v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as unknown;
    return v !== null && typeof v === 'object' && typeof (v as IndexValue).size === 'number' ? (v as IndexValue) : undefined;
  } catch {
    return undefined;
  }
}

function failed(what: string, e: unknown): SurveillanceError {
  if (e instanceof SurveillanceError) return e;
  const text = (e as Error).message ?? String(e);
  const full = e instanceof JetStreamApiError && /maximum bytes|insufficient resources|storage/i.test(text);
  return new SurveillanceError(full ? 'store-full' : 'store-failed', `${what}: ${text}`, { cause: e });
}

const isTimeout = (e: unknown) => e instanceof TimeoutError || (e instanceof Error && e.cause instanceof TimeoutError);

/**
 * `create()`, asked again while it times out until `until`: creating is idempotent (the clients
 * look the stream up first, and the server answers a second identical create with the stream).
 */
async function creating<T>(until: number, create: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await create();
    } catch (e) {
      if (!isTimeout(e) || Date.now() >= until) throw e;
    }
  }
}

/** The stream's info once it has a leader, asked every 100 ms until `until`. */
async function withLeader(jsm: JetStreamManager, stream: string, until: number): Promise<StreamInfo> {
  for (;;) {
    const info = await creating(until, () => jsm.streams.info(stream));
    // A server outside a cluster names itself.
    if (!info.cluster || info.cluster.leader) return info;
    if (Date.now() >= until) throw new SurveillanceError('store-failed', `stream ${stream} has no leader: has the cluster lost its quorum?`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const isWrongLastSequence = (e: unknown) =>
  e instanceof JetStreamApiError && (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

/** Runs `f` over `items`, PARALLEL at a time, results in order. */
async function inParallel<T, R>(items: readonly T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
  return out;
}

function byTime(a: FrameEntry, b: FrameEntry): number {
  return a.time.getTime() - b.time.getTime() || (a.camera < b.camera ? -1 : a.camera > b.camera ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

const DAY_MS = 86_400_000;
const dayStart = (day: string) => Date.parse(`${day}T00:00:00.000Z`);

export interface OpenNatsOptions {
  /** Create the buckets when missing (receivers, migrate's target); review only opens them. */
  create: boolean;
  /** Connection name, shown by the server's monitoring. */
  name?: string;
}

export async function openNatsStore(settings: NatsSettings, o: OpenNatsOptions): Promise<NatsStore> {
  const { address } = settings;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: address.servers,
      name: o.name ?? 'surveillance-receiver',
      user: settings.creds ? undefined : address.user,
      pass: settings.creds ? undefined : settings.password,
      authenticator: settings.creds ? credsAuthenticator(settings.creds) : undefined,
      tls: settings.ca ? { ca: settings.ca } : address.tls ? {} : undefined,
      timeout: settings.timeoutMs,
      // Keep trying while running: a frame that comes in meanwhile fails after --nats-timeout.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
  } catch (e) {
    throw failed(`cannot connect to ${address.location}`, e);
  }
  try {
    const js = jetstream(nc, { timeout: settings.timeoutMs });
    const jsm = await jetstreamManager(nc, { timeout: settings.timeoutMs });
    const objm = new Objm(js);
    const kvm = new Kvm(js);
    const indexName = address.bucket + INDEX_SUFFIX;
    let objects: ObjectStore;
    let index: KV;
    if (o.create) {
      const until = Date.now() + Math.max(settings.timeoutMs, CREATE_WAIT_MS);
      objects = await creating(until, () => objm.create(address.bucket, { replicas: settings.replicas, storage: 'file', ...(settings.maxBytes ? { max_bytes: settings.maxBytes } : {}) }));
      index = await creating(until, () => kvm.create(indexName, { replicas: settings.replicas, history: 1, storage: 'file' }));
      for (const stream of [`OBJ_${address.bucket}`, `KV_${indexName}`]) {
        const have = (await withLeader(jsm, stream, until)).config.num_replicas;
        if (have !== settings.replicas) {
          throw new SurveillanceError('usage', `store ${address.location}: stream ${stream} keeps ${have} replica(s), but --nats-replicas is ${settings.replicas}; change one of them (nats stream edit ${stream} --replicas ${settings.replicas})`);
        }
      }
    } else {
      try {
        objects = await objm.open(address.bucket);
        index = await kvm.open(indexName);
        await index.status();
      } catch (e) {
        throw new SurveillanceError('not-found', `store ${address.location} does not exist (no bucket ${address.bucket} with its index): ${(e as Error).message}`);
      }
    }
    return new NatsStore(nc, jsm, objects, index, settings);
  } catch (e) {
    await nc.close().catch(() => {});
    throw failed(`cannot open store ${address.location}`, e);
  }
}

class NatsFrameWriter implements FrameWriter {
  private chunks: Uint8Array[] = [];
  bytes = 0;

  constructor(private readonly store: NatsStore) {}

  write(chunk: Uint8Array): void {
    // Copied: the connection may reuse its buffers once write() returns.
    this.chunks.push(Uint8Array.prototype.slice.call(chunk));
    this.bytes += chunk.length;
  }

  async commit(meta: FrameMeta): Promise<StoredFrame> {
    const data = Buffer.concat(this.chunks);
    this.chunks = [];
    return this.store.put(meta, data);
  }

  abort(): void {
    this.chunks = [];
    this.bytes = 0;
  }
}

export class NatsStore implements Store {
  readonly location: string;
  private readonly objStream: string;
  private readonly indexStream: string;
  /**
   * The index values of frames this store listed or saw arrive, by the very entry it handed
   * out: `marks` and `sizes` of those (events over a day, prune by size, the gallery on each
   * batch) read nothing more. Values never change while a frame lives (entries are created
   * once), and weakly held, they go when the caller drops its list. A frame another process
   * removed after the listing keeps its size and marks here, which only a caller holding on
   * to an old list sees (prune then finds it gone, which is no error).
   */
  private readonly known = new WeakMap<FrameEntry, IndexValue>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly objects: ObjectStore,
    private readonly index: KV,
    private readonly settings: NatsSettings,
  ) {
    this.location = settings.address.location;
    this.objStream = `OBJ_${settings.address.bucket}`;
    this.indexStream = `KV_${settings.address.bucket}${INDEX_SUFFIX}`;
  }

  /** The size is not checked in advance: a full bucket (--nats-max-bytes) refuses at commit. */
  begin(_expectedBytes = 0): FrameWriter {
    if (this.nc.isClosed()) throw new SurveillanceError('store-failed', `store ${this.location} is closed`);
    return new NatsFrameWriter(this);
  }

  /** @internal The commit of a NatsFrameWriter. */
  async put(meta: FrameMeta, data: Uint8Array): Promise<StoredFrame> {
    const name = frameName(meta.camera, meta.time, meta.id);
    let duplicate = false;
    try {
      const maxPayload = this.nc.info?.max_payload ?? 1024 * 1024;
      await this.objects.putBlob({ name, options: { max_chunk_size: maxPayload } }, data, { previousRevision: 0, timeout: this.settings.timeoutMs });
    } catch (e) {
      if (!isWrongLastSequence(e)) throw failed(`cannot store ${name} in ${this.location}`, e);
      duplicate = true;
    }
    const value: IndexValue = { size: data.length, ...(meta.reason ? { reason: meta.reason } : {}), ...(meta.score !== undefined ? { score: meta.score } : {}) };
    try {
      await Promise.all([
        this.index.create(frameKey(meta), JSON.stringify(value)).catch((e: unknown) => {
          if (!isWrongLastSequence(e)) throw e;
        }),
        // A put, not a create: a prune that found the day empty deletes the mark only if no
        // frame touched it since (see dropDayIfEmpty).
        this.index.put(dayKey(meta.camera, utcDay(meta.time)), ''),
      ]);
    } catch (e) {
      throw failed(`cannot index ${name} in ${this.location}`, e);
    }
    return { name, duplicate };
  }

  async close(): Promise<void> {
    // close, not drain: every write was awaited already, and a drain waits for ever while the
    // cluster is unreachable (the client keeps reconnecting).
    if (!this.nc.isClosed()) await this.nc.close();
  }

  private async keys(filter: string): Promise<string[]> {
    try {
      return await collect(await this.index.keys(filter));
    } catch (e) {
      throw failed(`cannot read the index of ${this.location}`, e);
    }
  }

  /** UTC days (yyyy-MM-dd) with a mark, per camera. */
  private async dayMarks(camera?: string): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const key of await this.keys(dayKeyFilter(camera))) {
      const d = parseDayKey(key);
      if (!d || (camera !== undefined && d.camera !== camera)) continue;
      const list = out.get(d.camera) ?? [];
      list.push(d.day);
      out.set(d.camera, list);
    }
    for (const list of out.values()) list.sort();
    return out;
  }

  /**
   * A day's entries, keys and values in one pass over that day's subjects: the values are
   * some 40 bytes each, where reading them afterwards would be one request per frame.
   */
  private async dayFrames(camera: string, day: string): Promise<FrameEntry[]> {
    let entries: KvWatchEntry[];
    try {
      entries = await collect(await this.index.history({ key: dayFilter(camera, day) }));
    } catch (e) {
      throw failed(`cannot read the index of ${this.location}`, e);
    }
    // In stream order: a key's newest revision (or its delete marker) comes last.
    const newest = new Map<string, KvWatchEntry>();
    for (const e of entries) newest.set(e.key, e);
    const out: FrameEntry[] = [];
    for (const e of newest.values()) {
      if (e.operation !== 'PUT') continue;
      const f = parseFrameKey(e.key);
      if (!f || f.camera !== camera) continue;
      out.push(f);
      const v = parseValue(e.value);
      if (v) this.known.set(f, v);
    }
    return out;
  }

  /** A frame's index value: from its listing when this store made the entry, else read. */
  private async value(f: FrameEntry): Promise<IndexValue | undefined> {
    const known = this.known.get(f);
    if (known) return known;
    try {
      const e = await this.index.get(frameKey(f));
      return e && e.operation === 'PUT' ? parseValue(e.value) : undefined;
    } catch (e) {
      throw failed(`cannot read the index of ${this.location}`, e);
    }
  }

  async cameras(): Promise<string[]> {
    return [...(await this.dayMarks()).keys()].filter((c) => checkCameraName(c) === undefined).sort();
  }

  async days(camera: string): Promise<string[]> {
    const dates = new Set<string>();
    for (const day of (await this.dayMarks(camera)).get(camera) ?? []) {
      const start = dayStart(day);
      const frames = await this.dayFrames(camera, day);
      if (frames.length === 0) continue;
      // A UTC day spans parts of two (rarely three) local dates: split it at local midnights.
      const starts = [start, ...localMidnightsIn(start, start + DAY_MS)];
      for (const f of frames) {
        const t = f.time.getTime();
        let seg = 0;
        while (seg + 1 < starts.length && t >= starts[seg + 1]!) seg++;
        dates.add(localDate(new Date(starts[seg]!)));
      }
    }
    return [...dates].sort();
  }

  async frames(q: FrameQuery = {}): Promise<FrameEntry[]> {
    const from = q.from?.getTime() ?? -Infinity;
    const to = q.to?.getTime() ?? Infinity;
    const out: FrameEntry[] = [];
    const marks = await this.dayMarks(q.camera);
    const wanted: [string, string][] = [];
    for (const [camera, days] of marks) {
      for (const day of days) {
        const start = dayStart(day);
        if (start + DAY_MS > from && start < to) wanted.push([camera, day]);
      }
    }
    for (const list of await inParallel(wanted, ([camera, day]) => this.dayFrames(camera, day))) {
      for (const f of list) {
        const t = f.time.getTime();
        if (t >= from && t < to) out.push(f);
      }
    }
    return out.sort(byTime);
  }

  async latest(camera?: string): Promise<FrameEntry | undefined> {
    let best: FrameEntry | undefined;
    for (const [cam, days] of await this.dayMarks(camera)) {
      for (let i = days.length - 1; i >= 0; i--) {
        const frames = await this.dayFrames(cam, days[i]!);
        if (frames.length === 0) continue;
        const newest = frames.sort(byTime).at(-1)!;
        if (!best || byTime(best, newest) < 0) best = newest;
        break;
      }
    }
    return best;
  }

  async sizes(frames: readonly FrameEntry[]): Promise<number[]> {
    return inParallel(frames, async (f) => (await this.value(f))?.size ?? 0);
  }

  async marks(frames: readonly FrameEntry[]): Promise<EventFrame[]> {
    return inParallel(frames, async (f) => {
      const v = await this.value(f);
      const reason = v?.reason === 'first' || v?.reason === 'motion' || v?.reason === 'heartbeat' ? v.reason : undefined;
      return { time: f.time, id: f.id, name: f.name, ...(reason ? { reason } : {}), ...(v?.score !== undefined ? { score: v.score } : {}) };
    });
  }

  async events(query: EventQuery): Promise<FrameEvent[]> {
    return eventsOf(this, query);
  }

  parseName(text: string): FrameEntry | undefined {
    return readFrameName(text, DEFAULT_NAME_PATTERN);
  }

  locate(name: string): string {
    return `${this.location}/${name}`;
  }

  async open(name: string): Promise<FrameData | undefined> {
    const entry = this.parseName(name);
    if (!entry || entry.name !== name) return undefined;
    let info;
    try {
      info = await this.objects.info(name);
    } catch (e) {
      throw failed(`cannot read ${name} from ${this.location}`, e);
    }
    if (!info || info.deleted) return undefined;
    const objects = this.objects;
    const location = this.location;
    async function* chunks(): AsyncGenerator<Buffer> {
      const r = await objects.get(name);
      if (!r) throw new SurveillanceError('not-found', `${name} was removed from ${location} while being read`);
      for await (const chunk of r.data) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      // Set when the chunks do not match the object's SHA-256.
      const err = await r.error;
      if (err) throw failed(`${name} in ${location}`, err);
    }
    return {
      size: info.size,
      time: entry.time,
      stream: () => Readable.from(chunks(), { objectMode: false }),
      bytes: async () => Buffer.concat(await collect(chunks())),
    };
  }

  async remove(frames: readonly FrameEntry[], options: { dryRun?: boolean } = {}): Promise<RemoveOutcome> {
    const days = new Map<string, [string, string]>();
    for (const f of frames) days.set(`${f.camera}/${utcDay(f.time)}`, [f.camera, utcDay(f.time)]);
    if (options.dryRun) return { removed: frames.length, emptied: 0, failed: [] };
    const outcome: RemoveOutcome = { removed: 0, emptied: 0, failed: [] };
    const gone: string[] = [];
    await inParallel(frames, async (f) => {
      try {
        const info = await this.objects.info(f.name);
        if (info) {
          // Purged rather than deleted: a delete leaves a marker that would make a resend of a
          // pruned frame a DUP, where the file store stores it again.
          await this.jsm.streams.purge(this.objStream, { filter: `$O.${this.settings.address.bucket}.C.${info.nuid}` });
          await this.jsm.streams.purge(this.objStream, { filter: metaSubject(this.settings.address.bucket, f.name) });
        }
        // Only a live entry gets a delete marker: removing twice reports the frame once.
        const entry = await this.index.get(frameKey(f));
        if (entry?.operation === 'PUT') await this.index.delete(frameKey(f), { previousSeq: entry.revision });
      } catch (e) {
        outcome.failed.push({ name: f.name, reason: failed('remove', e).message });
        return;
      }
      outcome.removed++;
      gone.push(f.name);
      this.known.delete(f);
    });
    for (const [camera, day] of days.values()) if (await this.dropDayIfEmpty(camera, day)) outcome.emptied++;
    // This user's thumbnails of them go too.
    forgetThumbnails(this.cacheDir(process.env), gone);
    return outcome;
  }

  /**
   * A day whose frames are all gone loses its mark and its delete markers. Race-free against a
   * receiver storing a frame of that day meanwhile: the mark is deleted only at the revision
   * read before listing, and the purge spares every message newer than the listing.
   */
  private async dropDayIfEmpty(camera: string, day: string): Promise<boolean> {
    try {
      const mark = await this.index.get(dayKey(camera, day));
      const lastSeq = (await this.jsm.streams.info(this.indexStream)).state.last_seq;
      if ((await this.keys(dayFilter(camera, day))).length > 0) return false;
      await this.jsm.streams.purge(this.indexStream, { filter: `$KV.${this.settings.address.bucket}${INDEX_SUFFIX}.${dayFilter(camera, day)}`, seq: lastSeq + 1 });
      if (mark && mark.operation === 'PUT') await this.index.delete(dayKey(camera, day), { previousSeq: mark.revision });
      return true;
    } catch (e) {
      if (isWrongLastSequence(e)) return false; // a frame of that day came in: the mark stays
      throw failed(`cannot tidy the index of ${this.location}`, e);
    }
  }

  async freeBytes(): Promise<number | undefined> {
    try {
      const [account, stream] = await Promise.all([this.jsm.getAccountInfo(), this.jsm.streams.info(this.objStream)]);
      const candidates: number[] = [];
      if (account.limits.max_storage > 0) candidates.push(account.limits.max_storage - account.storage);
      if (stream.config.max_bytes > 0) candidates.push(stream.config.max_bytes - stream.state.bytes);
      return candidates.length ? Math.max(0, Math.min(...candidates)) : undefined;
    } catch (e) {
      throw failed(`cannot read the limits of ${this.location}`, e);
    }
  }

  cacheDir(env: NodeJS.ProcessEnv): string {
    return userCacheDir(this.location, env);
  }

  async watch(): Promise<StoreChanges> {
    let it;
    try {
      it = await this.index.watch({ key: 'f.>', include: 'updates' });
    } catch (e) {
      throw failed(`cannot watch ${this.location}`, e);
    }
    return new NatsChanges(it, (f, v) => this.known.set(f, v));
  }
}

/** `$O.BUCKET.M.<name, base64url>`: the subject of an object's description. */
function metaSubject(bucket: string, name: string): string {
  return `$O.${bucket}.M.${Buffer.from(name).toString('base64').replaceAll('+', '-').replaceAll('/', '_')}`;
}

class NatsChanges extends EventEmitter implements StoreChanges {
  private added: FrameEntry[] = [];
  private removed: FrameEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly done: Promise<void>;

  constructor(
    private readonly it: AsyncIterable<KvWatchEntry> & { stop(): void },
    /** A new frame's index value, which the watch delivers with it. */
    remember: (frame: FrameEntry, value: IndexValue) => void,
  ) {
    super();
    this.done = (async () => {
      try {
        for await (const e of it) {
          const f = parseFrameKey(e.key);
          if (!f) continue;
          const v = e.operation === 'PUT' ? parseValue(e.value) : undefined;
          if (v) remember(f, v);
          (e.operation === 'PUT' ? this.added : this.removed).push(f);
          this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
        }
      } catch (e) {
        this.emit('error', e as Error);
      }
    })();
  }

  private flush(): void {
    this.timer = undefined;
    const added = this.added.sort(byTime);
    const removed = this.removed;
    this.added = [];
    this.removed = [];
    if (added.length) this.emit('added', added);
    if (removed.length) this.emit('removed', removed);
  }

  async close(): Promise<void> {
    this.it.stop();
    await this.done;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
