// What a reload counts as "unchanged" (src/config/ike-config.ts samePeerConfig): the
// connection keeps its SAs only when nothing in it changed, its PSK's bytes included.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { samePeerConfig } from '../../src/config/ike-config.js';
import { parsePeerConfig } from '../../src/config/load.js';

const LEFT = JSON.parse(readFileSync(new URL('../../examples/left.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const load = (edit: Record<string, unknown> = {}) => parsePeerConfig({ ...LEFT, ...edit }, '/', {});

describe('a reload leaves a connection alone only when nothing in it changed', () => {
  it('the same file twice is the same connection', () => {
    expect(samePeerConfig(load(), load())).toBe(true);
  });

  it('another PSK of the same length is a change, though both print as "<redacted 21-byte PSK>"', () => {
    const a = load({ psk: 'lab-secret-0123456789' });
    const b = load({ psk: 'lab-secret-9876543210' });
    expect(JSON.stringify(a.local.auth)).toBe(JSON.stringify(b.local.auth));
    expect(samePeerConfig(a, b)).toBe(false);
  });

  it('proposals, selectors and timers are changes', () => {
    expect(samePeerConfig(load(), load({ ike: { proposals: ['aes128gcm16-prfsha256-ecp256'] } }))).toBe(false);
    expect(samePeerConfig(load(), load({ child: { proposals: ['aes256gcm16'], mode: 'tunnel', rekey: '30m' } }))).toBe(false);
    expect(samePeerConfig(load(), load({ remote: { ...(LEFT.remote as object), ts: ['203.0.113.192/26'] } }))).toBe(false);
  });
});
