import { SurveillanceError } from './errors.ts';
import { envName } from './options.ts';

/**
 * The folder a daemon keeps its data in: the option's value, else the first folder of
 * systemd's StateDirectory= ($STATE_DIRECTORY holds them separated by ':'). `option` is the
 * option's name (store, spool), which the error names with its environment variable.
 */
export function resolveStateFolder(value: string | undefined, option: string, env: NodeJS.ProcessEnv): string {
  const dir = value ?? env.STATE_DIRECTORY?.split(':')[0];
  if (!dir) throw new SurveillanceError('usage', `no ${option} folder: pass --${option} DIR or set ${envName(option)}`);
  return dir;
}
