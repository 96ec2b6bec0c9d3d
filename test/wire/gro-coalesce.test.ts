// Coalescing inner TCP segments into GSO super-packets for one TUN write each
// (src/wire/gro-coalesce.ts): what a run is and where it ends, and that the super-packet is one
// the kernel takes: vnet header, IP lengths and header checksum, the pseudo-header sum for
// NEEDS_CSUM, PSH from the last segment, and the payload in order. Segments are made by the TUN
// reader's segmenter (native/src/gso_segment.cc) from hand-made super-packets, so cutting and
// coalescing are checked against each other.
import { describe, expect, it } from 'vitest';
import { foldChecksum, onesComplementSum } from '../../src/wire/checksum.js';
import { GroCoalescer } from '../../src/wire/gro-coalesce.js';
import { GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, VNET_F_NEEDS_CSUM } from '../../src/wire/vnet-hdr.js';
import { cutRead } from '../../src/io/tun-offload.js';
import { ipToBytes } from '../../src/wire/selectors.js';
import { udpPacket } from '../ipsec/helpers.js';

const ACK = 0x10, PSH = 0x08, SYN = 0x02;

function tcp(o: { v6?: boolean; payload: number; seq: number; flags?: number; sport?: number; ts?: number }): Uint8Array {
  const ip = o.v6 ? 40 : 20;
  const p = new Uint8Array(ip + 32 + o.payload);
  if (o.v6) {
    p.set([0x60, 0, 0, 0, (32 + o.payload) >> 8, (32 + o.payload) & 0xff, 6, 64], 0);
    p.set(ipToBytes('2001:db8::1'), 8);
    p.set(ipToBytes('2001:db8:1::9'), 24);
  } else {
    p.set([0x45, 0, p.length >> 8, p.length & 0xff, 0, 9, 0x40, 0, 64, 6], 0);
    p.set(ipToBytes('203.0.113.129'), 12);
    p.set(ipToBytes('203.0.113.1'), 16);
  }
  const t = ip;
  p[t] = 0x14; // 5201 -> sport
  p[t + 1] = 0x51;
  p[t + 2] = (o.sport ?? 50000) >> 8;
  p[t + 3] = (o.sport ?? 50000) & 0xff;
  p.set([o.seq >>> 24, (o.seq >>> 16) & 0xff, (o.seq >>> 8) & 0xff, o.seq & 0xff], t + 4);
  p.set([0, 0, 0x10, 0], t + 8); // ACK number
  p[t + 12] = 0x80; // 32-octet header: NOP NOP timestamps
  p[t + 13] = o.flags ?? ACK;
  p[t + 14] = 0x01;
  p.set([1, 1, 8, 10, 0, 0, 0, o.ts ?? 1, 0, 0, 0, 2], t + 20);
  for (let i = 0; i < o.payload; i++) p[t + 32 + i] = (o.seq + i) & 0xff;
  return p;
}

/** The segments the segmenter cuts a `payload`-octet super-packet into at `mss`. */
function segmentsOf(v6: boolean, payload: number, mss: number, flags = ACK | PSH): Uint8Array[] {
  const sup = tcp({ v6, payload, seq: 0xfffffff0, flags });
  const read = new Uint8Array(10 + sup.length);
  read.set([VNET_F_NEEDS_CSUM, v6 ? GSO_TCPV6 : GSO_TCPV4, 0, 0, mss & 0xff, mss >> 8, v6 ? 40 : 20, 0, 16, 0]);
  read.set(sup, 10);
  const out = new Uint8Array(2 * sup.length);
  const offs = new Uint32Array(256), lens = new Uint32Array(256);
  const n = cutRead(read, out, offs, lens);
  return Array.from({ length: n }, (_, i) => out.slice(offs[i], offs[i] + lens[i]));
}

function coalesce(pkts: Uint8Array[], udp = false): { g: GroCoalescer; entries: Uint8Array[] } {
  const buf = Buffer.concat(pkts);
  const offs = new Uint32Array(pkts.length), lens = new Uint32Array(pkts.length);
  let off = 0;
  pkts.forEach((p, i) => ((offs[i] = off), (lens[i] = p.length), (off += p.length)));
  const g = new GroCoalescer({ udp }).coalesce(buf, offs, lens, pkts.length);
  return { g, entries: Array.from({ length: g.count }, (_, i) => g.slab.slice(g.offsets[i], g.offsets[i] + g.lengths[i])) };
}

const le16 = (b: Uint8Array, p: number) => b[p] | (b[p + 1] << 8);
const u16 = (b: Uint8Array, p: number) => (b[p] << 8) | b[p + 1];

/**
 * The one entry a run became, checked as a super-packet the kernel takes: the virtio_net_hdr
 * (NEEDS_CSUM, GSO type, hdr_len, gso_size, csum_start, csum_offset), the IP length (and IPv4
 * header checksum), and the pseudo-header sum in the L4 checksum field. Returns the IP packet.
 */
