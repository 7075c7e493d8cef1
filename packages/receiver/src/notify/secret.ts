import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SurveillanceError } from '@surveillance/shared';

/**
 * A secret from a file the user names (--x-file), else from the systemd credential of that
 * name ($CREDENTIALS_DIRECTORY/NAME, LoadCredential=); never from argv, where every user sees it.
 * A trailing newline (echo > file) is not part of it.
 */
export function readSecret(credential: string, file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const path = file ?? (env.CREDENTIALS_DIRECTORY ? join(env.CREDENTIALS_DIRECTORY, credential) : undefined);
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
