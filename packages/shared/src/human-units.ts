/**
 * Sizes and durations for people. Two kinds:
 * - formatBytes / formatDuration round, for output a person reads (3.4 MiB, 3h 20m);
 * - formatSizeOption / formatDurationOption are exact and in the option syntax (64KiB, 10ms),
 *   for messages and --help that name a value the user may type back. Parsing is in options.ts.
 */

/** A duration as a person says it: 45s, 12m, 3h 20m, 2d 4h. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  return h % 24 ? `${Math.floor(h / 24)}d ${h % 24}h` : `${Math.floor(h / 24)}d`;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes with a binary unit: 512 B, 3.4 MiB, 12.0 GiB. */
export function formatBytes(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < BINARY_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${BINARY_UNITS[i]}`;
}

/** Exact, in the largest binary unit that divides it: 1024 -> 1KiB, 65536 -> 64KiB, 1000 -> 1000. */
export function formatSizeOption(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (v !== 0 && v % 1024 === 0 && i < BINARY_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? String(bytes) : `${v}${BINARY_UNITS[i]}`;
}

const DURATION_STEPS: [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** Exact, in the largest unit that divides it: 10 -> 10ms, 1500 -> 1500ms, 600000 -> 10m. */
export function formatDurationOption(ms: number): string {
  if (ms !== 0) for (const [unit, size] of DURATION_STEPS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
