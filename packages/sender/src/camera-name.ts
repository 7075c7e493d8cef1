import { hostname } from 'node:os';
import { checkCameraName, usage, type Spec } from '@surveillance/shared';

/** The name the frames are stored under: what `send`, `watch` and `once` all need. */
export const cameraSpec = {
  camera: { kind: 'string', description: 'camera name the frames are stored under', defaultText: 'the host name' },
} as const satisfies Spec;

/** --camera, else the host name, which must then be a valid camera name. */
export function resolveCamera(camera: string | undefined): string {
  const name = camera ?? hostname().split('.')[0] ?? '';
  const problem = checkCameraName(name);
  if (problem) throw usage(camera === undefined ? `the host name cannot serve as camera name (${problem}); pass --camera NAME` : `option camera: ${problem}`);
  return name;
}
