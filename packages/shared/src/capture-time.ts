/**
 * Which capture times a receiver believes. A frame's time names its day folder, decides which
 * frame is a camera's latest and when it is pruned, so a time from a wrong clock does lasting
 * harm: a frame dated 9999 stays the latest for ever and is never pruned, and 20,000 distinct
 * dates make 20,000 day folders (and as many inotify watches in the gallery).
 *
 * The window is set around the receiver's own clock: a little ahead, for cameras whose clocks
 * run a few minutes fast; far back, for a sender whose spool held frames through a long outage
 * (docs/protocol.md, "Capture times"). Before 1970 is never believed, whatever the window:
 * years 0-99 are where Date.UTC and new Date(y, ...) silently read 1900-1999.
 */

export interface CaptureWindow {
  /** How far a capture time may be ahead of the receiver's clock. */
  maxAheadMs: number;
  /** How far a capture time may be behind the receiver's clock. */
  maxAgeMs: number;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export const DEFAULT_CAPTURE_WINDOW: CaptureWindow = { maxAheadMs: 10 * MINUTE, maxAgeMs: 400 * DAY };

/** `10 min`, `400 days`, `36 h`: for messages only. */
function span(ms: number): string {
  if (ms >= 2 * DAY) return `${Math.floor(ms / DAY)} days`;
  if (ms >= 2 * 60 * MINUTE) return `${Math.floor(ms / (60 * MINUTE))} h`;
  if (ms >= 2 * MINUTE) return `${Math.floor(ms / MINUTE)} min`;
  return `${Math.floor(ms / 1000)} s`;
}

/** Why `time` is not believed at `now`, or undefined when it is. */
export function checkCaptureTime(time: Date, now: Date, window: CaptureWindow = DEFAULT_CAPTURE_WINDOW): string | undefined {
  const t = time.getTime();
  const clock = now.getTime();
  if (t >= 0 && t <= clock + window.maxAheadMs && t >= clock - window.maxAgeMs) return undefined;
  // The message only for a refusal: toISOString twice per frame was a measurable part of a
  // listener's CPU per frame (callgrind, scripts/bench/10-receiver.mjs).
  const at = `capture time ${time.toISOString()}`;
  const ours = `the receiver's clock (${now.toISOString()})`;
  if (t < 0) return `${at} is before 1970`;
  if (t > clock + window.maxAheadMs) {
    return `${at} is ${span(t - clock)} ahead of ${ours}; more than ${span(window.maxAheadMs)} (--max-clock-skew) is refused`;
  }
  return `${at} is ${span(clock - t)} behind ${ours}; more than ${span(window.maxAgeMs)} (--max-frame-age) is refused`;
}
