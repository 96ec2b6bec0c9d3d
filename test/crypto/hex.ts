// Test helpers: hex <-> bytes and vector loading.
import { readFileSync } from 'node:fs';

export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
export const fill = (byte: number, n: number): Uint8Array => new Uint8Array(n).fill(byte);

export function loadVectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8')) as T;
}
