/**
 * Log lines for a person at a terminal: local time, level, message, then the fields as
 * key=value, in colour when the terminal takes it. The records are the JSON ones (log-line.ts,
 * pino); this only changes how they are written. Loaded only when pretty output was chosen, so
 * the per-connection receiver, whose stderr is never a terminal, does not pay for it.
 */

const LEVELS: Record<number, { label: string; colour: number }> = {
  10: { label: 'TRACE', colour: 90 },
  20: { label: 'DEBUG', colour: 36 },
  30: { label: 'INFO', colour: 32 },
  40: { label: 'WARN', colour: 33 },
  50: { label: 'ERROR', colour: 31 },
  60: { label: 'FATAL', colour: 35 },
};

/** Fields every record has; the time, level and message are shown in their own places. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'name', 'hostname', 'v']);

const two = (n: number) => String(n).padStart(2, '0');

/** HH:MM:SS.mmm in this machine's time zone. */
export function localClock(epochMs: number): string {
  const d = new Date(epochMs);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** A value as the shell would need it: bare when it has no space, quote or `=`, else JSON. */
function formatValue(value: unknown): string {
  if (typeof value === 'string') return value !== '' && !/[\s"'=\\]/.test(value) ? value : JSON.stringify(value);
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function formatPretty(record: Record<string, unknown>, colour: boolean): string {
  const paint = (code: number, text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
  const level = LEVELS[Number(record.level)] ?? { label: `L${String(record.level)}`, colour: 0 };
  const time = typeof record.time === 'number' ? localClock(record.time) : '--:--:--.---';
  let line = `${paint(2, time)} ${paint(level.colour, level.label.padEnd(5))} ${String(record.msg ?? '')}`;
  let stack = '';
  for (const [key, value] of Object.entries(record)) {
    if (HIDDEN.has(key) || value === undefined) continue;
    // pino's error serializer: the message in the line, the stack (a bug's) below it.
    const error = value !== null && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string' ? (value as { message: string; stack?: unknown }) : undefined;
    line += ` ${paint(2, `${key}=`)}${formatValue(error ? error.message : value)}`;
    if (error && typeof error.stack === 'string') stack += `\n    ${error.stack.split('\n').slice(1).map((l) => l.trim()).join('\n    ')}`;
  }
  return `${line}${stack}\n`;
}

/** Colour unless NO_COLOR is set (https://no-color.org) or the terminal is dumb. */
export function wantsColour(env: NodeJS.ProcessEnv, isTerminal: boolean): boolean {
  return isTerminal && !env.NO_COLOR && env.TERM !== 'dumb';
}
