// A peer.json that is not JSON: the line and column, what was expected, and the line itself
// with any PSK masked; never a piece of an unquoted secret (V8's own message quotes one).
import { describe, expect, it } from 'vitest';

import { findJsonFault } from '../../src/config/json-syntax.js';

const SECRET = 'hunter2-secret-value';

describe('JSON syntax faults', () => {
  it('valid JSON has none, whatever it holds', () => {
    for (const t of ['{}', '[1, -2.5e3, "a\\u00e9\\n", true, false, null]', ' {"a": {"b": []}} \n']) {
      expect(findJsonFault(t)).toBeUndefined();
      expect(() => JSON.parse(t)).not.toThrow();
    }
  });

  it.each([
    ['an unquoted PSK', `{"name": "left",\n  "psk": ${SECRET},\n  "x": 1}`, 2, 10, /^a value/, `  2 |   "psk": ********\n    |          ^`],
    ['a PSK on the line after its key', `{"name": "left",\n  "psk":\n    ${SECRET}}`, 3, 5, /^a value/, `  3 |     ********\n    |     ^`],
    ['a quoted PSK, then a missing comma', `{"name": "left",\n  "psk": "${SECRET}" "x": 1}`, 2, 33, /^"," or "}"/, `  2 |   "psk": ********\n    |                  ^`],
    ['a PSK after a missing colon', `{"name": "left",\n  "psk" "${SECRET}",\n  "x": 1}`, 2, 9, /^":" after the property name/, `  2 |   "psk" ********\n    |         ^`],
    ['a PSK after its key twice', `{"name": "left",\n  "psk": "psk": "${SECRET}",\n  "x": 1}`, 2, 15, /^"," or "}"/, `  2 |   "psk": ********\n    |                  ^`],
    ['a PSK in a broken object (found by fuzzing)', `{"name": "left",\n  "psk": {b"${SECRET}",\n  "x": 1}`, 2, 11, /^a property name in double quotes/, `  2 |   "psk": ********\n    | ${' '.repeat(17)}^`],
    ['a secret name after a missing colon', `{"secrets": {"a": {"secret" "${SECRET}"}}}`, 1, 29, /^":" after the property name/, `  1 | {"secrets": {"a": {"secret" ********\n    |                             ^`],
    ['a PSK string broken by a newline', `{"psk": "${SECRET}\nmore"}`, 1, 30, /closing " of the string on the same line/, `  1 | {"psk": ********\n    |                 ^`],
    ['a trailing comma', '{\n  "name": "left",\n}', 3, 1, /^a property name in double quotes/, '  3 | }\n    | ^'],
    ['the file ends', '{"name": "left",\n  "local": {', 2, 13, /^a property name in double quotes, but the file ends$/, '  2 |   "local": {\n    |             ^'],
    ['text after the value', '{}\n{}', 2, 1, /^nothing after the top-level value$/, '  2 | {}\n    | ^'],
  ])('%s: line, column, what was expected, the line with the PSK masked', (_what, text, line, column, expected, excerpt) => {
    const f = findJsonFault(text)!;
    expect(() => JSON.parse(text)).toThrow();
    expect(f).toMatchObject({ line, column });
    expect(f.expected).toMatch(expected);
    expect(f.excerpt).toBe(excerpt);
    expect(JSON.stringify(f)).not.toMatch(/hunter|secret-value/);
  });
});
