import type { IncomingMessage, ServerResponse } from 'node:http';

const HEARTBEAT_MS = 25_000;
/** A page that stops reading (a laptop lid closed) is dropped before it holds much memory. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * Server-sent events to every open page. The browser's EventSource reconnects by itself
 * (after `retry` ms); comments every 25 s keep proxies and NAT tables from closing an idle
 * stream.
 */
export class EventFeed {
  private readonly clients = new Set<ServerResponse>();
  private readonly heartbeat = setInterval(() => this.write(': keep-alive\n\n'), HEARTBEAT_MS).unref();

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
    req.socket.setNoDelay(true);
    req.once('close', () => this.clients.delete(res));
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
