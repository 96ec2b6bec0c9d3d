// What a TUN with offloads reads, made into plain packets by the reader thread before the
// datapath sees them (native/src/gso_segment.cc, run here on given reads through its test entry
// cutRead), and the offload line for the log and status. No root: each read is made here as the
// kernel lays it out (a virtio_net_hdr, then the packet). Every segment is checked as a receiver
// would check it, with a checksum computed here independently of the C code: IP and TCP/UDP
// checksums over the pseudo-header, lengths, IPv4 IDs, sequence numbers, flags only where they
// belong, and the payload put back together; and NEEDS_CSUM finished.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cutRead, describeOffload } from '../../src/io/tun-offload.js';
import { ipToBytes } from '../../src/wire/selectors.js';
import { GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, VNET_F_NEEDS_CSUM } from '../../src/wire/vnet-hdr.js';

const FIN = 0x01, PSH = 0x08, ACK = 0x10, CWR = 0x80;

/** RFC 1071 as the test's own reference: 16-bit big-endian words, an odd last octet padded, carries folded. */
function sum(b: Uint8Array, start = 0, end = b.length, initial = 0): number {
  let s = initial;
  for (let i = start; i < end; i += 2) s += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

const u16 = (b: Uint8Array, p: number) => (b[p] << 8) | b[p + 1];
const u32 = (b: Uint8Array, p: number) => ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;

/** The TCP/UDP pseudo-header sum (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1) of packet `s` whose L4 header is at `l4`. */
function pseudo(s: Uint8Array, l4: number, proto: number): number {
  const v4 = s[0] >> 4 === 4;
  return sum(s, v4 ? 12 : 8, v4 ? 20 : 40, proto + s.length - l4);
}

/** True when the TCP/UDP checksum verifies: the sum over pseudo-header and segment folds to all ones. */
function l4ChecksumOk(s: Uint8Array, proto: number, l4 = s[0] >> 4 === 4 ? (s[0] & 0x0f) * 4 : 40): boolean {
  return sum(s, l4, s.length, pseudo(s, l4, proto)) === 0xffff;
}

/**
 * An IP packet with a TCP (options: extra header octets) or UDP header and `payload`; checksums
 * left as the kernel leaves them (0); ipOptions: extra IPv4 header octets (NOPs).
 */
function superPacket(o: { v6?: boolean; udp?: boolean; payload: number; options?: number; ipOptions?: number; flags?: number; seq?: number; id?: number }): Uint8Array {
  const ip = o.v6 ? 40 : 20 + (o.ipOptions ?? 0);
  const l4 = o.udp ? 8 : 20 + (o.options ?? 0);
  const p = new Uint8Array(ip + l4 + o.payload);
  if (o.v6) {
    p[0] = 0x60;
    p[4] = (l4 + o.payload) >> 8;
    p[5] = (l4 + o.payload) & 0xff;
    p[6] = o.udp ? 17 : 6;
    p[7] = 64;
    p.set(ipToBytes('2001:db8::1'), 8);
    p.set(ipToBytes('2001:db8:1::9'), 24);
  } else {
    p[0] = 0x40 | (ip / 4);
    p[2] = p.length >> 8;
    p[3] = p.length & 0xff;
    p[4] = (o.id ?? 0x1234) >> 8;
    p[5] = (o.id ?? 0x1234) & 0xff;
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = o.udp ? 17 : 6;
    p.set(ipToBytes('203.0.113.1'), 12);
    p.set(ipToBytes('203.0.113.129'), 16);
    p.fill(1, 20, ip); // NOP options
  }
  p[ip] = 0xc3; // source port 50000
  p[ip + 1] = 0x50;
  p[ip + 2] = 0x14; // destination port 5201
  p[ip + 3] = 0x51;
  if (!o.udp) {
    const seq = o.seq ?? 0xfffff000; // wraps within the packet
    p.set([seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff], ip + 4);
    p[ip + 12] = (l4 / 4) << 4;
    p[ip + 13] = o.flags ?? ACK | PSH;
    p[ip + 14] = 0xff;
    for (let i = 20; i < l4; i++) p[ip + i] = 1; // NOP options
  }
  for (let i = 0; i < o.payload; i++) p[ip + l4 + i] = (i * 7 + 3) & 0xff;
  return p;
}

/** A read: the virtio_net_hdr (little-endian fields; hdr_len a hint only, deliberately wrong) and the packet. */
function read(gsoType: number, gsoSize: number, csumStart: number, csumOffset: number, pkt: Uint8Array, needsCsum = true): Uint8Array {
  const r = new Uint8Array(10 + pkt.length);
  r.set([needsCsum ? VNET_F_NEEDS_CSUM : 0, gsoType, 54, 0, gsoSize & 0xff, gsoSize >> 8, csumStart & 0xff, csumStart >> 8, csumOffset, 0]);
  r.set(pkt, 10);
  return r;
}

/** The packets the reader makes of one read, or -1 when it drops it as malformed. */
function cut(r: Uint8Array): Uint8Array[] | -1 {
  const out = new Uint8Array(256 * 1024);
  const offsets = new Uint32Array(2048);
  const lengths = new Uint32Array(2048);
  const n = cutRead(r, out, offsets, lengths);
  if (n < 0) return -1;
  return Array.from({ length: n }, (_, i) => out.slice(offsets[i], offsets[i] + lengths[i]));
}

function segments(r: Uint8Array): Uint8Array[] {
  const segs = cut(r);
  if (segs === -1) throw new Error('dropped as malformed');
  return segs;
}

describe('cutting the TUN super-packets (the reader thread, native/src/gso_segment.cc)', () => {
  it('TCPv4: MSS-sized segments and a short last one, each with its own length, ID, sequence number and valid checksums; FIN/PSH only on the last, CWR only on the first', () => {
    const pkt = superPacket({ payload: 2 * 1000 + 345, options: 12, flags: ACK | PSH | FIN | CWR, id: 0xfffe });
    const segs = segments(read(GSO_TCPV4 | GSO_ECN, 1000, 20, 16, pkt));
    expect(segs.map((s) => s.length)).toEqual([1052, 1052, 397]);
    segs.forEach((s, i) => {
      expect(u16(s, 2)).toBe(s.length); // total length
      expect(u16(s, 4)).toBe((0xfffe + i) & 0xffff); // IDs go on, wrapping
      expect(sum(s, 0, 20)).toBe(0xffff); // header checksum verifies
      expect(u32(s, 24)).toBe((0xfffff000 + i * 1000) >>> 0); // sequence numbers, wrapping
      expect(l4ChecksumOk(s, 6)).toBe(true);
      expect(s.subarray(40, 52)).toEqual(pkt.subarray(40, 52)); // options copied
    });
    expect(segs.map((s) => s[33])).toEqual([ACK | CWR, ACK, ACK | PSH | FIN]);
    expect(new Uint8Array(Buffer.concat(segs.map((s) => s.subarray(52))))).toEqual(pkt.subarray(52));
  });

  it('TCPv4 with IP options: the header checksum covers the whole IPv4 header', () => {
    const pkt = superPacket({ payload: 3000, ipOptions: 8 });
    const segs = segments(read(GSO_TCPV4, 1400, 28, 16, pkt));
    expect(segs.map((s) => s.length)).toEqual([1448, 1448, 248]);
    segs.forEach((s) => {
      expect(sum(s, 0, 28)).toBe(0xffff);
      expect(l4ChecksumOk(s, 6)).toBe(true);
    });
  });

  it('TCPv6: payload lengths, sequence numbers and checksums over the IPv6 pseudo-header; an odd last segment', () => {
    const pkt = superPacket({ v6: true, payload: 3 * 1208 + 1, seq: 1 });
    const segs = segments(read(GSO_TCPV6, 1208, 40, 16, pkt));
    expect(segs.map((s) => s.length)).toEqual([1268, 1268, 1268, 61]);
    segs.forEach((s, i) => {
      expect(u16(s, 4)).toBe(s.length - 40);
      expect(u32(s, 44)).toBe(1 + i * 1208);
      expect(l4ChecksumOk(s, 6)).toBe(true);
    });
    expect(segs.map((s) => s[53] & PSH)).toEqual([0, 0, 0, PSH]);
    expect(new Uint8Array(Buffer.concat(segs.map((s) => s.subarray(60))))).toEqual(pkt.subarray(60));
  });

  it('a payload of exactly n MSS makes n full segments, none empty; a 64 KB super-packet makes 49 of at most the MTU', () => {
    expect(segments(read(GSO_TCPV4, 500, 20, 16, superPacket({ payload: 1500 }))).map((s) => s.length)).toEqual([540, 540, 540]);
    const big = superPacket({ payload: 65535 - 40, seq: 7 });
    const segs = segments(read(GSO_TCPV4, 1360, 20, 16, big));
    expect(segs).toHaveLength(49);
    segs.forEach((s, i) => {
      expect(s.length).toBeLessThanOrEqual(1400);
      expect(u32(s, 24)).toBe(7 + i * 1360);
      expect(l4ChecksumOk(s, 6)).toBe(true);
    });
  });

  it('UDP (USO), IPv4 and IPv6: each segment a datagram with its own UDP length and checksum', () => {
    for (const v6 of [false, true]) {
      const pkt = superPacket({ v6, udp: true, payload: 2600 });
      const ip = v6 ? 40 : 20;
      const segs = segments(read(GSO_UDP_L4, 1200, ip, 6, pkt));
      expect(segs.map((s) => s.length)).toEqual([ip + 1208, ip + 1208, ip + 208]);
      segs.forEach((s) => {
        expect(u16(s, ip + 4)).toBe(s.length - ip);
        expect(u16(s, ip + 6)).not.toBe(0);
        expect(l4ChecksumOk(s, 17)).toBe(true);
      });
      if (!v6) expect(segs.map((s) => u16(s, 4))).toEqual([0x1234, 0x1235, 0x1236]);
    }
  });

  it('the IPv4 header checksum of a published example (RFC 1071 arithmetic): 4500 0073 0000 4000 4011 -> b861', () => {
    // The header of the worked example in Wikipedia's "Internet checksum" / IPv4 header
    // checksum article: 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73, checksum 0xb861.
    const pkt = new Uint8Array(0x73);
    pkt.set([0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7]);
    const [seg] = segments(read(GSO_UDP_L4, 1400, 20, 6, pkt));
    expect(u16(seg, 10)).toBe(0xb861);
  });

  it('drops as malformed what it cannot cut: a read too short for its header, a type that does not match the IP version or protocol, a csum_start off the header, truncated headers, gso_size 0', () => {
    const v4 = superPacket({ payload: 100 });
    expect(cut(new Uint8Array(10))).toBe(-1);
    expect(cut(read(GSO_TCPV6, 50, 20, 16, v4))).toBe(-1);
    expect(cut(read(GSO_UDP_L4, 50, 20, 6, v4))).toBe(-1);
    expect(cut(read(GSO_TCPV4, 50, 24, 16, v4))).toBe(-1);
    expect(cut(read(GSO_TCPV4, 0, 20, 16, v4))).toBe(-1);
    expect(cut(read(3 /* UFO: not enabled */, 50, 20, 6, v4))).toBe(-1);
    expect(cut(read(GSO_TCPV4, 50, 20, 16, v4.subarray(0, 30)))).toBe(-1);
    const badOffset = v4.slice();
    badOffset[32] = 0x40; // TCP Data Offset 4 words: shorter than a TCP header
    expect(cut(read(GSO_TCPV4, 50, 20, 16, badOffset))).toBe(-1);
    expect(cut(read(GSO_TCPV4, 50, 20, 16, v4))).toHaveLength(2);
  });

  it('NEEDS_CSUM without GSO: finishes the checksum the kernel started with the pseudo-header sum; offsets outside the packet are malformed', () => {
    for (const [v6, udp] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const pkt = superPacket({ v6, udp, payload: 333 });
      const ip = v6 ? 40 : 20;
      const field = ip + (udp ? 6 : 16);
      const proto = udp ? 17 : 6;
      // what the kernel leaves there: the folded pseudo-header sum, not complemented
      const p = pseudo(pkt, ip, proto);
      pkt[field] = p >> 8;
      pkt[field + 1] = p & 0xff;
      const [out] = segments(read(GSO_NONE, 0, ip, udp ? 6 : 16, pkt));
      expect(out.length).toBe(pkt.length);
      expect(l4ChecksumOk(out, proto)).toBe(true);
    }
    expect(cut(read(GSO_NONE, 0, 20, 16, new Uint8Array(30)))).toBe(-1);
    expect(cut(read(GSO_NONE, 0, 30, 0, new Uint8Array(30)))).toBe(-1);
  });

  it('a packet handed over without offload (no flags, no GSO) comes out unchanged', () => {
    const pkt = superPacket({ payload: 1000 });
    pkt[10] = 0x12; // whatever the sender put there is not ours to change
    pkt[36] = 0x34;
    expect(segments(read(GSO_NONE, 0, 0, 0, pkt, false))).toEqual([pkt]);
  });

  it('says when the packets of a read do not fit the room given (the reader then keeps the read for its next slab)', () => {
    const r = read(GSO_TCPV4, 1000, 20, 16, superPacket({ payload: 5000 }));
    expect(() => cutRead(r, new Uint8Array(4000), new Uint32Array(8), new Uint32Array(8))).toThrow(/do not fit/);
    expect(() => cutRead(r, new Uint8Array(8000), new Uint32Array(4), new Uint32Array(4))).toThrow(/do not fit/);
    expect(cutRead(r, new Uint8Array(5040 + 4 * 40), new Uint32Array(5), new Uint32Array(5))).toBe(5);
  });

  it('any super-packet: every segment verifies, is at most gso_size of payload, IDs, sequence numbers and flags go on as the kernel makes them, and the payload adds up', () => {
    const shape = fc.record({
      v6: fc.boolean(),
      udp: fc.boolean(),
      payload: fc.integer({ min: 0, max: 20_000 }),
      mss: fc.integer({ min: 48, max: 9000 }),
      options: fc.integer({ min: 0, max: 10 }).map((w) => w * 4),
      seq: fc.nat({ max: 0xffffffff }),
      id: fc.nat({ max: 0xffff }),
      flags: fc.integer({ min: 0, max: 0xff }),
    });
    fc.assert(
      fc.property(shape, (o) => {
        const pkt = superPacket(o);
        const ip = o.v6 ? 40 : 20;
        const hl = ip + (o.udp ? 8 : 20 + o.options);
        const type = o.udp ? GSO_UDP_L4 : o.v6 ? GSO_TCPV6 : GSO_TCPV4;
        const segs = segments(read(type, o.mss, ip, o.udp ? 6 : 16, pkt));
        expect(segs).toHaveLength(Math.max(1, Math.ceil(o.payload / o.mss)));
        // plain comparisons, one expect per property: a run cuts up to ~400 segments
        const bad = segs.findIndex(
          (s, i) =>
            s.length - hl !== Math.min(o.mss, o.payload - i * o.mss) ||
            (!o.v6 && sum(s, 0, 20) !== 0xffff) ||
            u16(s, o.v6 ? 4 : 2) !== (o.v6 ? s.length - 40 : s.length) ||
            !l4ChecksumOk(s, o.udp ? 17 : 6) ||
            (!o.v6 && u16(s, 4) !== ((o.id + i) & 0xffff)) ||
            (!o.udp && u32(s, ip + 4) !== (o.seq + i * o.mss) >>> 0) ||
            (!o.udp && s[ip + 13] !== (o.flags & ~(i < segs.length - 1 ? FIN | PSH : 0) & ~(i > 0 ? CWR : 0))),
        );
        expect(bad).toBe(-1);
        expect(Buffer.concat(segs.map((s) => s.subarray(hl))).equals(pkt.subarray(hl))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('TUN offload line', () => {
  it('says which offloads are on, and why one is off', () => {
    expect(describeOffload({ vnet: true, flags: 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40, errno: 0, refused: '' })).toEqual({ tso: true, uso: true, text: 'tso on, uso on' });
    expect(describeOffload({ vnet: true, flags: 0x0f, errno: 22, refused: 'USO' }).text).toBe('tso on, uso off (the kernel refused USO: EINVAL)');
    expect(describeOffload({ vnet: true, flags: 0, errno: 22, refused: 'TSO and checksum offload' }).text).toBe('tso off (the kernel refused TSO and checksum offload: EINVAL)');
    expect(describeOffload({ vnet: false, flags: 0, errno: 0, refused: '' }).text).toBe('tso off (not asked for)');
  });
});
