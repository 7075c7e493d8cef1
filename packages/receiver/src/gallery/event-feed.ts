import type { IncomingMessage, ServerResponse } from 'node:http';

const HEARTBEAT_MS = 25_000;
/** A page that stops reading (a laptop lid closed) is dropped before it holds much memory. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * Streams open at once, in all and from one address. Each holds a socket (an fd) for as long
 * as the page is open: without a cap, 8,000 requests took 8,022 fds and starved the frames.
 * A household opens a few pages; a browser shares one stream between its tabs only within a
 * page, so a few per address (each tab, a phone behind the same NAT) are allowed.
 */
export const MAX_STREAMS = 64;
export const MAX_STREAMS_PER_ADDRESS = 8;

/**
 * Server-sent events to every open page. The browser's EventSource reconnects by itself
 * (after `retry` ms); comments every 25 s keep proxies and NAT tables from closing an idle
 * stream.
 */
export class EventFeed {
  private readonly clients = new Set<ServerResponse>();
  private readonly perAddress = new Map<string, number>();
  private readonly heartbeat = setInterval(() => this.write(': keep-alive\n\n'), HEARTBEAT_MS).unref();

  /** Why a new stream from this request would be one too many, or undefined when it may open. */
  refusal(req: IncomingMessage): string | undefined {
    if (this.clients.size >= MAX_STREAMS) return `${MAX_STREAMS} event streams are open, the most the gallery serves; close a page or try again later`;
    const address = req.socket.remoteAddress ?? '';
    if ((this.perAddress.get(address) ?? 0) >= MAX_STREAMS_PER_ADDRESS) {
      return `${MAX_STREAMS_PER_ADDRESS} event streams are open from ${address}, the most from one address; close a page or try again later`;
    }
    return undefined;
  }

  attach(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    const address = req.socket.remoteAddress ?? '';
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    req.socket.setNoDelay(true);
    // 'close' of the response: it comes however the stream ends (the page, or write() below).
    res.once('close', () => {
      this.clients.delete(res);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    });
  }

  send(event: string, data: unknown): void {
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private write(text: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        res.destroy();
        this.clients.delete(res);
      } else {
        res.write(text);
      }
    }
  }

  get size(): number {
    return this.clients.size;
  }

  /** Ends every stream; pages reconnect to whatever serves next. */
  close(): void {
    clearInterval(this.heartbeat);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}
