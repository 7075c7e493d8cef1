import { writeSync } from 'node:fs';
import type { Spec } from './options.ts';

/**
 * Logging for processes that live for one connection. pino is built for long-running,
 * high-volume processes; loading it costs about as much as starting Node itself (measured with
 * callgrind: +64% of the instructions of `node -e 0`), which a one-connection process pays for
 * a line or two. This writes the same lines pino writes (level number, time, pid, name, fields,
 * msg) synchronously to stderr, with the same journal priority prefix, so that both kinds of
 * process read the same in the journal and in tools. Long-running processes use pino (log.ts).
 */

type LogFn = {
  (fields: object, msg?: string): void;
  (msg: string): void;
};

/** The part of pino's Logger this project uses; pino's own loggers satisfy it. */
export interface Logger {
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The logging options of every command: one name, one meaning, everywhere. */
export const logSpec = {
  'log-level': { kind: 'string', description: `log level: ${LOG_LEVELS.join(', ')}`, default: 'info', choices: LOG_LEVELS },
  'log-format': {
    kind: 'string',
    description: 'log lines as json (for the journal and pipes) or pretty (local time, level, message, key=value; colour unless NO_COLOR); auto: pretty when stderr is a terminal',
    default: 'auto',
    choices: LOG_FORMATS,
  },
} as const satisfies Spec;

/** Turns a record into the line written; JSON when there is none. */
export type LineFormatter = (record: Record<string, unknown>) => string;

/** The formatter for `format`, or undefined for JSON. Pretty code is imported only when chosen. */
export async function loadLineFormatter(format: LogFormat | string, env: NodeJS.ProcessEnv): Promise<LineFormatter | undefined> {
  // node:tty only when asked: it loads node:net, a tenth of a Node start, which the
  // per-connection receiver (it asks for nothing: its stderr is the journal) must not pay.
  const terminal = process.getBuiltinModule('node:tty').isatty(2);
  if (format === 'json' || (format === 'auto' && !terminal)) return undefined;
  const { formatPretty, wantsColour } = await import('./log-pretty.ts');
  const colour = wantsColour(env, terminal);
  return (record) => formatPretty(record, colour);
}

const NUMBERS: Record<LogLevel, number> = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10, silent: Infinity };

/** pino's numeric levels as syslog priorities, for sd-daemon(3) "<N>" line prefixes. */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/** Writes one line to stderr; never stdout, which is the client's socket under systemd. */
export function writeLogLine(line: string, level: number, env: NodeJS.ProcessEnv): void {
  try {
    writeSync(2, env.JOURNAL_STREAM ? `<${syslogPriority(level)}>${line}` : line);
  } catch {
    // stderr gone (EPIPE): there is nowhere left to say anything.
  }
}

export function createLineLogger(name: string, level: LogLevel, env: NodeJS.ProcessEnv = process.env, formatter?: LineFormatter): Logger {
  const threshold = NUMBERS[level];
  const method = (n: number): LogFn =>
    ((fields: object | string, msg?: string) => {
      if (n < threshold) return;
      const record = typeof fields === 'string' ? { msg: fields } : { ...fields, msg };
      const full = { level: n, time: Date.now(), pid: process.pid, name, ...record };
      writeLogLine(formatter ? formatter(full) : `${JSON.stringify(full)}\n`, n, env);
    }) as LogFn;
  return {
    fatal: method(60),
    error: method(50),
    warn: method(40),
    info: method(30),
    debug: method(20),
    trace: method(10),
  };
}
