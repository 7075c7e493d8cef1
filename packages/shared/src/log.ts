import { pino } from 'pino';
import { writeLogLine, type LineFormatter, type Logger, type LogLevel } from './log-line.ts';

/**
 * pino, for long-running processes (the sender, the listener modes, the gallery): JSON lines to
 * stderr, synchronously, never stdout (under socket activation stdout is the client's socket).
 * Under the journal (JOURNAL_STREAM set) each line starts with its syslog priority so that
 * `journalctl -p warning` and the journal's colours show the right severity.
 *
 * With a formatter (--log-format pretty, log-line.ts loadLineFormatter) each JSON line is
 * parsed and written again for a person, in the same synchronous write: no pino-pretty, no
 * worker thread, and lines from before a crash are never lost in a transport's buffer.
 */
export function createLogger(name: string, level: LogLevel, env: NodeJS.ProcessEnv = process.env, formatter?: LineFormatter): Logger {
  const destination = {
    write(line: string): void {
      const n = Number(/^\{"level":(\d+)/.exec(line)?.[1] ?? 30);
      writeLogLine(formatter ? formatter(JSON.parse(line) as Record<string, unknown>) : line, n, env);
    },
  };
  return pino({ name, level, base: { pid: process.pid } }, destination);
}
