import { writeSync } from 'node:fs';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** pino's numeric levels mapped to syslog priorities, for sd-daemon(3) "<N>" line prefixes. */
function syslogPriority(line: string): number {
  const level = Number(/^\{"level":(\d+)/.exec(line)?.[1] ?? 30);
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/**
 * A pino logger that writes to stderr, synchronously, one JSON line per event. Never stdout:
 * under socket activation stdout is the client's socket. When stderr is the journal
 * (JOURNAL_STREAM is set), each line starts with its syslog priority so that `journalctl -p`
 * and the colours in `journalctl` show the right severity.
 */
export function createLogger(name: string, level: LevelWithSilent, env: NodeJS.ProcessEnv = process.env): Logger {
  const journal = Boolean(env.JOURNAL_STREAM);
  const destination = {
    write(line: string): void {
      const text = journal ? `<${syslogPriority(line)}>${line}` : line;
      try {
        writeSync(2, text);
      } catch {
        // stderr gone (EPIPE): there is nowhere left to say anything.
      }
    },
  };
  return pino({ name, level, base: { pid: process.pid } }, destination);
}
