import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import { createLineLogger, EXIT, formatHelp, loadOptions, SurveillanceError, type Logger, type LogLevel, type Values } from '@surveillance/shared';
import { openStore } from '../store/store-options.ts';
import type { Store } from '../store/store.ts';
import { handleConnection, type ConnectionOptions } from './connection.ts';
import { receiveSpec } from './receive-options.ts';

const HELP = `Usage: surveillance-receiver [receive] [options]

Stores the JPEG frames sent to it, one file per frame, and answers each with OK, DUP or ERR.
It takes its connection from wherever it is started:
  under systemd, Accept=yes   one process per connection, the connection on stdin
  under systemd, Accept=no    the listening socket as fd 3 (LISTEN_FDS); exits when idle
  --listen HOST:PORT          a plain server, for machines without systemd and development

Review what was stored with the other commands: surveillance-receiver help`;

/** The socket systemd passed with Accept=no, if it was passed to us (sd_listen_fds(3)). */
function listenFd(env: NodeJS.ProcessEnv): number | undefined {
  if (env.LISTEN_PID !== String(process.pid) || !env.LISTEN_FDS) return undefined;
  if (Number(env.LISTEN_FDS) !== 1) {
    throw new SurveillanceError('usage', `systemd passed ${env.LISTEN_FDS} sockets; the receiver takes exactly one (one ListenStream= line)`);
  }
  return 3;
}

function stdinIsSocket(): boolean {
  try {
    return fstatSync(0).isSocket();
  } catch {
    return false;
  }
}

/** True when this process was started for one connection (Accept=yes): it is on stdin. */
export function isConnectionOnStdin(env: NodeJS.ProcessEnv): boolean {
  try {
    return stdinIsSocket() && listenFd(env) === undefined;
  } catch {
    return false;
  }
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number | void> {
  const { values, positionals } = loadOptions(receiveSpec, argv, env);
  if (values.help) {
    process.stdout.write(formatHelp(HELP, receiveSpec));
    return 0;
  }
  if (positionals.length > 0) throw new SurveillanceError('usage', `unexpected argument ${JSON.stringify(positionals[0])}; see --help`);
  const level = values['log-level'] as LogLevel;
  const store = await openStore(values, env, 'write');
  try {
    return await receive(values, env, level, store);
  } finally {
    // A NATS store holds a connection open: the process would never exit with it.
    await store.close();
  }
}

async function receive(values: Values<typeof receiveSpec>, env: NodeJS.ProcessEnv, level: LogLevel, store: Store): Promise<number | void> {
  const connection = (log: Logger, peer: string): ConnectionOptions => ({
    store,
    log,
    peer,
    maxFrameBytes: values['max-frame-bytes'],
    idleTimeoutMs: values['idle-timeout'],
    frameTimeoutMs: values['frame-timeout'],
  });

  const fd = values.listen ? undefined : listenFd(env);
  if (values.listen && stdinIsSocket()) {
    throw new SurveillanceError('usage', 'stdin is already a connection (Accept=yes): --listen makes no sense here; remove it or the socket unit');
  }
  if (values.listen || fd !== undefined) {
    const { serve } = await import('./listener.ts');
    return serve({
      level,
      env,
      connection,
      target: values.listen ?? { fd: fd! },
      exitIdleMs: fd !== undefined ? values['exit-idle'] : 0,
      maxConnections: values['max-connections'],
    });
  }
  if (!stdinIsSocket()) {
    throw new SurveillanceError(
      'usage',
      'stdin is not a socket: run under systemd (surveillance.socket) or pass --listen HOST:PORT',
    );
  }
  // inetd style: fd 0 is the connection, and stdout is the same socket. Wrap it once.
  const socket = new Socket({ fd: 0, readable: true, writable: true, allowHalfOpen: true });
  const log = createLineLogger('surveillance-receiver', level, env);
  const result = await handleConnection(socket, connection(log, env.REMOTE_ADDR ?? socket.remoteAddress ?? 'unknown'));
  // A bug was logged with its stack and answered `internal`; the exit status tells systemd.
  if (result.bug !== undefined) return EXIT.software;
  return result.error ? 1 : 0;
}
