// The daemon's log: one line per message on stderr, as text
// ("<ISO time> <level> [<area>] <message>") or as one JSON object per line
// ({"time","level","area","msg"}, for journald and log shippers).
// Callers log events by their fields, never by dumping objects, so that keys and PSKs
// (which live inside config and SA objects) cannot reach the log by accident: the Logger
// takes an area and a message string, nothing else, in both formats.

export interface Logger {
  info(area: string, msg: string): void;
  warn(area: string, msg: string): void;
  error(area: string, msg: string): void;
  debug(area: string, msg: string): void;
}

/** The levels from the most verbose up; a logger at one level drops the ones before it. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The line of one message in either format. */
function formatLine(format: LogFormat, time: Date, level: LogLevel, area: string, msg: string): string {
  // JSON.stringify escapes newlines, so a message cannot forge a second object
  if (format === 'json') return JSON.stringify({ time: time.toISOString(), level, area, msg });
  // one line per message: a newline inside a message would forge a log line
  return `${time.toISOString()} ${level.padEnd(5)} [${area}] ${msg.replace(/[\r\n]+/g, ' ')}`;
}

/** A logger that writes to any sink (tests collect lines; the daemon writes to stderr). */
export function lineLogger(write: (line: string) => void, level: LogLevel = 'info', clock: () => Date = () => new Date(), format: LogFormat = 'text'): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const line = (l: LogLevel, area: string, msg: string): void => {
    if (LOG_LEVELS.indexOf(l) < min) return;
    write(formatLine(format, clock(), l, area, msg));
  };
  return {
    info: (a, m) => line('info', a, m),
    warn: (a, m) => line('warn', a, m),
    error: (a, m) => line('error', a, m),
    debug: (a, m) => line('debug', a, m),
  };
}

/** "2026-11-26T21:00:00.000Z info  [ike] message" (or its JSON object) on stderr. */
export function stderrLogger(level: LogLevel = 'info', format: LogFormat = 'text'): Logger {
  return lineLogger((l) => process.stderr.write(`${l}\n`), level, undefined, format);
}

/** A logger that drops everything. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };

/** An error's message for a log line or an answer (a thrown non-Error as text). */
export const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
