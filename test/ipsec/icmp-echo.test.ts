// ICMP echo for diagnose's probe (src/ipsec/icmp-echo.ts).
import { describe, expect, it } from 'vitest';

import { echoReplySeq, echoRequest, probeHost } from '../../src/ipsec/icmp-echo.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { decodeIpPacket } from '../../src/wire/ip.js';
import { bytesToIp } from '../../src/wire/ip-text.js';
import { ipToBytes, parseSelector } from '../../src/wire/selectors.js';

/** What the peer's kernel sends back: addresses swapped, type reply. */
function replyTo(req: Uint8Array): Uint8Array {
  const r = new Uint8Array(req);
  const v6 = (r[0] >> 4) === 6;
  const [s, d, n, h] = v6 ? [8, 24, 16, 40] : [12, 16, 4, 20];
  r.set(req.subarray(d, d + n), s);
  r.set(req.subarray(s, s + n), d);
  r[h] = v6 ? 129 : 0;
  return r;
}

describe('echoRequest / echoReplySeq', () => {
  it('builds an IPv4 echo request of the asked size with DF and a valid ICMP checksum', () => {
    const p = echoRequest(ipToBytes('203.0.113.1'), ipToBytes('203.0.113.129'), 1400, 0x1234, 7);
    const v = decodeIpPacket(p);
    expect(p.length).toBe(1400);
    expect(v.totalLength).toBe(1400);
    expect(v.dontFragment).toBe(true);
    expect(v.protocol).toBe(1);
    expect(bytesToIp(v.dst)).toBe('203.0.113.129');
    expect(p[20]).toBe(8);
    expect(internetChecksum(p.subarray(20))).toBe(0);
  });

  it('recognises its reply by identifier and gives the sequence; other packets are not replies', () => {
    const req = echoRequest(ipToBytes('203.0.113.1'), ipToBytes('203.0.113.129'), 84, 0x1234, 7);
    expect(echoReplySeq(replyTo(req), 0x1234)).toBe(7);
    expect(echoReplySeq(replyTo(req), 0x1235)).toBeUndefined();
    expect(echoReplySeq(req, 0x1234)).toBeUndefined(); // a request is not a reply
    expect(echoReplySeq(new Uint8Array([0x45]), 0x1234)).toBeUndefined();
  });

  it('does IPv6 (ICMPv6 128 / 129)', () => {
    const req = echoRequest(ipToBytes('2001:db8:1::1'), ipToBytes('2001:db8:2::1'), 1280, 9, 2);
    expect(req[6]).toBe(58);
    expect(req[40]).toBe(128);
    expect(echoReplySeq(replyTo(req), 9)).toBe(2);
  });

  it('refuses sizes below the headers and mixed families', () => {
    expect(() => echoRequest(ipToBytes('203.0.113.1'), ipToBytes('203.0.113.2'), 27, 1, 1)).toThrow(/28 to 65535/);
    expect(() => echoRequest(ipToBytes('203.0.113.1'), ipToBytes('2001:db8::1'), 100, 1, 1)).toThrow(/one family/);
  });
});

describe('probeHost', () => {
  it('is the first host of a prefix, the address itself for a /32 or a pair', () => {
    expect(bytesToIp(probeHost(parseSelector('203.0.113.128/25')))).toBe('203.0.113.129');
    expect(bytesToIp(probeHost(parseSelector('203.0.113.7')))).toBe('203.0.113.7');
    expect(bytesToIp(probeHost(parseSelector('10.0.0.255-10.0.1.0')))).toBe('10.0.0.255');
    expect(bytesToIp(probeHost(parseSelector('2001:db8::/64')))).toBe('2001:db8::1');
    expect(bytesToIp(probeHost(parseSelector('10.0.0.255-10.0.1.9')))).toBe('10.0.1.0');
  });
});
