// Cutting the TUN's GSO super-packets into ordinary packets (src/wire/gso-segment.ts): hand-made
// TCPv4, TCPv6 and UDP (USO) super-packets, each segment checked as a receiver would check it:
// IP and TCP/UDP checksums over the pseudo-header, lengths, IPv4 IDs, sequence numbers, flags
// only where they belong, and the payload put back together; and NEEDS_CSUM finished in place.
import { describe, expect, it } from 'vitest';
import { foldChecksum, onesComplementSum } from '../../src/wire/checksum.js';
import { ipToBytes } from '../../src/wire/selectors.js';
import {
  finishChecksum,
  GSO_ECN,
  GSO_NONE,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP_L4,
  gsoPlan,
  newVnetHdr,
  readVnetHdr,
  segmentedLength,
  VNET_F_NEEDS_CSUM,
  writeSegments,
  type VnetHdr,
} from '../../src/wire/gso-segment.js';

const FIN = 0x01, PSH = 0x08, ACK = 0x10, CWR = 0x80;

/** An IP packet with a TCP (options: extra header octets) or UDP header and `payload`; checksums left as the kernel leaves them (0). */
function superPacket(o: { v6?: boolean; udp?: boolean; payload: number; options?: number; flags?: number; seq?: number; id?: number }): Uint8Array {
  const ip = o.v6 ? 40 : 20;
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
    p[0] = 0x45;
    p[2] = p.length >> 8;
    p[3] = p.length & 0xff;
    p[4] = (o.id ?? 0x1234) >> 8;
    p[5] = (o.id ?? 0x1234) & 0xff;
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = o.udp ? 17 : 6;
    p.set(ipToBytes('203.0.113.1'), 12);
    p.set(ipToBytes('203.0.113.129'), 16);
  }
  p[ip] = 0xc3; // source port 50000
  p[ip + 1] = 0x50;
  p[ip + 2] = 0x14; // destination port 5201
  p[ip + 3] = 0x51;
  if (!o.udp) {
    const seq = o.seq ?? 0xfffff000; // wraps within the packet
    p[ip + 4] = seq >>> 24;
    p[ip + 5] = (seq >>> 16) & 0xff;
    p[ip + 6] = (seq >>> 8) & 0xff;
    p[ip + 7] = seq & 0xff;
    p[ip + 12] = (l4 / 4) << 4;
    p[ip + 13] = o.flags ?? ACK | PSH;
    p[ip + 14] = 0xff;
    for (let i = 20; i < l4; i++) p[ip + i] = 1; // NOP options
  }
  for (let i = 0; i < o.payload; i++) p[ip + l4 + i] = (i * 7 + 3) & 0xff;
  return p;
}

function hdr(gsoType: number, gsoSize: number, csumStart: number, csumOffset: number): VnetHdr {
  const bytes = new Uint8Array(10);
  bytes[0] = VNET_F_NEEDS_CSUM;
  bytes[1] = gsoType;
  bytes[2] = 54; // hdr_len: a hint only, deliberately wrong
  bytes[4] = gsoSize & 0xff;
  bytes[5] = gsoSize >> 8;
  bytes[6] = csumStart & 0xff;
  bytes[7] = csumStart >> 8;
  bytes[8] = csumOffset;
  return readVnetHdr(bytes, 0, newVnetHdr());
}

function segment(h: VnetHdr, pkt: Uint8Array): Uint8Array[] {
  const plan = gsoPlan(h, pkt);
  if (!plan) throw new Error('no plan');
  const out = new Uint8Array(segmentedLength(plan, pkt) + 7);
  const offsets = new Uint32Array(plan.segments + 1);
  const lengths = new Uint32Array(plan.segments + 1);
  const end = writeSegments(h, plan, pkt, out, 7, offsets, lengths, 1);
  expect(end).toBe(out.length);
  return Array.from({ length: plan.segments }, (_, i) => out.slice(offsets[i + 1], offsets[i + 1] + lengths[i + 1]));
}

/** True when the TCP/UDP checksum verifies: the sum over pseudo-header and segment folds to all ones. */
function l4ChecksumOk(s: Uint8Array, proto: number): boolean {
  const v4 = s[0] >> 4 === 4;
  const ip = v4 ? 20 : 40;
  const pseudo = v4 ? onesComplementSum(s, proto + s.length - ip, 12, 20) : onesComplementSum(s, proto + s.length - ip, 8, 40);
  return foldChecksum(onesComplementSum(s, pseudo, ip)) === 0xffff;
}

const u16 = (b: Uint8Array, p: number) => (b[p] << 8) | b[p + 1];
const u32 = (b: Uint8Array, p: number) => ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;