function superPacket(
  g: GroCoalescer,
  entries: Uint8Array[],
  o: { v6: boolean; gsoType: number; l4Header: number; proto: number; segments: number; gsoSize: number; length: number },
): Uint8Array {
  expect(g.count).toBe(1);
  expect(g.stats).toEqual({ superPackets: 1, coalesced: o.segments });
  const e = entries[0];
  const ip = o.v6 ? 40 : 20;
  const csumOffset = o.proto === 6 ? 16 : 6;
  expect([e[0], e[1], le16(e, 2), le16(e, 4), le16(e, 6), le16(e, 8)]).toEqual([VNET_F_NEEDS_CSUM, o.gsoType, ip + o.l4Header, o.gsoSize, ip, csumOffset]);
  const p = e.subarray(10);
  expect(p.length).toBe(o.length);
  if (o.v6) expect(u16(p, 4)).toBe(p.length - 40);
  else {
    expect(u16(p, 2)).toBe(p.length);
    expect(foldChecksum(onesComplementSum(p, 0, 0, 20))).toBe(0xffff);
  }
  const l4 = p.length - ip;
  const pseudo = o.v6 ? onesComplementSum(p, o.proto + l4, 8, 40) : onesComplementSum(p, o.proto + l4, 12, 20);
  expect(u16(p, ip + csumOffset)).toBe(foldChecksum(pseudo)); // for the kernel to finish
  return p;
}

describe('GRO coalescing for TUN writes', () => {
  for (const v6 of [false, true]) {
    it(`IPv${v6 ? 6 : 4}: the segments of one run become one super-packet the kernel can take, payload intact`, () => {
      const segs = segmentsOf(v6, 5 * 1300 + 77, 1300);
      const { g, entries } = coalesce(segs);
      const ip = v6 ? 40 : 20;
      const p = superPacket(g, entries, { v6, gsoType: v6 ? GSO_TCPV6 : GSO_TCPV4, l4Header: 32, proto: 6, segments: 6, gsoSize: 1300, length: ip + 32 + 5 * 1300 + 77 });
      expect(p[ip + 13]).toBe(ACK | PSH); // PSH from the last segment
      expect(p.subarray(ip + 4, ip + 8)).toEqual(segs[0].subarray(ip + 4, ip + 8)); // the first sequence number
      expect(p.subarray(ip + 32)).toEqual(new Uint8Array(Buffer.concat(segs.map((s) => s.subarray(ip + 32)))));
    });
  }

  it('ends a run at a gap in the sequence, another flow, a short or pushed segment, other options, and leaves SYNs and non-TCP alone', () => {
    const s = (seq: number, extra: Partial<Parameters<typeof tcp>[0]> = {}) => tcp({ payload: 100, seq, ...extra });
    const { g, entries } = coalesce([
      s(0), s(100), s(200), // run 1: three
      s(400), // gap: starts run 2
      s(500, { sport: 1 }), // another flow
      s(600, { sport: 1, ts: 2 }), // other timestamps: not the same run
      tcp({ payload: 50, seq: 700, sport: 1, ts: 2 }), s(750, { sport: 1, ts: 2 }), // short segment ends the run after it
      s(0, { flags: ACK | PSH, sport: 2 }), s(100, { sport: 2 }), // pushed: the run ends with it
      s(0, { flags: SYN, sport: 3 }), // SYN alone
      udpPacket('203.0.113.129', '203.0.113.1', 1, 2, 100), // not TCP
    ]);
    expect([...g.lengths.subarray(0, g.count)].map((l) => l - 10)).toEqual([
      52 + 300, 152, 152, 152 + 50, 152, 152, 152, 152, 128,
    ]);
    expect(entries.map((e) => e[1])).toEqual([GSO_TCPV4, 0, 0, GSO_TCPV4, 0, 0, 0, 0, 0]);
    expect(entries[1].subarray(0, 10)).toEqual(new Uint8Array(10)); // alone: a zero header
    expect(g.stats).toEqual({ superPackets: 2, coalesced: 5 });
  });

  it('a run stops short of 64 KB', () => {
    const segs = Array.from({ length: 60 }, (_, i) => tcp({ payload: 1400, seq: i * 1400 }));
    const { entries } = coalesce(segs);
    expect(entries.length).toBe(2);
    expect(entries.every((e) => e.length - 10 <= 65535)).toBe(true);
  });
});

