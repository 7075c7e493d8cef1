import { connect } from 'node:net';

export interface Exchange {
  /** Everything the receiver answered, until it closed the connection. */
  reply: string;
  lines: string[];
}

/**
 * Connects to 127.0.0.1:port, writes `parts` (pausing `pauseMs` between them), optionally ends
 * its side, and collects the reply until the receiver closes the connection.
 */
export function exchange(
  port: number,
  parts: Uint8Array[],
  options: { end?: boolean; pauseMs?: number } = {},
): Promise<Exchange> {
  const { end = true, pauseMs = 0 } = options;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (reply += d));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      // A reset after the reply was read is the receiver cutting a stalled peer off.
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return;
      reject(e);
    });
    // Half-open so that we can stop sending and still read; once the receiver ends, so do we.
    socket.on('end', () => socket.end());
    socket.on('close', () => resolve({ reply, lines: reply.split('\n').filter(Boolean) }));
    socket.on('connect', async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0 && pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
        if (socket.destroyed) return;
        socket.write(part);
      }
      if (end) socket.end();
    });
  });
}
