import { runMain, SurveillanceError, unknownCommand } from '@surveillance/shared';

type Command = { run(argv: string[]): Promise<number | void> };

/**
 * Sub-commands, each loaded only when asked for: the per-connection path (receive) must not
 * pay for the review side's imports. Receiving is the default, so that systemd units and the
 * tutorial's `ExecStart=` need no sub-command.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  receive: () => import('./receive/receive.ts'),
  list: () => import('./review/list.ts'),
  stats: () => import('./review/stats.ts'),
  show: () => import('./review/show.ts'),
  open: () => import('./review/open.ts'),
  events: () => import('./review/events.ts'),
  export: () => import('./review/export.ts'),
  prune: () => import('./review/prune.ts'),
  serve: () => import('./gallery/serve.ts'),
  camera: () => import('./keys/camera-command.ts'),
  notify: () => import('./notify/notify-command.ts'),
  migrate: () => import('./review/migrate.ts'),
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
  const command = await load();
  try {
    return await command.run(named ? argv.slice(1) : argv);
  } finally {
    const { closeStores } = await import('./store/store-options.ts');
    await closeStores();
  }
});
