// Address text: the one parser and formatter (src/wire/ip-text.ts) used by selectors,
// identities, sockets, status and logs.
import { describe, expect, it } from 'vitest';
import { bytesToIp, formatEndpoint, parseIp } from '../../src/wire/ip-text.js';

describe('IP text', () => {
  it('RFC 5952 §4: IPv6 text is canonical (lower case, longest zero run compressed)', () => {
    expect(bytesToIp(parseIp('2001:DB8:0:0:0:0:0:1')!)).toBe('2001:db8::1');
    expect(bytesToIp(parseIp('2001:db8:0:0:1:0:0:1')!)).toBe('2001:db8::1:0:0:1');
    expect(bytesToIp(parseIp('192.0.2.1')!)).toBe('192.0.2.1');
    expect(parseIp('192.0.2.256')).toBeNull();
  });

  it('RFC 5952 §6: an IPv6 address with a port is bracketed, IPv4 is not', () => {
    expect(formatEndpoint({ addr: '2001:db8:100::1', port: 500 })).toBe('[2001:db8:100::1]:500');
    expect(formatEndpoint({ addr: '198.51.100.1', port: 4500 })).toBe('198.51.100.1:4500');
  });
});
