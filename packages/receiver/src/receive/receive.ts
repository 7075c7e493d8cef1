import { fstatSync, mkdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { isNatsAddress } from '../store/nats/nats-address.ts';
import { createLineLogger, EXIT, formatHelp, loadLineFormatter, loadOptions, resolveStateFolder, SurveillanceError, type LineFormatter, type Logger, type LogLevel, type Values } from '@surveillance/shared';
import { CameraKeys } from '../keys/camera-keys.ts';
import { acceptCameraLink, FailureGate } from '../keys/camera-link.ts';
import { CameraSeen } from '../keys/camera-seen.ts';
import { receiverKeyFolder } from '../keys/key-folder.ts';
import { openStore } from '../store/store-options.ts';
import type { Store } from '../store/store.ts';
import { handleConnection, type ConnectionOptions, type ConnectionSocket } from './connection.ts';
import { FdSocket } from './fd-socket.ts';
import { receiveSpec } from './receive-options.ts';

const HELP = `Usage: surveillance-receiver [receive] [options]

Stores the JPEG frames sent to it, one file per frame, and answers each with OK, DUP or ERR.
It takes its connection from wherever it is started:
  under systemd, Accept=yes   one process per connection, the connection on stdin
  under systemd, Accept=no    the listening socket as fd 3 (LISTEN_FDS); exits when idle
  --listen HOST:PORT          a plain server, for machines without systemd and development

With a key folder (--keys DIR, or under systemd the credential camera-keys), it takes frames
only over TLS-PSK from the cameras paired in it (surveillance-receiver camera add), each under
its own name; anything else is refused with auth. Without one it is open, in plaintext, as in
the tutorial.

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

let gate: FailureGate | undefined;
/** The listener's one refusal gate, made with its logger. */
function gates(log: Logger): FailureGate {
  return (gate ??= new FailureGate(log));
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number | void> {
  const { values, positionals } = loadOptions(receiveSpec, argv, env);
  if (values.help) {
    process.stdout.write(formatHelp(HELP, receiveSpec));
    return 0;
  }
  if (positionals.length > 0) throw new SurveillanceError('usage', `unexpected argument ${JSON.stringify(positionals[0])}; see --help`);
  const level = values['log-level'] as LogLevel;
  // One process per connection (Accept=yes) has the journal for stderr, never a terminal: auto
  // is JSON there without asking node:tty, which would load node:net (fd-socket.ts says why not).
  const perConnection = !values.listen && isConnectionOnStdin(env);
  const formatter = perConnection && values['log-format'] === 'auto' ? undefined : await loadLineFormatter(values['log-format'], env);
  const store = await openStore(values, env, 'write');
  try {
    return await receive(values, env, level, formatter, store);
  } finally {
    // A NATS store holds a connection open: the process would never exit with it.
    await store.close();
  }
}

async function receive(values: Values<typeof receiveSpec>, env: NodeJS.ProcessEnv, level: LogLevel, formatter: LineFormatter | undefined, store: Store): Promise<number | void> {
  const connection = (log: Logger, peer: string): ConnectionOptions => ({
    store,
    log,
    peer,
    maxFrameBytes: values['max-frame-bytes'],
    maxPixels: values['max-pixels'],
    captureWindow: { maxAheadMs: values['max-clock-skew'], maxAgeMs: values['max-frame-age'] },
    idleTimeoutMs: values['idle-timeout'],
    frameTimeoutMs: values['frame-timeout'],
  });

  // With a key folder every connection must pass a TLS-PSK handshake as a paired camera first
  // (docs/protocol.md, "TLS"). The folder is checked now: a folder open to other users, or
  // missing, stops the receiver here rather than at the first camera.
  const keysDir = receiverKeyFolder(values.keys, env);
  const keys = keysDir !== undefined ? CameraKeys.open(keysDir) : undefined;
  const stateRoot = receiverState(values.store, env);
  const secure = (gate: FailureGate) =>
    keys === undefined
      ? undefined
      : async (socket: Socket, log: Logger, peer: string) => {
          const link = await acceptCameraLink(socket, { keys, seen: new CameraSeen(stateRoot), log, peer, timeoutMs: values['idle-timeout'], gate });
          return link.ok ? { socket: link.socket, camera: link.camera } : undefined;
        };

  const fd = values.listen ? undefined : listenFd(env);
  if (values.listen && stdinIsSocket()) {
    throw new SurveillanceError('usage', 'stdin is already a connection (Accept=yes): --listen makes no sense here; remove it or the socket unit');
  }
  if (values.listen || fd !== undefined) {
    const { serve, AsyncDurableFile } = await import('./listener.ts');
    store.manyWriters?.(AsyncDurableFile);
    return serve({
      secure: keys === undefined ? undefined : (socket, log, peer) => secure(gates(log))!(socket, log, peer),
      keyed: keys !== undefined,
      level,
      formatter,
      env,
      connection,
      target: values.listen ?? { fd: fd! },
      exitIdleMs: fd !== undefined ? values['exit-idle'] : 0,
      maxConnections: values['max-connections'],
      maxConnectionsPerSource: values['max-connections-per-source'],
      stopTimeoutMs: values['frame-timeout'],
      tidy: () => store.tidy?.(),
    });
  }
  if (!stdinIsSocket()) {
    throw new SurveillanceError(
      'usage',
      'stdin is not a socket: run under systemd (surveillance.socket) or pass --listen HOST:PORT',
    );
  }
  // inetd style: fd 0 is the connection, and stdout is the same socket. systemd names the peer
  // (REMOTE_ADDR): a plaintext connection is then served from the fd itself (fd-socket.ts says
  // why). TLS, and a launcher that names no peer (getpeername), need a net.Socket.
  const log = createLineLogger('surveillance-receiver', level, env, formatter);
  let stream: ConnectionSocket;
  let peer: string;
  let camera: string | undefined;
  if (keys === undefined && env.REMOTE_ADDR) {
    stream = new FdSocket(0);
    peer = env.REMOTE_ADDR;
  } else {
    const { Socket } = process.getBuiltinModule('node:net');
    const socket = new Socket({ fd: 0, readable: true, writable: true, allowHalfOpen: true });
    stream = socket;
    peer = env.REMOTE_ADDR || socket.remoteAddress || 'unknown';
    if (keys !== undefined) {
      // One process per connection: the refusal count lives in a small file of the store.
      const link = await secure(new FailureGate(log, undefined, undefined, `${stateRoot}/.cameras/.refused`))!(socket, log, peer);
      if (!link) return 1;
      ({ socket: stream, camera } = link);
    }
  }
  const result = await handleConnection(stream, { ...connection(log, peer), camera });
  // A bug was logged with its stack and answered `internal`; the exit status tells systemd.
  if (result.bug !== undefined) return EXIT.software;
  return result.error ? 1 : 0;
}

/**
 * Where the receiver keeps its own notes (the key each camera last used, refusal counts): the
 * store folder, or for a NATS store systemd's StateDirectory= (else ~/.local/state/surveillance).
 */
function receiverState(store: string | undefined, env: NodeJS.ProcessEnv): string {
  if (store === undefined || !isNatsAddress(store)) return resolve(resolveStateFolder(store, 'store', env));
  const state = env.STATE_DIRECTORY?.split(':')[0] || join(env.XDG_STATE_HOME || join(env.HOME || process.getBuiltinModule('node:os').homedir(), '.local', 'state'), 'surveillance');
  mkdirSync(state, { recursive: true, mode: 0o700 });
  return state;
}
