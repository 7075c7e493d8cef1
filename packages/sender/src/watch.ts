import { formatHostPort, stopSignal, usage } from '@surveillance/shared';
import { FrameWatcher, type WatchMode } from './frame-watcher.ts';
import { openPipeline } from './pipeline.ts';
import { loadCommand } from './sender-command.ts';

/** After an orderly stop, how long the process may take to end by itself. */
const STOP_GRACE_MS = 2000;

const HELP = `Usage: surveillance-sender watch --file PATH --to HOST:PORT --spool DIR [--camera NAME] [options]\n\n--spool may be left out only under systemd, whose StateDirectory= sets $STATE_DIRECTORY.

Runs until stopped (SIGTERM, SIGINT). Every new version of the picture is compared with the
last frame kept; a frame that changed (or is due as a heartbeat) is written to the spool first,
then delivered. Frames wait in the spool while the receiver is unreachable and go out oldest
first when it is back. Log lines (JSON) go to stderr.`;

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const loaded = loadCommand('watch', argv, env, HELP);
  if (!loaded) return 0;
  const { values } = loaded;
  if (values['timer-only'] && values.poll) throw usage('options timer-only and poll exclude each other: --timer-only uses no file watcher at all');
  const mode: WatchMode = values['timer-only'] ? 'timer' : values.poll ? 'polling' : 'events';
  const { file, log, spool, chooser, delivery } = await openPipeline(values, env);

  // A bug anywhere (delivery, detection, spooling) stops everything: logged with its stack,
  // then the process ends with status 70. Operational errors are retried where they happen.
  let bug!: (e: unknown) => void;
  const failed = new Promise<never>((_, reject) => (bug = reject));
  delivery.start().catch(bug);
  const watcher = new FrameWatcher(
    {
      file,
      mode,
      intervalMs: values.interval,
      minGapMs: values['min-gap'] ?? values.interval,
      pollIntervalMs: values['poll-interval'],
      staleAfterMs: values['stale-after'],
      log,
      onBug: bug,
    },
    async (frame) => {
      const spooled = await chooser.consider(frame);
      if (spooled) delivery.wake();
      return spooled !== undefined;
    },
  );
  await watcher.start();
  log.info({ file, to: formatHostPort(values.to!), spool: spool.dir, mode, backlog: spool.count }, 'watching');

  // Ends the process after the stop, should a file watch still keep the event loop alive
  // (chokidar can miss one it was setting up at the moment of closing).
  const endSoon = () => setTimeout(() => process.exit(), STOP_GRACE_MS).unref();
  let signal: NodeJS.Signals;
  try {
    signal = await Promise.race([stopSignal(), failed]);
  } catch (e) {
    log.fatal({ err: e }, `internal error (a bug), stopping: ${(e as Error)?.message ?? String(e)}`);
    endSoon();
    await watcher.stop();
    await delivery.stop().catch(() => undefined);
    throw e;
  }
  log.info({ backlog: spool.count }, `${signal}: stopping; a frame on its way gets its answer first, undelivered frames stay spooled`);
  await watcher.stop();
  await delivery.stop();
  endSoon(); // everything is closed and the spool is consistent
  return 0;
}
