// The daemon's log: one line per message on stderr, "<ISO time> <level> [<area>] <message>".
// Callers log events by their fields, never by dumping objects, so that keys and PSKs
// (which live inside config and SA objects) cannot reach the log by accident.

export interface Logger {
  info(area: string, msg: string): void;
  warn(area: string, msg: string): void;
  error(area: string, msg: string): void;
  debug(area: string, msg: string): void;
}

type Level = 'debug' | 'info' | 'warn' | 'error';

/** A logger that writes to any sink (tests collect lines; the daemon writes to stderr). */
export function lineLogger(write: (line: string) => void, level: 'debug' | 'info' = 'info', clock: () => Date = () => new Date()): Logger {
  const line = (l: Level, area: string, msg: string): void => {
    if (l === 'debug' && level !== 'debug') return;
    // one line per message: a newline inside a message would forge a log line
    write(`${clock().toISOString()} ${l.padEnd(5)} [${area}] ${msg.replace(/[\r\n]+/g, ' ')}`);
  };
  return {
    info: (a, m) => line('info', a, m),
    warn: (a, m) => line('warn', a, m),
    error: (a, m) => line('error', a, m),
    debug: (a, m) => line('debug', a, m),
  };
}

/** "2026-11-26T21:00:00.000Z info  [ike] message" on stderr. */
export function stderrLogger(level: 'debug' | 'info' = 'info'): Logger {
  return lineLogger((l) => process.stderr.write(`${l}\n`), level);
}

/** A logger that drops everything. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };
