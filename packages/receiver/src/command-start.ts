import { formatHelp, loadOptions, SurveillanceError, writeStdout, type Spec, type Values } from '@surveillance/shared';
import { openStore, type storeSpec } from './store/store-options.ts';
import type { FrameIndex } from './store/store.ts';

/**
 * The start every command that reads the store shares (the review commands and the gallery):
 * options through the one funnel (so --store, SURVEILLANCE_STORE and the config file work as
 * for receiving), --help, no stray arguments, and a store that exists, opened for reading.
 */

export interface CommandStart<S extends Spec> {
  values: Values<S>;
  store: FrameIndex;
}

/** Parses options and opens the store; returns undefined when --help was printed. */
export async function startCommand<S extends Spec>(
  usage: string,
  spec: S,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<CommandStart<S> | undefined> {
  const { values, positionals } = loadOptions(spec, argv, env);
  const common = values as unknown as Values<typeof storeSpec>;
  if (common.help) {
    writeStdout(formatHelp(usage, spec));
    return undefined;
  }
  if (positionals.length > 0) throw new SurveillanceError('usage', `unexpected argument ${JSON.stringify(positionals[0])}; see --help`);
  return { values, store: await openStore(common, env, 'read') };
}
