import { EXIT, isSurveillanceError } from '@surveillance/shared';
import { readCompleteFrame } from './monitor-file.ts';
import { openPipeline } from './pipeline.ts';
import { loadCommand } from './sender-command.ts';

const HELP = `Usage: surveillance-sender once --file PATH --to HOST:PORT --spool DIR [--camera NAME] [options]\n\n--spool may be left out only under systemd, whose StateDirectory= sets $STATE_DIRECTORY.

Looks at the picture once: when it differs from the last frame kept (SPOOL/reference.jpg), or
a heartbeat is due, spools it. Then delivers everything spooled and exits, for a systemd timer.
A missing picture (the camera unplugged, capture not started yet) is a warning, logged on the
first run that finds it missing and not again until it is back: the backlog goes out all the
same. Exit status: 0 when the spool is empty at the end; when the receiver could not take
everything, the status of the error (69 unreachable, 75 store-full, ...), and the frames stay
spooled for the next run. A picture that is never a whole JPEG is an error (65).`;

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const loaded = loadCommand('once', argv, env, HELP);
  if (!loaded) return 0;
  const { values } = loaded;
  const { file, log, spool, chooser, delivery } = await openPipeline(values, env);
  let pictureError: unknown;
  try {
    await chooser.consider(await readCompleteFrame(file));
    if (spool.noteTrouble('picture-missing', false)) log.info({ file }, `${file} is back`);
  } catch (e) {
    // The backlog still goes out: a camera problem is no reason to hold earlier frames back.
    if (!isSurveillanceError(e, 'not-found')) {
      pictureError = e;
    } else if (!spool.noteTrouble('picture-missing', true)) {
      log.warn({ file, code: e.code }, `${e.message}: no picture to look at (is the camera plugged in and capture running?); spooled frames are delivered all the same, and this is not said again until the picture is back`);
    } else {
      log.debug({ file, code: e.code }, `${e.message}: still no picture`);
    }
  }
  const failure = await delivery.drain();
  if (failure) {
    log.warn({ code: failure.code, backlog: spool.count }, `${failure.message}; ${spool.count} frame(s) stay spooled for the next run`);
  }
  if (pictureError) throw pictureError;
  if (failure) throw failure;
  return EXIT.ok;
}
