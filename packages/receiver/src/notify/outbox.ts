import type { Logger } from '@surveillance/shared';
import { noticeCamera, type Notice, type Target } from './notice.ts';

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60_000;

/**
 * One target's queue, so that a target that is slow or down never holds up the notifier (or
 * anything else): `post` returns at once and never throws.
 *
 * It keeps the latest state per camera and channel (event, camera state), not a backlog: a
 * target that was down catches up with how things are now, not with a storm of what happened
 * meanwhile. For the latest event that is at most its start and its end: a start not yet sent
 * stays (updates merge into it), so that an event that began and ended during an outage is
 * still announced; a newer event's start replaces both. Memory is bounded by the cameras.
 * An outage is logged once when it starts and once when it ends; it is retried with backoff.
 */
export class Outbox {
  private readonly pending = new Map<string, Notice[]>();
  private busy = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly target: Target,
    private readonly log: Logger,
  ) {}

  post(notice: Notice): void {
    if (this.closed) return;
    const key = `${noticeCamera(notice)}\0${'event' in notice ? 'event' : 'camera'}`;
    this.pending.set(key, merge(this.pending.get(key) ?? [], notice));
    this.pump();
  }

  /** Sends what is pending now (after an outage the target's own reconnect calls this). */
  wake(): void {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.pump();
  }

  private pump(): void {
    if (this.busy || this.retryTimer || this.closed) return;
    const next = this.pending.entries().next();
    if (next.done) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    const [key, queued] = next.value;
    const notice = queued.shift()!;
    this.pending.delete(key); // the rest goes last: cameras take turns
    if (queued.length) this.pending.set(key, queued);
    this.busy = true;
    this.target.send(notice).then(
      () => {
        this.busy = false;
        if (this.failures > 0) this.log.info({ target: this.target.name, attempts: this.failures }, `${this.target.name} takes notifications again`);
        this.failures = 0;
        this.pump();
      },
      (e: unknown) => {
        this.busy = false;
        // Sent again later, merged with what came for the same key meanwhile.
        const later = this.pending.get(key) ?? [];
        this.pending.set(key, later.reduce(merge, [notice]));
        const waitMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.failures, 10));
        if (this.failures === 0) this.log.warn({ target: this.target.name, retryInMs: waitMs }, `${this.target.name} does not take notifications: ${(e as Error).message}; retrying with backoff, sending the latest state when it is back`);
        this.failures++;
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.pump();
        }, waitMs);
        this.retryTimer.unref();
      },
    );
  }

  /** Resolves when nothing is pending or being sent (or the target is in an outage). */
  idle(): Promise<void> {
    if (!this.busy && (this.pending.size === 0 || this.retryTimer)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    await this.target.close();
  }
}

/** What stays queued for one camera and channel when `notice` comes (see the class comment). */
function merge(queued: Notice[], notice: Notice): Notice[] {
  if (!('event' in notice)) return [notice];
  const start = queued.find((q) => q.kind === 'start' && 'event' in q && q.event.id === notice.event.id);
  if (notice.kind === 'update' && start) return [{ ...notice, kind: 'start' }];
  if (notice.kind === 'end' && start) return [{ ...start, event: notice.event, kind: 'start' } as Notice, notice];
  return [notice];
}
