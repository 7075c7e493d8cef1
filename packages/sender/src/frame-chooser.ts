import type { Logger, Spec } from '@surveillance/shared';
import type { ChangeDetector } from './change-detector.ts';
import type { MonitorFrame } from './monitor-file.ts';
import type { Spool, SpooledFrame } from './spool.ts';

/**
 * Decides which camera frames are kept: the ones the change detector calls changed, and one
 * per heartbeat period while nothing changes, so that the receiver's side can tell a quiet
 * scene from a dead camera box. A kept frame is spooled at once and becomes the reference the
 * next frames are compared with (in the detector and as SPOOL/reference.jpg, which carries the
 * comparison over restarts and between `once` runs).
 */

export const chooserSpec = {
  heartbeat: { kind: 'duration', description: 'choose a frame at least this often while the camera writes, even when nothing changed; 0 never', default: 600_000 },
} as const satisfies Spec;

export interface FrameChooserOptions {
  detector: ChangeDetector;
  spool: Spool;
  camera: string;
  /** Keep a frame at least this often (capture time), changed or not; 0 never. */
  heartbeatMs: number;
  log: Logger;
}

export class FrameChooser {
  /** Capture time of the reference; undefined until there is one. */
  private referenceTime: Date | undefined;

  private constructor(private readonly options: FrameChooserOptions) {}

  /** Starts from the spool's reference frame, when an earlier run left one. */
  static async create(options: FrameChooserOptions): Promise<FrameChooser> {
    const chooser = new FrameChooser(options);
    const reference = options.spool.readReference();
    if (reference) {
      try {
        await options.detector.setReference(reference.jpeg);
        chooser.referenceTime = reference.time;
      } catch (e) {
        options.log.warn(`ignoring the reference frame in ${options.spool.dir}: ${(e as Error).message}`);
      }
    }
    return chooser;
  }

  /** Spools the frame when it is to be kept; resolves with the spooled frame, or undefined. */
  async consider(frame: MonitorFrame): Promise<SpooledFrame | undefined> {
    const { detector, spool, camera, heartbeatMs, log } = this.options;
    const decision = await detector.decide(frame.jpeg, frame.info);
    const heartbeat =
      !decision.changed &&
      heartbeatMs > 0 &&
      this.referenceTime !== undefined &&
      frame.time.getTime() - this.referenceTime.getTime() >= heartbeatMs;
    log.debug({ ...decision, heartbeat, captured: frame.time.toISOString() }, `decision: ${decision.reason}, score ${decision.changedShare.toFixed(4)}`);
    if (!decision.changed && !heartbeat) return undefined;

    const spooled = spool.add(frame.jpeg, { camera, time: frame.time });
    spool.setReference(spooled);
    this.referenceTime = frame.time;
    if (decision.reason !== 'first') await detector.setReference(frame.jpeg, frame.info);
    log.info(
      { id: spooled.id, reason: heartbeat ? 'heartbeat' : decision.reason, changedShare: decision.changedShare, bytes: spooled.bytes, backlog: spool.count },
      'frame spooled',
    );
    return spooled;
  }
}
