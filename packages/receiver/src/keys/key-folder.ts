import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where the keys are. The receiver itself reads `--keys DIR` (SURVEILLANCE_KEYS), else, under
 * systemd, $CREDENTIALS_DIRECTORY (LoadCredential=camera-keys:FOLDER puts every key file there);
 * with neither it has no keys and stays open (the tutorial, a first try on loopback).
 *
 * The `camera` commands, run by the admin, write the folder the credential is loaded from:
 * the install script's /etc/surveillance/camera-keys (or the per-user one) unless told.
 */
export function receiverKeyFolder(keys: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  return keys ?? (env.CREDENTIALS_DIRECTORY || undefined);
}

export function adminKeyFolder(keys: string | undefined, env: NodeJS.ProcessEnv): string {
  if (keys) return keys;
  if (process.getuid?.() === 0) return '/etc/surveillance/camera-keys';
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'surveillance', 'camera-keys');
}

/** The store the receiver installed by scripts/install-receiver-units.sh uses, for last-seen times. */
export function adminStore(store: string | undefined, env: NodeJS.ProcessEnv): string {
  if (store) return store;
  if (env.STATE_DIRECTORY) return env.STATE_DIRECTORY.split(':')[0]!;
  if (process.getuid?.() === 0) return '/var/lib/surveillance';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'surveillance');
}
