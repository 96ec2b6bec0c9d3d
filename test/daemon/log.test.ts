// The daemon's log as an operator reads it (text) and as journald or a log shipper parses it
// (--log-format json): one line per message, the level filter applied to both formats, and a
// message with newlines never splitting into a forged second line.
import { describe, expect, it } from 'vitest';

import { lineLogger, LOG_LEVELS, type LogFormat, type LogLevel } from '../../src/daemon/log.js';

const T = new Date('2026-12-07T05:30:00.123Z');

function collect(level: LogLevel, format: LogFormat): { lines: string[]; logAll(): void } {
  const lines: string[] = [];
  const log = lineLogger((l) => lines.push(l), level, () => T, format);
  return {
    lines,
    logAll: () => {
      log.debug('ike', 'd');
      log.info('ike', 'i');
      log.warn('ike', 'w');
      log.error('ike', 'e');
    },
  };
}

describe('daemon log', () => {
  it('writes text lines: ISO time, level, [area], message', () => {
    const c = collect('debug', 'text');
    c.logAll();
    expect(c.lines).toEqual([
      '2026-12-07T05:30:00.123Z debug [ike] d',
      '2026-12-07T05:30:00.123Z info  [ike] i',
      '2026-12-07T05:30:00.123Z warn  [ike] w',
      '2026-12-07T05:30:00.123Z error [ike] e',
    ]);
  });

  it('writes one JSON object per line with time, level, area and msg, and nothing else', () => {
    const c = collect('debug', 'json');
    c.logAll();
    expect(c.lines.map((l) => JSON.parse(l) as unknown)).toEqual(
      (['d', 'i', 'w', 'e'] as const).map((msg, i) => ({ time: '2026-12-07T05:30:00.123Z', level: LOG_LEVELS[i], area: 'ike', msg })),
    );
  });

  it.each(['text', 'json'] as const)('%s: drops messages below the level', (format) => {
    const seen = (level: LogLevel): string[] => {
      const c = collect(level, format);
      c.logAll();
      return c.lines.map((l) => (format === 'json' ? (JSON.parse(l) as { level: string }).level : l.split(/\s+/)[1]!));
    };
    expect(seen('debug')).toEqual(['debug', 'info', 'warn', 'error']);
    expect(seen('info')).toEqual(['info', 'warn', 'error']);
    expect(seen('warn')).toEqual(['warn', 'error']);
    expect(seen('error')).toEqual(['error']);
  });

  it.each(['text', 'json'] as const)('%s: a message with newlines stays one line', (format) => {
    const lines: string[] = [];
    const forged = 'peer said hi\n2026-12-07T05:30:00.000Z error [ike] {"level":"error","msg":"forged"}\r\n';
    lineLogger((l) => lines.push(l), 'info', () => T, format).info('ike', forged);
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\r\n]/);
    if (format === 'json') expect((JSON.parse(lines[0]!) as { msg: string }).msg).toBe(forged);
  });
});
