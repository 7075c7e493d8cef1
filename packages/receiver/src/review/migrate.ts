import { formatBytes, formatHelp, loadOptions, SurveillanceError, type Spec } from '@surveillance/shared';
import { migrate } from '../store/migrate.ts';
import { openStore, storeSpec } from '../store/store-options.ts';
import { out } from './review-command.ts';
import { ProgressBar } from './progress-bar.ts';

const HELP = `Usage: surveillance-receiver migrate --from STORE --to STORE

Copies every frame of one store into another: a folder, or a NATS JetStream store
(nats://[USER@]HOST:PORT[,HOST:PORT...]/BUCKET), either way round. Frame names stay the same,
so gallery links and scripts keep working, and each frame keeps its reason and score, so
events stay the same. Run it again at any time: frames the target already has are answered
DUP by it and not copied twice, so an interrupted copy is simply resumed.
Receivers may keep writing to either store meanwhile. The --nats-* options apply to whichever
store is a NATS one; --to is created when missing. Prints a progress bar on a terminal and a
summary line at the end.`;

export const migrateSpec = {
  ...storeSpec,
  from: { kind: 'path', description: 'the store to copy from (a folder or nats://...)' },
  to: { kind: 'path', description: 'the store to copy into (a folder or nats://...)' },
} as const satisfies Spec;

export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = loadOptions(migrateSpec, argv, env);
  if (values.help) {
    out(formatHelp(HELP, migrateSpec));
    return 0;
  }
  if (positionals.length > 0) throw new SurveillanceError('usage', `unexpected argument ${JSON.stringify(positionals[0])}; see --help`);
  if (!values.from || !values.to) throw new SurveillanceError('usage', 'migrate needs --from STORE and --to STORE; see --help');
  const from = await openStore({ ...values, store: values.from }, env, 'read');
  // No reserve on the target: a full one refuses the frame (store-full) and the copy stops there.
  const to = await openStore({ ...values, store: values.to, 'min-free': 0 }, env, 'write');
  if (from.location === to.location) throw new SurveillanceError('usage', `--from and --to are the same store (${from.location})`);
  let bar: ProgressBar | undefined;
  const result = await migrate(from, to, {
    start: (total) => (bar = new ProgressBar(`migrate to ${to.location}`, total)),
    tick: () => bar?.tick(),
  });
  bar?.finish();
  out(`${result.copied} frames copied (${formatBytes(result.bytes)}), ${result.duplicates} already in ${to.location}${result.vanished ? `, ${result.vanished} removed from ${from.location} while copying` : ''}\n`);
  return 0;
}
