import { FrameWatcher, type WatchMode } from './frame-watcher.ts';
import { openPipeline } from './pipeline.ts';
import { formatHostPort, loadCommand, usage } from './sender-options.ts';

/** After an orderly stop, how long the process may take to end by itself. */
const STOP_GRACE_MS = 2000;

const HELP = `Usage: surveillance-sender watch --file PATH --to HOST:PORT [--spool DIR] [--camera NAME] [options]

Runs until stopped (SIGTERM, SIGINT). Every new version of the picture is compared with the
last frame kept; a frame that changed (or is due as a heartbeat) is written to the spool first,
then delivered. Frames wait in the spool while the receiver is unreachable and go out oldest
first when it is back. Log lines (JSON) go to stderr.`;

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const loaded = loadCommand(argv, env, HELP);
  if (!loaded) return 0;
  const { values } = loaded;
  if (values['timer-only'] && values.poll) throw usage('options timer-only and poll exclude each other: --timer-only uses no file watcher at all');
  const mode: WatchMode = values['timer-only'] ? 'timer' : values.poll ? 'polling' : 'events';
  const { file, log, spool, chooser, delivery } = await openPipeline(values, env);

  delivery.start();
  const watcher = new FrameWatcher(
    {
      file,
      mode,
      intervalMs: values.interval,
      minGapMs: values['min-gap'] ?? values.interval,
      pollIntervalMs: values['poll-interval'],
      staleAfterMs: values['stale-after'],
      log,
    },
    async (frame) => {
      const spooled = await chooser.consider(frame);
      if (spooled) delivery.wake();
      return spooled !== undefined;
    },
  );
  await watcher.start();
  log.info({ file, to: formatHostPort(values.to!), spool: spool.dir, mode, backlog: spool.count }, 'watching');

  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ backlog: spool.count }, `${signal}: stopping; a frame on its way gets its answer first, undelivered frames stay spooled`);
  await watcher.stop();
  await delivery.stop();
  // Everything is closed and the spool is consistent. Should a file watch still keep the event
  // loop alive (chokidar can miss one it was setting up at the moment of closing), end anyway.
  setTimeout(() => process.exit(), STOP_GRACE_MS).unref();
  return 0;
}