describe('GSO segmentation (TUN offload)', () => {
  it('TCPv4: MSS-sized segments and a short last one, each with its own length, ID, sequence number and valid checksums; FIN/PSH only on the last, CWR only on the first', () => {
    const pkt = superPacket({ payload: 2 * 1000 + 345, options: 12, flags: ACK | PSH | FIN | CWR, id: 0xfffe });
    const segs = segment(hdr(GSO_TCPV4 | GSO_ECN, 1000, 20, 16), pkt);
    expect(segs.map((s) => s.length)).toEqual([1052, 1052, 397]);
    segs.forEach((s, i) => {
      expect(u16(s, 2)).toBe(s.length); // total length
      expect(u16(s, 4)).toBe((0xfffe + i) & 0xffff); // IDs go on, wrapping
      expect(foldChecksum(onesComplementSum(s, 0, 0, 20))).toBe(0xffff); // header checksum verifies
      expect(u32(s, 24)).toBe((0xfffff000 + i * 1000) >>> 0); // sequence numbers, wrapping
      expect(l4ChecksumOk(s, 6)).toBe(true);
      expect(s.subarray(40, 52)).toEqual(pkt.subarray(40, 52)); // options copied
    });
    expect(segs.map((s) => s[33])).toEqual([ACK | CWR, ACK, ACK | PSH | FIN]);
    const payload = Buffer.concat(segs.map((s) => s.subarray(52)));
    expect(new Uint8Array(payload)).toEqual(pkt.subarray(52));
  });

  it('TCPv6: payload lengths, sequence numbers and checksums over the IPv6 pseudo-header', () => {
    const pkt = superPacket({ v6: true, payload: 3 * 1208 + 1, seq: 1 });
    const segs = segment(hdr(GSO_TCPV6, 1208, 40, 16), pkt);
    expect(segs.map((s) => s.length)).toEqual([1268, 1268, 1268, 61]);
    segs.forEach((s, i) => {
      expect(u16(s, 4)).toBe(s.length - 40);
      expect(u32(s, 44)).toBe(1 + i * 1208);
      expect(l4ChecksumOk(s, 6)).toBe(true);
    });
    expect(segs.map((s) => s[53] & PSH)).toEqual([0, 0, 0, PSH]);
    expect(new Uint8Array(Buffer.concat(segs.map((s) => s.subarray(60))))).toEqual(pkt.subarray(60));
  });

  it('a payload of exactly n MSS makes n full segments, none empty', () => {
    const segs = segment(hdr(GSO_TCPV4, 500, 20, 16), superPacket({ payload: 1500 }));
    expect(segs.map((s) => s.length)).toEqual([540, 540, 540]);
  });

  it('UDP (USO), IPv4 and IPv6: each segment a datagram with its own UDP length and checksum', () => {
    for (const v6 of [false, true]) {
      const pkt = superPacket({ v6, udp: true, payload: 2600 });
      const ip = v6 ? 40 : 20;
      const segs = segment(hdr(GSO_UDP_L4, 1200, ip, 6), pkt);
      expect(segs.map((s) => s.length)).toEqual([ip + 1208, ip + 1208, ip + 208]);
      segs.forEach((s) => {
        expect(u16(s, ip + 4)).toBe(s.length - ip);
        expect(u16(s, ip + 6)).not.toBe(0);
        expect(l4ChecksumOk(s, 17)).toBe(true);
      });
      if (!v6) expect(segs.map((s) => u16(s, 4))).toEqual([0x1234, 0x1235, 0x1236]);
    }
  });

  it('refuses what it cannot cut: a type that does not match the IP version or protocol, a csum_start off the header, truncated headers, gso_size 0', () => {
    const v4 = superPacket({ payload: 100 });
    expect(gsoPlan(hdr(GSO_TCPV6, 50, 20, 16), v4)).toBeUndefined();
    expect(gsoPlan(hdr(GSO_UDP_L4, 50, 20, 6), v4)).toBeUndefined();
    expect(gsoPlan(hdr(GSO_TCPV4, 50, 24, 16), v4)).toBeUndefined();
    expect(gsoPlan(hdr(GSO_TCPV4, 0, 20, 16), v4)).toBeUndefined();
    expect(gsoPlan(hdr(3 /* UFO: not enabled */, 50, 20, 6), v4)).toBeUndefined();
    expect(gsoPlan(hdr(GSO_TCPV4, 50, 20, 16), v4.subarray(0, 30))).toBeUndefined();
    expect(gsoPlan(hdr(GSO_TCPV4, 50, 20, 16), v4)).toMatchObject({ headerLength: 40, segments: 2 });
  });

  it('NEEDS_CSUM without GSO: finishes the checksum the kernel started with the pseudo-header sum', () => {
    for (const [v6, udp] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const pkt = superPacket({ v6, udp, payload: 333 });
      const ip = v6 ? 40 : 20;
      const field = ip + (udp ? 6 : 16);
      const proto = udp ? 17 : 6;
      // what the kernel leaves there: the folded pseudo-header sum, not complemented
      const pseudo = foldChecksum(v6 ? onesComplementSum(pkt, proto + pkt.length - ip, 8, 40) : onesComplementSum(pkt, proto + pkt.length - ip, 12, 20));
      pkt[field] = pseudo >> 8;
      pkt[field + 1] = pseudo & 0xff;
      expect(finishChecksum(hdr(GSO_NONE, 0, ip, udp ? 6 : 16), pkt)).toBe(true);
      expect(l4ChecksumOk(pkt, proto)).toBe(true);
    }
    expect(finishChecksum(hdr(GSO_NONE, 0, 20, 16), new Uint8Array(30))).toBe(false);
  });
});
