// Traffic selectors (RFC 7296 §2.9 narrowing, §3.13.1 records) and address text.
import { describe, it, expect } from 'vitest';
import { IpProtocol, TsType } from '../../src/wire/constants.js';
import type { TrafficSelector } from '../../src/wire/types.js';
import { bytesToIp } from '../../src/wire/ip-text.js';
import {
  formatSelector,
  ipToBytes,
  narrowSelectors,
  parseSelector,
  SelectorSyntaxError,
  selectorContains,
  selectorCovers,
  selectorsEqual,
} from '../../src/wire/selectors.js';

const ts = parseSelector;
const fmt = (list: TrafficSelector[]) => list.map(formatSelector);

describe('ipToBytes / bytesToIp', () => {
  it('IPv4 dotted quads', () => {
    expect([...ipToBytes('203.0.113.5')]).toEqual([203, 0, 113, 5]);
    expect(bytesToIp(new Uint8Array([198, 51, 100, 255]))).toBe('198.51.100.255');
  });
  it('IPv6 with :: and an embedded IPv4, printed in RFC 5952 form', () => {
    expect([...ipToBytes('2001:db8::1')]).toEqual([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]);
    expect(bytesToIp(ipToBytes('2001:0DB8:0000:0000:0000:0000:0000:0001'))).toBe('2001:db8::1');
    expect(bytesToIp(ipToBytes('::ffff:192.0.2.1'))).toBe('::ffff:c000:201');
    expect(bytesToIp(ipToBytes('::'))).toBe('::');
    // RFC 5952 §4.2.2: a single zero group is not compressed; §4.2.3: the first longest run is
    expect(bytesToIp(ipToBytes('2001:db8:0:1:1:1:1:1'))).toBe('2001:db8:0:1:1:1:1:1');
    expect(bytesToIp(ipToBytes('2001:0:0:1:0:0:0:1'))).toBe('2001:0:0:1::1');
    expect(bytesToIp(ipToBytes('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
  });
  it('refuses malformed addresses with a typed error naming the input', () => {
    for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '2001:db8:::1', '2001:db8::1::2', '1:2:3:4:5:6:7:8:9', 'gggg::', 'fe80::1%eth0', '']) {
      expect(() => ipToBytes(bad), bad).toThrow(SelectorSyntaxError);
    }
    try {
      ipToBytes('10.0.0.300');
    } catch (e) {
      expect((e as SelectorSyntaxError).token).toBe('10.0.0.300');
    }
  });
});

describe('parseSelector', () => {
  it('a prefix becomes its address range', () => {
    const s = ts('203.0.113.0/25');
    expect(s.tsType).toBe(TsType.TS_IPV4_ADDR_RANGE);
    expect(bytesToIp(s.startAddr)).toBe('203.0.113.0');
    expect(bytesToIp(s.endAddr)).toBe('203.0.113.127');
    expect([s.ipProtocol, s.startPort, s.endPort]).toEqual([0, 0, 65535]);
  });
  it('a host, a range, everything, and host bits cleared as swanctl does', () => {
    const h = ts('203.0.113.5');
    expect(bytesToIp(h.startAddr)).toBe('203.0.113.5');
    expect(bytesToIp(h.endAddr)).toBe('203.0.113.5');
    const r = ts('192.0.2.10-192.0.2.20');
    expect([bytesToIp(r.startAddr), bytesToIp(r.endAddr)]).toEqual(['192.0.2.10', '192.0.2.20']);
    const all = ts('0.0.0.0/0');
    expect([bytesToIp(all.startAddr), bytesToIp(all.endAddr)]).toEqual(['0.0.0.0', '255.255.255.255']);
    expect(selectorsEqual(ts('203.0.113.77/24'), ts('203.0.113.0/24'))).toBe(true);
  });
  it('IPv6 prefixes', () => {
    const s = ts('2001:db8::/32');
    expect(s.tsType).toBe(TsType.TS_IPV6_ADDR_RANGE);
    expect(bytesToIp(s.startAddr)).toBe('2001:db8::');
    expect(bytesToIp(s.endAddr)).toBe('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff');
  });
  it('protocol and port suffixes', () => {
    const s = ts('203.0.113.0/25[tcp/443]');
    expect([s.ipProtocol, s.startPort, s.endPort]).toEqual([IpProtocol.TCP, 443, 443]);
    const u = ts('[udp]');
    expect([u.ipProtocol, u.startPort, u.endPort]).toEqual([IpProtocol.UDP, 0, 65535]);
    expect(bytesToIp(u.startAddr)).toBe('0.0.0.0');
    expect(ts('192.0.2.0/24[udp/1024-2048]').startPort).toBe(1024);
    expect(ts('192.0.2.0/24[17/53]').ipProtocol).toBe(17);
    // RFC 7296 §3.13.1: ICMP type in the high octet of the port field
    const icmp = ts('192.0.2.0/24[icmp/8]');
    expect([icmp.ipProtocol, icmp.startPort, icmp.endPort]).toEqual([1, 0x0800, 0x08ff]);
    expect(ts('2001:db8::/32[ipv6-icmp]').ipProtocol).toBe(IpProtocol.ICMPV6);
  });
  it('malformed selectors throw SelectorSyntaxError naming the bad part', () => {
    const cases: [string, string][] = [
      ['dynamic', 'dynamic'],
      ['', ''],
      ['203.0.113.0/33', '33'],
      ['2001:db8::/129', '129'],
      ['203.0.113.256', '203.0.113.256'],
      ['203.0.113.0/25[tcp/70000]', '70000'],
      ['203.0.113.0/25[bogus/1]', 'bogus'],
      ['203.0.113.0/25[tcp/443', '[tcp/443'],
      ['203.0.113.0/25[tcp/2000-1000]', '2000-1000'],
      ['192.0.2.20-192.0.2.10', '192.0.2.20-192.0.2.10'],
      ['192.0.2.1-2001:db8::1', '192.0.2.1-2001:db8::1'],
      ['hostname.example', 'hostname.example'],
    ];
    for (const [input, token] of cases) {
      let err: unknown;
      try {
        parseSelector(input);
      } catch (e) {
        err = e;
      }
      expect(err, input).toBeInstanceOf(SelectorSyntaxError);
      expect((err as SelectorSyntaxError).input).toBe(input);
      expect((err as SelectorSyntaxError).token, input).toBe(token);
    }
  });
});

describe('formatSelector', () => {
  it('prints CIDR, hosts, ranges and [proto/port] like swanctl --list-sas, and parses back', () => {
    for (const text of [
      '203.0.113.0/25',
      '203.0.113.5',
      '0.0.0.0/0',
      '192.0.2.10-192.0.2.20',
      '2001:db8::/32',
      '2001:db8::1',
      '203.0.113.0/25[tcp/443]',
      '0.0.0.0/0[udp]',
      '192.0.2.0/24[udp/1024-2048]',
      '192.0.2.0/24[icmp/8]',
      '2001:db8::/32[ipv6-icmp]',
      '192.0.2.0/24[any/53]',
      '192.0.2.0/24[99]',
    ]) {
      expect(formatSelector(ts(text))).toBe(text);
    }
    expect(formatSelector(ts('[udp]'))).toBe('0.0.0.0/0[udp]');
    expect(formatSelector(ts('192.0.2.0-192.0.2.255'))).toBe('192.0.2.0/24');
  });
});

describe('selectorContains', () => {
  it('compares address ranges, protocol and ports', () => {
    expect(selectorContains(ts('203.0.113.0/24'), ts('203.0.113.0/25'))).toBe(true);
    expect(selectorContains(ts('203.0.113.0/25'), ts('203.0.113.0/24'))).toBe(false);
    expect(selectorContains(ts('203.0.113.0/24'), ts('203.0.113.9[tcp/443]'))).toBe(true);
    expect(selectorContains(ts('203.0.113.0/24[tcp]'), ts('203.0.113.9'))).toBe(false);
    expect(selectorContains(ts('203.0.113.0/24[tcp/80]'), ts('203.0.113.9[tcp/443]'))).toBe(false);
    expect(selectorContains(ts('0.0.0.0/0'), ts('::/0'))).toBe(false);
  });
});

describe('narrowSelectors (responder, RFC 7296 §2.9)', () => {
  it('a wider proposal is narrowed to the local policy', () => {
    expect(fmt(narrowSelectors([ts('203.0.113.0/25')], [ts('0.0.0.0/0')]))).toEqual(['203.0.113.0/25']);
  });
  it('a narrower proposal is kept as proposed', () => {
    expect(fmt(narrowSelectors([ts('203.0.113.0/24')], [ts('203.0.113.64/26')]))).toEqual(['203.0.113.64/26']);
  });
  it('disjoint sets narrow to nothing (TS_UNACCEPTABLE)', () => {
    expect(narrowSelectors([ts('203.0.113.0/24')], [ts('192.0.2.0/24')])).toEqual([]);
    expect(narrowSelectors([ts('0.0.0.0/0')], [ts('2001:db8::/32')])).toEqual([]);
    expect(narrowSelectors([ts('203.0.113.0/24[tcp]')], [ts('203.0.113.0/24[udp]')])).toEqual([]);
  });
  it('partial overlap becomes a range; ports and protocol narrow too', () => {
    expect(fmt(narrowSelectors([ts('192.0.2.100-192.0.2.200')], [ts('192.0.2.0/25')]))).toEqual(['192.0.2.100-192.0.2.127']);
    expect(fmt(narrowSelectors([ts('203.0.113.0/24[tcp/443]')], [ts('203.0.113.0/25')]))).toEqual(['203.0.113.0/25[tcp/443]']);
    expect(fmt(narrowSelectors([ts('203.0.113.0/24[tcp/400-500]')], [ts('203.0.113.9[tcp/443-1000]')]))).toEqual(['203.0.113.9[tcp/443-500]']);
    expect(narrowSelectors([ts('203.0.113.0/24[tcp/80]')], [ts('203.0.113.0/24[tcp/443]')])).toEqual([]);
  });
  it('keeps the order of the proposed list and drops duplicates', () => {
    const local = [ts('192.0.2.0/24'), ts('203.0.113.0/24'), ts('2001:db8::/32')];
    const proposed = [ts('2001:db8:1::/48'), ts('203.0.113.0/25'), ts('0.0.0.0/0'), ts('203.0.113.0/25')];
    expect(fmt(narrowSelectors(local, proposed))).toEqual(['2001:db8:1::/48', '203.0.113.0/25', '192.0.2.0/24', '203.0.113.0/24']);
  });
});

describe('selectorCovers (datapath lookup)', () => {
  const list = [ts('203.0.113.0/25'), ts('192.0.2.0/24[udp/53]'), ts('2001:db8::/32[tcp]')];
  const v4 = (dst: string, protocol: number, dstPort?: number) => ({ version: 4 as const, protocol, dst: ipToBytes(dst), dstPort });
  it('matches destination address, protocol and port', () => {
    expect(selectorCovers(list, v4('203.0.113.127', IpProtocol.ICMP))).toBe(true);
    expect(selectorCovers(list, v4('203.0.113.128', IpProtocol.ICMP))).toBe(false);
    expect(selectorCovers(list, v4('192.0.2.53', IpProtocol.UDP, 53))).toBe(true);
    expect(selectorCovers(list, v4('192.0.2.53', IpProtocol.UDP, 54))).toBe(false);
    expect(selectorCovers(list, v4('192.0.2.53', IpProtocol.TCP, 53))).toBe(false);
    expect(selectorCovers(list, v4('192.0.2.53', IpProtocol.ICMP))).toBe(false);
  });
  it('IPv6 and the source side', () => {
    const pkt = { version: 6 as const, protocol: IpProtocol.TCP, src: ipToBytes('2001:db8::5'), dst: ipToBytes('2001:db9::1'), srcPort: 40000, dstPort: 22 };
    expect(selectorCovers(list, pkt, 'src')).toBe(true);
    expect(selectorCovers(list, pkt, 'dst')).toBe(false);
    expect(selectorCovers(list, { ...pkt, protocol: IpProtocol.UDP }, 'src')).toBe(false);
    // an IPv4 address never matches an IPv6 selector, nor a mislabelled packet
    expect(selectorCovers([ts('::/0')], v4('203.0.113.1', 6, 80))).toBe(false);
    expect(selectorCovers(list, { version: 6, protocol: 1, dst: ipToBytes('203.0.113.1') })).toBe(false);
  });
});
