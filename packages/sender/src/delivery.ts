import { formatHostPort, isBug, SurveillanceError, type ErrorCode, type HostPort, type Logger, type Spec } from '@surveillance/shared';
import { Backoff } from './backoff.ts';
import { ReceiverConnection } from './receiver-client.ts';
import type { Spool, SpooledFrame } from './spool.ts';

/**
 * Drains the spool to the receiver, oldest frame first, over one connection for as long as
 * there is a backlog. A frame leaves the spool only when the receiver answered OK or DUP for
 * its id; anything else leaves it where it is, to be sent again with the same id.
 */

/** How delivery keeps its connection and backs off (the receiver's address: clientSpec). */
export const deliverySpec = {
  'retry-min': { kind: 'duration', description: 'first wait before reconnecting after a failure (doubles up to --retry-max, with jitter)', default: 500, min: 10 },
  'retry-max': { kind: 'duration', description: 'longest wait between reconnection attempts', default: 60_000, min: 10 },
  linger: { kind: 'duration', description: 'keep an idle connection open this long for the next frame; below the receiver\'s idle timeout', default: 5000 },
} as const satisfies Spec;

/** Answers that mean this frame will never be accepted, however often it is sent. */
const REJECTED_FOR_GOOD: ReadonlySet<ErrorCode> = new Set(['bad-jpeg', 'too-large', 'bad-header', 'bad-magic']);

export interface DeliveryOptions {
  spool: Spool;
  to: HostPort;
  log: Logger;
  timeoutMs: number;
  /** How long an idle connection stays open for the next frame. */
  lingerMs: number;
  retryMinMs: number;
  retryMaxMs: number;
}

/**
 * What became of a frame: acknowledged (OK or DUP); gone without an answer (it vanished from
 * the spool, or the receiver refused it for good and it was moved aside); or to be sent again
 * at once. Only an acknowledgement shows that the receiver takes frames again.
 */
type Outcome = 'acknowledged' | 'skipped' | 'again';

export class Delivery {
  private connection: ReceiverConnection | undefined;
  private readonly backoff: Backoff;
  private stopping = false;
  private wakeUp: (() => void) | undefined;
  private interrupt: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** A frame is on the wire, its answer not yet in. */
  private inFlight = false;
  /** The error code of the outage under way, so that an outage is logged once, not per attempt. */
  private outage: ErrorCode | undefined;

  constructor(private readonly options: DeliveryOptions) {
    this.backoff = new Backoff(options.retryMinMs, options.retryMaxMs);
  }

  /** Tells the loop that a frame was spooled. */
  wake(): void {
    this.wakeUp?.();
  }

