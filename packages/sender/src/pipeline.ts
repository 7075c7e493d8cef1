import { type Logger } from '@surveillance/shared';
import { createLogger } from '@surveillance/shared/log';
import { ChangeDetector, detectorOptions } from './change-detector.ts';
import { Delivery } from './delivery.ts';
import { FrameChooser } from './frame-chooser.ts';
import { resolveCamera } from './camera-name.ts';
import { required, type SenderValues } from './sender-command.ts';
import { resolveSpool, Spool } from './spool.ts';

/**
 * What `watch` and `once` share: picture -> change detector -> spool -> delivery. Everything is
 * checked before anything starts, so a mistyped option fails at once with a usage error.
 */
export interface Pipeline {
  file: string;
  log: Logger;
  spool: Spool;
  chooser: FrameChooser;
  delivery: Delivery;
}

export async function openPipeline(values: SenderValues, env: NodeJS.ProcessEnv): Promise<Pipeline> {
  const file = required(values.file, 'file', "the camera's picture to watch");
  const to = required(values.to, 'to', 'the receiver to deliver frames to');
  const camera = resolveCamera(values.camera);
  const spoolDir = resolveSpool(values.spool, env);
  const detection = detectorOptions(values);
  const log = createLogger('surveillance-sender', values['log-level'] as 'info', env);
  const spool = new Spool({ dir: spoolDir, maxBytes: values['spool-max-bytes'], maxFiles: values['spool-max-files'], log }).open();
  const detector = await ChangeDetector.create(detection);
  const chooser = await FrameChooser.create({ detector, spool, camera, heartbeatMs: values.heartbeat, log });
  const delivery = new Delivery({
    spool,
    to,
    log,
    timeoutMs: values.timeout,
    lingerMs: values.linger,
    retryMinMs: values['retry-min'],
    retryMaxMs: Math.max(values['retry-max'], values['retry-min']),
  });
  return { file, log, spool, chooser, delivery };
}
