import { createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { EXIT, listenError, type LineFormatter, type Logger, type LogLevel } from '@surveillance/shared';
import { createLogger } from '@surveillance/shared/log';
import { Connection, type ConnectionOptions } from './connection.ts';

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
  /**
   * With keys: the TLS handshake each connection must pass first; it resolves to the socket
   * to read frames from and the camera proved, or undefined when the connection was refused.
   */
  secure?: (socket: Socket, log: Logger, peer: string) => Promise<{ socket: Duplex; camera: string } | undefined>;
  /** Has keys: a listener without them on an address other machines reach is warned about. */
  keyed?: boolean;
  target: { host: string; port: number } | { fd: number };
  /** Exit after this long with no connection; 0 never. */
  exitIdleMs: number;
  maxConnections: number;
  /** Connections served at once from one address (as MaxConnectionsPerSource= in the socket unit). */
  maxConnectionsPerSource: number;
  /** On a stop request, how long the frames in hand may take (--frame-timeout). */
  stopTimeoutMs: number;
  /** The store's housekeeping (FrameSink.tidy), run every TIDY_MS while the process lives. */
  tidy?: () => void;
}

// The store's files in this mode (FileStore.manyWriters): loaded with the listener, so that the
// per-connection bundle, which never needs them, does not carry them.
export { AsyncDurableFile } from '@surveillance/shared';

/** Refused connections are logged at most this often, with their count. */
const REFUSAL_LOG_MS = 10_000;

/**
 * How often a long-lived receiver tidies its store: a per-connection process tidies at each
 * start, but a listener may run for months, and would keep a crashed receiver's .part files
 * (or a removed .incoming/) until its next start.
 */
const TIDY_MS = 5 * 60_000;

/** A long-lived server for the listener modes, logging with pino (worth it here). */
export function serve(options: ServeOptions): Promise<number> {
  const log = createLogger('surveillance-receiver', options.level, options.env, options.formatter);
  return new Promise((resolve, reject) => {
    let active = 0;
    let idleTimer: NodeJS.Timeout | undefined;
    const open = new Set<Connection>();
    const perSource = new Map<string, number>();
    // Refusals are counted and logged once per REFUSAL_LOG_MS: a flood must not flood the log.
    let refused = 0;
    let refusalTimer: NodeJS.Timeout | undefined;
    const tidyTimer = setInterval(() => {
      try {
        options.tidy?.();
      } catch (e) {
        // The next frame meets the same problem and answers it with store-failed; logged here too.
        log.warn({ err: (e as Error).message }, `store housekeeping failed: ${(e as Error).message}`);
      }
    }, TIDY_MS);
    tidyTimer.unref();
    const refuse = (peer: string, why: string) => {
      refused++;
      if (refusalTimer) return;
      log.warn({ peer, refused }, `refused connection from ${peer}: ${why}`);
      refused = 0;
      refusalTimer = setTimeout(() => {
        refusalTimer = undefined;
        if (refused > 0) log.warn({ refused }, `refused ${refused} more connection(s) in the last ${REFUSAL_LOG_MS / 1000}s`);
        refused = 0;
      }, REFUSAL_LOG_MS);
      refusalTimer.unref();
    };
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      const peer = socket.remoteAddress ?? 'unknown';
      const mine = perSource.get(peer) ?? 0;
      if (stopping || mine >= options.maxConnectionsPerSource) {
        socket.destroy();
        return refuse(peer, stopping ? 'stopping' : `${mine} open from this address (--max-connections-per-source)`);
      }
      perSource.set(peer, mine + 1);
      active++;
      clearTimeout(idleTimer);
      let connection: Connection | undefined;
      socket.once('close', () => {
        active--;
        if (connection) open.delete(connection);
        const left = (perSource.get(peer) ?? 1) - 1;
        if (left > 0) perSource.set(peer, left);
        else perSource.delete(peer);
        if (stopping && active === 0) done();
        armIdle();
      });
      const begin = (stream: Duplex, camera?: string) => {
        // Long-lived: the scanner's FF search by Buffer.indexOf, optimized here, not by a copy.
        connection = new Connection(stream, { ...options.connection(log, peer), camera, ffSearch: 'buffer' });
        open.add(connection);
        void connection.done.then((result) => {
          // A bug (logged with its stack, answered `internal`) ends the listener: systemd sees
          // status 70 and restarts it, rather than a process going on in a state nobody planned.
          if (result.bug !== undefined && !stopping) {
            status = EXIT.software;
            stop('internal error');
          }
        });
      };
      if (!options.secure) return begin(socket);
      // A refused handshake has been answered and logged (rate-limited) by the link itself.
      void options.secure(socket, log, peer).then((link) => {
        if (!link) return;
        if (stopping) link.socket.destroy();
        else begin(link.socket, link.camera);
      });
    });
    server.maxConnections = options.maxConnections;
    server.on('drop', (data) => refuse(data?.remoteAddress ?? 'unknown', `${options.maxConnections} connections open (--max-connections)`));
    let stopping = false;
    let status: number = EXIT.ok;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      clearTimeout(idleTimer);
      clearTimeout(refusalTimer);
      clearInterval(tidyTimer);
      server.close(() => resolve(status));
    };
    /**
     * Stops: no new connections; each open one finishes the frame in hand and closes. A peer
     * that keeps sending cannot keep the process alive: after --frame-timeout the rest is cut.
     */
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      clearTimeout(idleTimer);
      log.info(`${why}: no new connections; finishing ${active} open`);
      server.close();
      for (const c of open) c.stop();
      if (active === 0) return done();
      setTimeout(() => {
        log.warn(`${active} connection(s) still open after ${options.stopTimeoutMs / 1000}s (--frame-timeout): closing them`);
        done();
        process.exit(status);
      }, options.stopTimeoutMs).unref();
    };
    const signalled = (signal: string) => {
      if (!stopping) return stop(signal);
      // A second signal: the user does not want to wait.
      log.warn(`${signal} again: exiting now, ${active} connection(s) cut`);
      process.exit(EXIT.failure);
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
      const host = address && typeof address !== 'string' ? address.address : undefined;
      const loopback = host !== undefined && (host.startsWith('127.') || host === '::1' || host === '::ffff:127.0.0.1');
      if (!options.keyed && !loopback) {
        log.warn({ keys: false }, 'no camera keys: anyone who can connect may store frames, in plaintext; pair cameras (surveillance-receiver camera add) or listen on 127.0.0.1');
      } else if (options.keyed) {
        log.info({ keys: true }, 'paired cameras only, over TLS');
      }
      armIdle();
    });
    process.on('SIGTERM', () => signalled('SIGTERM'));
    process.on('SIGINT', () => signalled('SIGINT'));
  });
}
