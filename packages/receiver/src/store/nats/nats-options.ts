import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SurveillanceError, type Spec, type Values } from '@surveillance/shared';
import { parseNatsAddress, type NatsAddress } from './nats-address.ts';

/**
 * Options of a NATS store (`--store nats://...`), for every command that opens a store.
 * Secrets are read from files only: the creds file or the password file named here, or the
 * systemd credentials `nats.creds` / `nats-password` in $CREDENTIALS_DIRECTORY
 * (LoadCredential=), so that they never appear in argv or the environment.
 */
export const natsSpec = {
  'nats-creds': { kind: 'path', description: 'NATS: creds file (JWT + NKey seed); default: the systemd credential nats.creds' },
  'nats-password-file': { kind: 'path', description: 'NATS: file holding the password of the user in the address; default: the systemd credential nats-password' },
  'nats-ca': { kind: 'path', description: 'NATS: CA certificates (PEM) to verify the servers with; implies TLS' },
  'nats-replicas': { kind: 'int', description: 'NATS: copies JetStream keeps of each frame (1 single node, 3 in a cluster); a frame is OK only once they have it', default: 1, min: 1, max: 5 },
  'nats-max-bytes': { kind: 'size', description: 'NATS: cap on the frames bucket; when reached, frames are refused (store-full) until pruned' },
  'nats-timeout': { kind: 'duration', description: 'NATS: give up on a request to the cluster after this long (store-failed)', default: 10_000, min: 100 },
} as const satisfies Spec;

export interface NatsSettings {
  address: NatsAddress;
  password?: string;
  /** Contents of a creds file. */
  creds?: Uint8Array;
  /** PEM text of the CA file. */
  ca?: string;
  replicas: number;
  maxBytes?: number;
  timeoutMs: number;
}

function readSecret(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new SurveillanceError('usage', `${what} ${path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The file named by an option, else the systemd credential of that name when it exists. */
function secretPath(option: string | undefined, credential: string, env: NodeJS.ProcessEnv): string | undefined {
  if (option) return option;
  const dir = env.CREDENTIALS_DIRECTORY;
  const path = dir ? join(dir, credential) : undefined;
  return path && existsSync(path) ? path : undefined;
}

export function natsSettings(store: string, values: Values<typeof natsSpec>, env: NodeJS.ProcessEnv): NatsSettings {
  const address = parseNatsAddress(store);
  const credsPath = secretPath(values['nats-creds'], 'nats.creds', env);
  const passwordPath = secretPath(values['nats-password-file'], 'nats-password', env);
  let password: string | undefined;
  if (address.user !== undefined) {
    if (!passwordPath) throw new SurveillanceError('usage', `store ${address.location}: user ${address.user} needs a password: --nats-password-file FILE, or the systemd credential nats-password`);
    password = readSecret(passwordPath, 'NATS password file').toString('utf8').replace(/\r?\n$/, '');
    if (password === '') throw new SurveillanceError('usage', `NATS password file ${passwordPath} is empty`);
  } else if (values['nats-password-file']) {
    throw new SurveillanceError('usage', `--nats-password-file needs a user in the store address: nats://USER@HOST:PORT/BUCKET`);
  }
  return {
    address,
    password,
    creds: credsPath ? readSecret(credsPath, 'NATS creds file') : undefined,
    ca: values['nats-ca'] ? readSecret(values['nats-ca'], 'NATS CA file').toString('utf8') : undefined,
    replicas: values['nats-replicas'],
    maxBytes: values['nats-max-bytes'],
    timeoutMs: values['nats-timeout'],
  };
}
