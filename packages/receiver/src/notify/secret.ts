import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SurveillanceError } from '@surveillance/shared';

/**
 * A secret from a file the user names (--x-file), else from the systemd credential of that
 * name ($CREDENTIALS_DIRECTORY/NAME, LoadCredential=); never from argv, where every user sees it.
 * A trailing newline (echo > file) is not part of it.
 */
export function readSecret(credential: string, file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const dir = env.CREDENTIALS_DIRECTORY;
  // `LoadCredential=notify:/etc/surveillance/notify.d` (a folder) names each file notify_FILE.
  const path = file ?? (dir ? [join(dir, credential), join(dir, `notify_${credential}`)].find((p) => existsSync(p)) : undefined);
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && file === undefined) return undefined; // that credential is not set
    throw new SurveillanceError('not-found', `cannot read the ${credential} from ${path}: ${code ?? (e as Error).message}`, { cause: e });
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '' || /[\r\n]/.test(secret)) throw new SurveillanceError('usage', `${path} must hold the ${credential} on one line`);
  return secret;
}
