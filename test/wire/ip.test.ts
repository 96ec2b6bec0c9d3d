// IPv4 (RFC 791) and IPv6 (RFC 8200) header views, fixtures written from the header diagrams.
import { describe, it, expect } from 'vitest';
import { decodeIpPacket, writeIpHeader } from '../../src/wire/ip.js';
import { WireError } from '../../src/wire/errors.js';
import { hex } from './hex.js';

const reasonOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof WireError) return e.reason;
    throw e;
  }
  return 'no error';
};

// IPv4 UDP 192.0.2.1:4660 -> 192.0.2.2:53, DF, TTL 64, 28 bytes
const UDP4 = hex(`
  45 00 001c   1c46 4000   40 11 0000   c0000201   c0000202
  1234 0035 0008 0000
`);

describe('IPv4 view (RFC 791)', () => {
  it('decodes version, lengths, flags, TTL, protocol, addresses and UDP ports', () => {
    expect(decodeIpPacket(UDP4)).toEqual({
      version: 4,
      headerLength: 20,
      totalLength: 28,
      protocol: 17,
      ttl: 64,
      src: hex('c0000201'),
      dst: hex('c0000202'),
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      identification: 0x1c46,
      srcPort: 0x1234,
      dstPort: 53,
    });
  });
  it('honours IHL with options and reads ICMP type/code', () => {
    const b = hex('46 00 0020  0001 0000  01 01 0000  cb007101 cb007102  01010100  08 00 f7ff 0000 0000');
    const v = decodeIpPacket(b);
    expect(v.headerLength).toBe(24);
    expect([v.protocol, v.icmpType, v.icmpCode, v.ttl]).toEqual([1, 8, 0, 1]);
    expect(v.srcPort).toBeUndefined();
  });
  it('first fragment has ports, a later fragment has none', () => {
    const first = hex('45 00 001c  abcd 2000  40 06 0000  c0000201 c0000202  c000 0050 00000000');
    expect(decodeIpPacket(first)).toMatchObject({ moreFragments: true, fragmentOffset: 0, srcPort: 0xc000, dstPort: 80 });
    const later = hex('45 00 001c  abcd 00b9  40 06 0000  c0000201 c0000202  c000 0050 00000000');
    const v = decodeIpPacket(later);
    expect(v.fragmentOffset).toBe(185 * 8);
    expect(v.moreFragments).toBe(false);
    expect(v.srcPort).toBeUndefined();
  });
  it('ignores bytes past Total Length (link-layer padding)', () => {
    const padded = new Uint8Array(UDP4.length + 6);
    padded.set(UDP4);
    expect(decodeIpPacket(padded).totalLength).toBe(28);
  });
  it('refuses bad version, IHL < 5, Total Length beyond the data or below the header', () => {
    expect(reasonOf(() => decodeIpPacket(hex('55000014 00000000 40110000 c0000201 c0000202')))).toBe('bad-version');
    expect(reasonOf(() => decodeIpPacket(hex('44000014 00000000 40110000 c0000201 c0000202')))).toBe('bad-header-length');
    expect(reasonOf(() => decodeIpPacket(UDP4.slice(0, 27)))).toBe('truncated');
    expect(reasonOf(() => decodeIpPacket(UDP4.slice(0, 19)))).toBe('truncated');
    expect(reasonOf(() => decodeIpPacket(hex('45000010 00000000 40110000 c0000201 c0000202')))).toBe('bad-length');
    expect(reasonOf(() => decodeIpPacket(hex('45000016 00000000 40110000 c0000201 c0000202 1234')))).toBe('truncated');
    expect(reasonOf(() => decodeIpPacket(new Uint8Array(0)))).toBe('truncated');
  });
});

const SRC6 = '20010db8000000000000000000000001';
const DST6 = '20010db8000000000000000000000002';

