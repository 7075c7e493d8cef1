import { pino } from 'pino';
import { writeLogLine, type Logger, type LogLevel } from './log-line.ts';

/**
 * pino, for long-running processes (the sender, the listener modes, the gallery): JSON lines to
 * stderr, synchronously, never stdout (under socket activation stdout is the client's socket).
 * Under the journal (JOURNAL_STREAM set) each line starts with its syslog priority so that
 * `journalctl -p warning` and the journal's colours show the right severity.
 */
export function createLogger(name: string, level: LogLevel, env: NodeJS.ProcessEnv = process.env): Logger {
  const destination = {
    write(line: string): void {
      writeLogLine(line, Number(/^\{"level":(\d+)/.exec(line)?.[1] ?? 30), env);
    },
  };
  return pino({ name, level, base: { pid: process.pid } }, destination);
}
