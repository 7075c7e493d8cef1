import { ignoreClosedStdout, runMain, SurveillanceError, unknownCommand } from '@surveillance/shared';

type Command = { run(argv: string[]): Promise<number | void> };

/** Sub-commands, each loaded only when asked for: `send` and `status` never load the detector's sharp. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  watch: () => import('./watch.ts'),
  once: () => import('./once.ts'),
  send: () => import('./send.ts'),
  status: () => import('./status.ts'),
};

const HELP = `Usage: surveillance-sender COMMAND [options]

Watches a webcam's picture, keeps the frames that changed and delivers them to a
surveillance-receiver, keeping them in a spool folder until the receiver has them.

Commands:
  watch --file PATH --to HOST:PORT --spool DIR --camera NAME
                      run as a daemon: watch the picture, spool and deliver changed frames
  once  (same options) check the picture once against the last frame kept, spool and
                      deliver it when it changed, deliver any backlog, exit (for a timer)
  send --to HOST:PORT FILE...
                      deliver JPEG files now; prints each file's outcome, exits non-zero
                      unless every file was acknowledged
  status --spool DIR [--to HOST:PORT]
                      backlog, last frame delivered, whether the receiver answers

Each command takes --help. Options also come from the environment (SURVEILLANCE_TO...) and
from a JSON config file (--config FILE or SURVEILLANCE_CONFIG), under the same names.
`;

const argv = process.argv.slice(2);
const named = argv[0];
ignoreClosedStdout();

await runMain('surveillance-sender', async () => {
  if (named === undefined || named === 'help' || named === '--help' || named === '-h') {
    if (named === undefined) throw new SurveillanceError('usage', `no command given; commands: ${Object.keys(COMMANDS).join(', ')} (see --help)`);
    process.stdout.write(HELP);
    return 0;
  }
  const load = COMMANDS[named];
  if (!load) throw new SurveillanceError('usage', unknownCommand(named!, Object.keys(COMMANDS)));
  const command = await load();
  return command.run(argv.slice(1));
});