/** A UDP datagram of one flow with a correct checksum and `payload` octets of (seed + i). */
function udp(o: { v6?: boolean; payload: number; id?: number; seed?: number; sport?: number; df?: boolean; ttl?: number }): Uint8Array {
  const v6 = o.v6 ?? false;
  const p = udpPacket(v6 ? '2001:db8::1' : '203.0.113.1', v6 ? '2001:db8:1::9' : '203.0.113.129', o.sport ?? 40000, 5201, o.payload);
  const ip = v6 ? 40 : 20;
  if (v6) p[7] = o.ttl ?? 64;
  else {
    p[4] = (o.id ?? 0) >> 8;
    p[5] = (o.id ?? 0) & 0xff;
    p[6] = o.df === false ? 0 : 0x40;
    p[8] = o.ttl ?? 64;
    p[10] = p[11] = 0;
    const c = foldChecksum(onesComplementSum(p, 0, 0, 20)) ^ 0xffff;
    p[10] = c >> 8;
    p[11] = c & 0xff;
  }
  for (let i = 0; i < o.payload; i++) p[ip + 8 + i] = ((o.seed ?? 0) + i * 7) & 0xff;
  const len = p.length - ip;
  p[ip + 6] = p[ip + 7] = 0;
  const pseudo = v6 ? onesComplementSum(p, 17 + len, 8, 40) : onesComplementSum(p, 17 + len, 12, 20);
  const c = foldChecksum(onesComplementSum(p, pseudo, ip, p.length)) ^ 0xffff || 0xffff;
  p[ip + 6] = c >> 8;
  p[ip + 7] = c & 0xff;
  return p;
}

/** Cuts a coalesced entry (vnet header + IP packet) the way the kernel does: the project's segmenter (the TUN reader's, in C). */
function cut(entry: Uint8Array): Uint8Array[] {
  const out = new Uint8Array(1 << 20); // room for any cut of a 64 KB super-packet, headers repeated
  const offs = new Uint32Array(2048), lens = new Uint32Array(2048);
  const n = cutRead(entry, out, offs, lens);
  return Array.from({ length: n }, (_, i) => out.slice(offs[i], offs[i] + lens[i]));
}

describe('GRO coalescing of UDP datagrams (USO) for TUN writes', () => {
  for (const v6 of [false, true]) {
    it(`IPv${v6 ? 6 : 4}: one flow's datagrams become one GSO_UDP_L4 super-packet that cuts back into the same datagrams, byte for byte`, () => {
      const dgrams = [...Array.from({ length: 5 }, (_, i) => udp({ v6, payload: 1300, id: 7 + i, seed: i })), udp({ v6, payload: 411, id: 12, seed: 5 })];
      const { g, entries } = coalesce(dgrams, true);
      const ip = v6 ? 40 : 20;
      const p = superPacket(g, entries, { v6, gsoType: GSO_UDP_L4, l4Header: 8, proto: 17, segments: 6, gsoSize: 1300, length: ip + 8 + 5 * 1300 + 411 });
      expect(u16(p, ip + 4)).toBe(p.length - ip); // UDP Length of the whole
      expect(cut(entries[0])).toEqual(dgrams);
    });
  }

  it('without USO (udp off) every datagram is written alone behind a zero header', () => {
    const dgrams = Array.from({ length: 4 }, (_, i) => udp({ payload: 1300, id: i }));
    const { g, entries } = coalesce(dgrams, false);
    expect(g.count).toBe(4);
    expect(entries.every((e) => e.subarray(0, 10).every((b) => b === 0))).toBe(true);
    expect(g.stats).toEqual({ superPackets: 0, coalesced: 0 });
  });

  it('ends a run at another flow, a longer or short datagram, another TTL, a gap in the IDs without DF, and at 64 datagrams', () => {
    const { g, entries } = coalesce(
      [
        udp({ payload: 100, id: 1 }), udp({ payload: 100, id: 1 }), // DF: IDs carry nothing, run 1
        udp({ payload: 100, sport: 2 }), // another flow
        udp({ payload: 100, sport: 2, ttl: 9 }), // another TTL
        udp({ payload: 50, sport: 2, ttl: 9 }), udp({ payload: 50, sport: 2, ttl: 9 }), // short ends the run after it
        udp({ payload: 100, df: false, id: 5, sport: 3 }), udp({ payload: 100, df: false, id: 6, sport: 3 }), udp({ payload: 100, df: false, id: 8, sport: 3 }), // ID gap
        udp({ payload: 100, sport: 4 }), udp({ payload: 101, sport: 4 }), // longer: alone
        ...Array.from({ length: 70 }, () => udp({ payload: 20, sport: 5 })),
        tcp({ payload: 100, seq: 0 }), // TCP between: its own entry
      ],
      true,
    );
    // datagrams per write
    expect(entries.map((e) => (e[1] === GSO_UDP_L4 ? cut(e).length : 1))).toEqual([2, 1, 2, 1, 2, 1, 1, 1, 64, 6, 1]);
    expect(entries[10][1]).toBe(0);
    expect(g.stats).toEqual({ superPackets: 5, coalesced: 2 + 2 + 2 + 64 + 6 });
  });

  it('a UDP run stops short of 64 KB', () => {
    const dgrams = Array.from({ length: 60 }, (_, i) => udp({ payload: 1400, id: i }));
    const { entries } = coalesce(dgrams, true);
    expect(entries.length).toBe(2);
    expect(entries.every((e) => e.length - 10 <= 65535)).toBe(true);
    expect(entries.flatMap(cut)).toEqual(dgrams);
  });
});
