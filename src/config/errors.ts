// ConfigError: everything wrong with one peer.json or gateway file at once, one line per problem,
// "<json-pointer path>: <what was wanted>". Messages never carry a secret's value.
import type { ConfigProblem } from './types.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map((p) => `${p.path === '' ? '(top level)' : p.path}: ${p.expected}`).join('\n'));
    this.problems = problems;
  }
}

/** JSON pointer segment escaping (RFC 6901 §3: '~' -> '~0', '/' -> '~1'). */
export function pointer(...segments: (string | number)[]): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}
