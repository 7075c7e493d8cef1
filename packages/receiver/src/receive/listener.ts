import { createServer } from 'node:net';
import { EXIT, listenError, type LineFormatter, type Logger, type LogLevel } from '@surveillance/shared';
import { createLogger } from '@surveillance/shared/log';
import { handleConnection, type ConnectionOptions } from './connection.ts';

/**
 * The long-lived receiver of the listener modes: the socket systemd passed as fd 3
 * (Accept=no), or one it opened itself (--listen). Every connection gets the same handler as
 * the one-process-per-connection mode.
 */

export interface ServeOptions {
  level: LogLevel;
  /** Pretty log lines (--log-format); JSON when undefined. */
  formatter?: LineFormatter;
  env: NodeJS.ProcessEnv;
  connection: (log: Logger, peer: string) => ConnectionOptions;
  target: { host: string; port: number } | { fd: number };
  /** Exit after this long with no connection; 0 never. */
  exitIdleMs: number;
  maxConnections: number;
}

/** A long-lived server for the listener modes, logging with pino (worth it here). */
export function serve(options: ServeOptions): Promise<number> {
  const log = createLogger('surveillance-receiver', options.level, options.env, options.formatter);
  return new Promise((resolve, reject) => {
    let active = 0;
    let idleTimer: NodeJS.Timeout | undefined;
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      active++;
      clearTimeout(idleTimer);
      socket.once('close', () => {
        active--;
        armIdle();
      });
      void handleConnection(socket, options.connection(log, socket.remoteAddress ?? 'unknown')).then((result) => {
        // A bug (logged with its stack, answered `internal`) ends the listener: systemd sees
        // status 70 and restarts it, rather than a process going on in a state nobody planned.
        if (result.bug !== undefined && !stopping) {
          status = EXIT.software;
          stop('internal error');
        }
      });
    });
    server.maxConnections = options.maxConnections;
    let stopping = false;
    let status: number = EXIT.ok;
    const stop = (why: string) => {
      stopping = true;
      log.info(`${why}: no new connections; finishing ${active} open`);
      server.close(() => resolve(status));
    };
    const armIdle = () => {
      if (options.exitIdleMs > 0 && active === 0) {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => stop(`idle for ${options.exitIdleMs / 1000}s`), options.exitIdleMs);
      }
    };
    let listening = false;
    server.on('error', (e: NodeJS.ErrnoException) => {
      // Before listening it is the address (in use, not ours); after, a failed accept (EMFILE):
      // logged, and the server goes on with the connections it has.
      if (listening) log.error({ code: e.code }, `accept failed: ${e.message}`);
      else reject(listenError(options.target, e));
    });
    server.listen(options.target, () => {
      listening = true;
      const address = server.address();
      log.info({ address: typeof address === 'string' ? address : address ? `${address.address}:${address.port}` : 'fd 3' }, 'listening');
      armIdle();
    });
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
