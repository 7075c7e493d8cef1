import type { Spec } from '@surveillance/shared';

/**
 * Which time `send` gives a file as its capture time. The modification time is the default: it
 * is when the camera wrote the picture, and sending a file again gives the same frame (DUP),
 * not a second copy. But a file from a fresh clone or a copy has the time it was checked out,
 * which sorts it among older frames: `now` stores it as captured when it is sent.
 */
export const captureTimeSpec = {
  time: {
    kind: 'string',
    description: 'the capture time of each file: its modification time (mtime) or the time of sending (now)',
    default: 'mtime',
    choices: ['mtime', 'now'],
  },
} as const satisfies Spec;

export type CaptureTime = 'mtime' | 'now';

/** What `send` adds to each OK or DUP line, so that nobody is surprised where a frame sorts. */
export function captureTimeNote(mode: CaptureTime): string {
  return mode === 'now' ? '(capture time: the time of sending)' : "(capture time: the file's modification time; --time now uses the time of sending)";
}
