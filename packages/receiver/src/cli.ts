import { runMain, SurveillanceError, unknownCommand } from '@surveillance/shared';
import { runCommand, type Command } from './command-run.ts';
import { REVIEW_COMMANDS } from './review-commands.ts';

const { migrate, ...review } = REVIEW_COMMANDS;
/**
 * Sub-commands, each loaded only when asked for: the per-connection path (receive) must not
 * pay for the review side's imports. Receiving is the default, so that systemd units and the
 * tutorial's `ExecStart=` need no sub-command. (The bin hands the review commands to their own
 * bundle, review-entry.ts; they are here too for `help` and for anything importing this CLI.
 * migrate stays last, where `help` has always listed it.)
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  receive: () => import('./receive/receive.ts'),
  ...review,
  serve: () => import('./gallery/serve.ts'),
  camera: () => import('./keys/camera-command.ts'),
  notify: () => import('./notify/notify-command.ts'),
  migrate: migrate!,
};

const argv = process.argv.slice(2);
const named = argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : undefined;

await runMain('surveillance-receiver', async () => {
  if (named === 'help') {
    process.stdout.write(`Usage: surveillance-receiver COMMAND [options]\n\nCommands: ${Object.keys(COMMANDS).join(', ')}\nEach command takes --help.\n`);
    return 0;
  }
  const load = named ? COMMANDS[named] : COMMANDS.receive;
  if (!load) throw new SurveillanceError('usage', unknownCommand(named!, Object.keys(COMMANDS)));
  return runCommand(load, named ? argv.slice(1) : argv);
});