describe('IPv6 view (RFC 8200)', () => {
  it('walks a Hop-by-Hop Options header to TCP and reads the ports', () => {
    const b = hex(`
      60000000 001c 00 40  ${SRC6} ${DST6}       # payload 28, next Hop-by-Hop, hop limit 64
      06 00  01 04 00000000                      # HBH: next TCP, len 0 (8 bytes), PadN
      c350 01bb 00000000 00000000 5002 ffff 0000 0000   # TCP 50000 -> 443
    `);
    expect(decodeIpPacket(b)).toEqual({
      version: 6,
      headerLength: 48,
      totalLength: 68,
      protocol: 6,
      ttl: 64,
      src: hex(SRC6),
      dst: hex(DST6),
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      identification: 0,
      srcPort: 50000,
      dstPort: 443,
    });
  });
  it('walks Destination Options (16 bytes) and Routing headers to ICMPv6', () => {
    const b = hex(`
      60000000 0020 3c 01  ${SRC6} ${DST6}
      2b 01 ${'00'.repeat(14)}                   # Dest Opts: next Routing, len 1 (16 bytes)
      3a 00 00 00 00000000                       # Routing: next ICMPv6, len 0 (8 bytes)
      80 00 0000 00010001                        # ICMPv6 echo request
    `);
    const v = decodeIpPacket(b);
    expect([v.protocol, v.headerLength, v.icmpType, v.icmpCode, v.ttl]).toEqual([58, 64, 128, 0, 1]);
  });
  it('Fragment header: first fragment has ports, a later one does not', () => {
    const first = hex(`60000000 0010 2c 40 ${SRC6} ${DST6}  11 00 0001 deadbeef  1194 1194 0008 0000`);
    expect(decodeIpPacket(first)).toMatchObject({
      protocol: 17,
      moreFragments: true,
      fragmentOffset: 0,
      identification: 0xdeadbeef,
      srcPort: 4500,
      dstPort: 4500,
    });
    const later = hex(`60000000 0010 2c 40 ${SRC6} ${DST6}  11 00 00b8 deadbeef  1194 1194 0008 0000`);
    const v = decodeIpPacket(later);
    expect([v.protocol, v.fragmentOffset, v.moreFragments, v.srcPort]).toEqual([17, 184, false, undefined]);
  });
  it('refuses truncation in the fixed header, the payload, an extension header and the UDP header', () => {
    expect(reasonOf(() => decodeIpPacket(hex(`60000000 0000 3b 40 ${SRC6}`)))).toBe('truncated');
    expect(reasonOf(() => decodeIpPacket(hex(`60000000 0008 3b 40 ${SRC6} ${DST6} 0000`)))).toBe('truncated');
    expect(reasonOf(() => decodeIpPacket(hex(`60000000 0008 00 40 ${SRC6} ${DST6} 06 01 000000000000`)))).toBe('truncated');
    expect(reasonOf(() => decodeIpPacket(hex(`60000000 0002 11 40 ${SRC6} ${DST6} 1194`)))).toBe('truncated');
    expect(reasonOf(() => decodeIpPacket(hex(`60000000 0000 00 40 ${SRC6} ${DST6}`)))).toBe('bad-length'); // jumbogram
  });
  it('an empty payload with No Next Header (59) is fine', () => {
    const v = decodeIpPacket(hex(`60000000 0000 3b 40 ${SRC6} ${DST6}`));
    expect([v.protocol, v.totalLength, v.headerLength]).toEqual([59, 40, 40]);
  });
});

describe('IP header writer (RFC 791 §3.1, RFC 8200 §3)', () => {
  const at = (bytes: Uint8Array, off: number, len: number) => Buffer.from(bytes.subarray(off, off + len)).toString('hex');

  it('IPv4: version/IHL, total length, DF when asked, TTL, protocol and the header checksum', () => {
    const buf = new Uint8Array(30).fill(0xee);
    const n = writeIpHeader(buf, 2, hex('c0000201'), hex('c0000202'), 17, 8, 64, true);
    expect(n).toBe(20);
    expect(at(buf, 2, 20)).toBe(Buffer.from(hex('45 00 001c   0000 4000   40 11 b6cd   c0000201   c0000202')).toString('hex'));
    expect([buf[1], buf[22]]).toEqual([0xee, 0xee]); // nothing outside the header
    buf.fill(0, 22, 30);
    const v = decodeIpPacket(buf.subarray(2));
    expect([v.version, v.totalLength, v.protocol, v.ttl, v.dontFragment]).toEqual([4, 28, 17, 64, true]);
    writeIpHeader(buf, 2, hex('c0000201'), hex('c0000202'), 17, 8);
    expect(decodeIpPacket(buf.subarray(2)).dontFragment).toBe(false);
  });

  it('IPv6: version, payload length, Next Header, Hop Limit, addresses', () => {
    const buf = new Uint8Array(48);
    expect(writeIpHeader(buf, 0, hex(SRC6), hex(DST6), 58, 8, 255)).toBe(40);
    expect(at(buf, 0, 40)).toBe(Buffer.from(hex(`60000000 0008 3a ff ${SRC6} ${DST6}`)).toString('hex'));
  });
});
