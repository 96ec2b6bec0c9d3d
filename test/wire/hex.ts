// Test helper: fixtures are written as annotated hex. Everything after `#` on a line is a
// comment; whitespace is ignored.
export function hex(s: string): Uint8Array {
  const clean = s
    .split('\n')
    .map((l) => l.replace(/#.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`bad hex fixture: ${clean}`);
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16));
}

export const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);
export const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
