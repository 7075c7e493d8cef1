import { closeSync, existsSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKeyLine, usage, type CameraKey } from '@surveillance/shared';

/**
 * The camera's key line (surveillance-receiver camera add), which makes the link TLS-PSK:
 * --key FILE (SURVEILLANCE_KEY), else under systemd the credential camera-key
 * (LoadCredential=camera-key:/etc/surveillance/camera.key). Without one the sender talks
 * plaintext, to an open receiver. A key file anyone else can read is refused: it is the
 * camera's whole identity.
 */
export function loadCameraKey(file: string | undefined, env: NodeJS.ProcessEnv): CameraKey | undefined {
  const credential = env.CREDENTIALS_DIRECTORY ? join(env.CREDENTIALS_DIRECTORY, 'camera-key') : undefined;
  const path = file ?? (credential && existsSync(credential) ? credential : undefined);
  if (path === undefined) return undefined;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw usage(`key file ${path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) throw usage(`key file ${path} is open to other users (mode ${mode.toString(8).padStart(3, '0')}); it must be readable by the sender's user only: chmod 600 ${path}`);
    return parseKeyLine(readFileSync(fd, 'utf8'), path);
  } finally {
    closeSync(fd);
  }
}

/** The camera name with a key: the key's, and a --camera that says otherwise is a mistake. */
export function cameraOfKey(key: CameraKey | undefined, camera: string | undefined): string | undefined {
  if (!key) return camera;
  if (camera !== undefined && camera !== key.camera) {
    throw usage(`--camera ${camera}, but the key is camera ${key.camera}'s: a paired camera stores under the name of its key (drop --camera, or pair ${camera})`);
  }
  return key.camera;
}