  /**
   * The daemon's loop: runs until stop(), retrying with backoff for as long as it takes. The
   * promise rejects only on a bug (an error that is not a SurveillanceError), which is never
   * retried: a TypeError is no outage, and retrying it for ever would hide it.
   */
  start(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  /**
   * Ends the loop. A frame on the wire gets its answer first, for at most the answer timeout
   * (systemd's TimeoutStopSec= is the outer bound): cut off, it would stay spooled although the
   * receiver may have stored it, and go again as a duplicate.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    this.interrupt?.();
    const cutOff = setTimeout(() => this.connection?.destroy(), this.inFlight ? this.options.timeoutMs : 0);
    await this.running;
    clearTimeout(cutOff);
  }

  /**
   * Delivers everything spooled, once, without waiting between attempts (for `once`). Resolves
   * with the error that stopped it, if one did; what was not delivered stays spooled.
   */
  async drain(): Promise<SurveillanceError | undefined> {
    try {
      for (let frame = this.options.spool.oldest(); frame; frame = this.options.spool.oldest()) {
        while ((await this.deliver(frame)) === 'again');
      }
      return undefined;
    } catch (e) {
      if (isBug(e)) throw e;
      return e as SurveillanceError;
    } finally {
      await this.closeConnection();
    }
  }

  private async loop(): Promise<void> {
    const { spool, log } = this.options;
    while (!this.stopping) {
      const frame = spool.oldest();
      if (!frame) {
        await this.idle();
        continue;
      }
      try {
        if ((await this.deliver(frame)) === 'acknowledged') this.recovered();
      } catch (e) {
        if (isBug(e)) {
          await this.closeConnection().catch(() => undefined);
          throw e;
        }
        if (this.stopping) break;
        const error = e as SurveillanceError;
        const waitMs = this.backoff.next();
        const context = { code: error.code, backlog: spool.count, attempt: this.backoff.attempts, retryInMs: waitMs };
        if (this.outage !== error.code) {
          log.warn(context, `cannot deliver: ${error.message}; ${spool.count} frame(s) stay spooled, retrying with backoff`);
        } else {
          log.debug(context, `still cannot deliver: ${error.message}`);
        }
        this.outage = error.code;
        await this.sleep(waitMs);
      }
    }
    await this.closeConnection();
  }

  /** Sends one frame and acts on the answer. Throws what should make the loop back off. */
  private async deliver(frame: SpooledFrame): Promise<Outcome> {
    const { spool, log } = this.options;
    const jpeg = spool.read(frame);
    if (!jpeg) return 'skipped'; // dropped by the spool's bounds meanwhile, or by another sender
    const connection = await this.connect();
    if (this.stopping) return 'again'; // stopped while connecting: nothing is on the wire yet
    const reused = connection.answered > 0;
    let ack;
    try {
      this.inFlight = true;
      ack = await connection.send({ camera: frame.camera, id: frame.id, time: frame.time, jpeg });
    } catch (e) {
      this.dropConnection();
      // A kept-open connection may have been closed by the receiver's idle timeout just as we
      // wrote: that is no outage, so try once more at once, on a fresh connection.
      if (reused && !this.stopping) return 'again';
      throw e;
    } finally {
      this.inFlight = false;
    }
    if (ack.status === 'ERR') {
      this.dropConnection(); // the receiver ends the connection after an ERR
      if (REJECTED_FOR_GOOD.has(ack.code)) {
        spool.reject(frame);
        log.warn(
          { id: frame.id, code: ack.code, bytes: frame.bytes, moved: `rejected/${frame.name}` },
          `receiver refused frame ${frame.id} for good (${ack.code}: ${ack.reason}); moved it aside so that the queue goes on`,
        );
        return 'skipped';
      }
      throw new SurveillanceError(ack.code, `receiver refused frame ${frame.id}: ${ack.reason}`);
    }
    spool.remove(frame);
    spool.recordSent({
      id: frame.id,
      camera: frame.camera,
      time: frame.time.toISOString(),
      stored: ack.name,
      status: ack.status,
      acknowledgedAt: new Date().toISOString(),
    });
    log.info({ id: frame.id, status: ack.status, stored: ack.name, bytes: frame.bytes, backlog: spool.count }, ack.status === 'OK' ? 'delivered' : 'delivered (receiver had it already)');
    return 'acknowledged';
  }

  private recovered(): void {
    if (this.outage !== undefined) {
      this.options.log.info({ attempts: this.backoff.attempts, backlog: this.options.spool.count }, `receiver ${formatHostPort(this.options.to)} takes frames again`);
    }
    this.outage = undefined;
    this.backoff.reset();
  }

  private async connect(): Promise<ReceiverConnection> {
    if (this.connection?.usable) return this.connection;
    this.dropConnection();
    this.connection = await ReceiverConnection.open(this.options.to, this.options.timeoutMs);
    return this.connection;
  }

  private dropConnection(): void {
    this.connection?.destroy();
    this.connection = undefined;
  }

  private async closeConnection(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.close();
  }

  /** Waits for a new frame; an idle connection is closed after the linger time. */
  private async idle(): Promise<void> {
    if (this.connection) {
      const woken = await this.waitForWake(this.options.lingerMs);
      if (!woken) await this.closeConnection();
      return;
    }
    await this.waitForWake();
  }

  /** Waits between attempts; new frames do not cut it short, stop() does. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopping) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.interrupt = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.interrupt = done;
    });
  }

  /** Resolves true on wake(), false after `ms`. */
  private waitForWake(ms?: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.stopping) return resolve(true);
      const timer = ms === undefined ? undefined : setTimeout(() => done(false), ms);
      const done = (woken: boolean) => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve(woken);
      };
      this.wakeUp = () => done(true);
    });
  }
}
