import { EventEmitter } from 'node:events';
import { closeSync, openSync, read, write } from 'node:fs';
import type { Socket } from 'node:net';
import type { ConnectionSocket } from './connection.ts';

/** Bytes asked for per read: what a net.Socket reads at a time. */
const READ_BYTES = 65536;
/** Answers queued beyond this make write() return false, as a net.Socket's high water mark. */
const HIGH_WATER = 16384;

/**
 * The connection systemd hands a per-connection receiver (Accept=yes: the socket is fd 0 and
 * fd 1), read and written with node:fs instead of being wrapped in a net.Socket. node:net and
 * the stream classes it loads cost about a tenth of a Node start (`pnpm bench`), paid once per
 * connection, and one frame needs none of what they do.
 *
 * It is what Connection uses of a socket and no more: 'data', 'end', 'error', 'timeout',
 * 'drain' and 'close', pause/resume, write, end, destroy and an idle timeout. Reads run on
 * libuv's thread pool, so a read that waits never blocks the event loop: the idle, frame and
 * close timers still fire. Answers are written in order, one at a time.
 *
 * node:fs has no shutdown(2): when the peer has ended (the usual case: it sent its frame and
 * ended, and we answered), our side ends by closing both fds. Otherwise, and for a socket left
 * non-blocking (EAGAIN, which node:fs cannot wait on), the fd is handed to a net.Socket, and
 * every call and event goes to and from it from then on. Nothing is lost in the switch: a read
 * or write that failed moved no bytes, and answers still queued are handed over in order.
 */
export class FdSocket extends EventEmitter implements ConnectionSocket {
  writable = true;
  private paused = false;
  private reading = false;
  /** A chunk that came while paused, given out on resume. */
  private stash: Buffer | undefined;
  private ended = false;
  private destroyed = false;
  private readonly outbox: Buffer[] = [];
  private queued = 0;
  private writing = false;
  private needDrain = false;
  private endAfterWrites = false;
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private net: Socket | undefined;

  /** `fd` is read; answers go to fd 1 when it is 0 (inetd style), else to `fd` itself. */
  constructor(private readonly fd = 0) {
    super();
    // The caller attaches its listeners first.
    setImmediate(() => this.pump());
  }

  setTimeout(ms: number): this {
    this.idleMs = ms;
    if (this.net) this.net.setTimeout(ms);
    else this.touch();
    return this;
  }

  pause(): this {
    this.paused = true;
    this.net?.pause();
    return this;
  }

  resume(): this {
    this.paused = false;
    if (this.net) {
      this.net.resume();
      return this;
    }
    const chunk = this.stash;
    this.stash = undefined;
    if (chunk) this.emit('data', chunk);
    this.pump();
    return this;
  }

  write(data: string | Buffer): boolean {
    if (this.net) return this.net.write(data);
    if (!this.writable) return false;
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    this.outbox.push(bytes);
    this.queued += bytes.length;
    this.flush();
    if (this.queued < HIGH_WATER) return true;
    this.needDrain = true;
    return false;
  }

  /**
   * Our side is done. When the peer has ended too (the usual case), the connection closes once
   * the answers are written. When it has not, our end of stream cannot wait for the process to
   * exit: the fd goes to a net.Socket, which can half-close (shutdown(2)), as Connection wants.
   */
  end(): this {
    if (this.net) {
      this.net.end();
      return this;
    }
    this.writable = false;
    this.endAfterWrites = true;
    if (!this.ended && !this.writing) this.toNetSocket();
    else this.maybeClosed();
    return this;
  }

  destroy(): this {
    if (this.net) this.net.destroy();
    if (this.destroyed) return this;
    this.destroyed = true;
    this.writable = false;
    clearTimeout(this.idleTimer);
    setImmediate(() => {
      if (!this.net) this.emit('close', false);
      // A read waiting on the thread pool cannot be cancelled, and Node's exit waits for it:
      // a peer that neither sends nor closes would keep this process (one per connection,
      // with nothing left to do) and its connection slot for ever. Only such a peer gets here,
      // after Connection's close grace; everything it was told is written and logged.
      if (this.reading) process.kill(process.pid, 'SIGKILL');
    });
    return this;
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    if (this.idleMs > 0 && !this.destroyed) this.idleTimer = setTimeout(() => this.emit('timeout'), this.idleMs);
  }

  private pump(): void {
    if (this.net || this.paused || this.reading || this.ended || this.destroyed || this.stash) return;
    this.reading = true;
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    read(this.fd, buffer, 0, READ_BYTES, null, (error, n) => {
      this.reading = false;
      if (this.destroyed || this.net) return;
      if (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return this.toNetSocket();
        return void this.emit('error', error);
      }
      this.touch();
      if (n === 0) {
        this.ended = true;
        this.emit('end');
        return this.maybeClosed();
      }
      const chunk = buffer.subarray(0, n);
      if (this.paused) this.stash = chunk;
      else this.emit('data', chunk);
      this.pump();
    });
  }

  private flush(): void {
    if (this.writing || this.destroyed || this.net) return;
    const bytes = this.outbox.shift();
    if (bytes === undefined) return;
    this.writing = true;
    write(this.fd === 0 ? 1 : this.fd, bytes, 0, bytes.length, null, (error, written) => {
      this.writing = false;
      if (this.destroyed || this.net) return;
      if (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.outbox.unshift(bytes);
          return this.toNetSocket();
        }
        this.writable = false;
        return void this.emit('error', error);
      }
      this.touch();
      this.queued -= written;
      if (written < bytes.length) this.outbox.unshift(bytes.subarray(written));
      // Answers leave in order: a net.Socket takes over only between two writes.
      if (this.endAfterWrites && !this.ended) return this.toNetSocket();
      if (this.outbox.length > 0) return this.flush();
      if (this.needDrain) {
        this.needDrain = false;
        this.emit('drain');
      }
      this.maybeClosed();
    });
  }

  /** Both sides are done: close the connection now and say 'close', as a net.Socket would. */
  private maybeClosed(): void {
    if (!this.ended || !this.endAfterWrites || this.writing || this.outbox.length > 0 || this.destroyed) return;
    this.destroyed = true;
    clearTimeout(this.idleTimer);
    this.closeFds();
    this.emit('close', false);
  }

  /**
   * Closing the socket's fds now, rather than leaving it to the process's exit, gives the peer
   * its end of stream a few ms sooner: Node's exit takes that long. /dev/null takes their
   * numbers, so that no file opened later gets fd 0 or 1 and receives what was meant for them.
   */
  private closeFds(): void {
    if (this.fd !== 0) return closeSync(this.fd);
    closeSync(0);
    closeSync(1);
    openSync('/dev/null', 'r');
    openSync('/dev/null', 'w');
  }

  /** The fd is non-blocking: from now on a net.Socket waits on it, and this passes everything on. */
  private toNetSocket(): void {
    const { Socket } = process.getBuiltinModule('node:net');
    const net = new Socket({ fd: this.fd, readable: true, writable: true, allowHalfOpen: true });
    this.net = net;
    clearTimeout(this.idleTimer);
    if (this.idleMs > 0) net.setTimeout(this.idleMs);
    for (const event of ['data', 'end', 'error', 'timeout', 'drain', 'close']) net.on(event, (...args: unknown[]) => this.emit(event, ...args));
    const stash = this.stash;
    this.stash = undefined;
    for (const bytes of this.outbox.splice(0)) net.write(bytes);
    if (this.endAfterWrites) net.end();
    if (this.paused) net.pause();
    if (stash) net.unshift(stash);
  }
}
