import { describe, it, expect } from 'vitest';
import { clampMss } from '../../src/ipsec/mss.js';
import { ipToBytes } from '../../src/wire/selectors.js';

const SYN = 0x02;
const ACK = 0x10;

/** Full TCP checksum (RFC 9293 §3.1 pseudo-header; RFC 8200 §8.1 for IPv6), computed from scratch. */
function tcpChecksum(p: Uint8Array, tcp: number, end: number): number {
  const v6 = p[0] >> 4 === 6;
  const words: number[] = [];
  const addBytes = (b: Uint8Array) => {
    for (let i = 0; i < b.length; i += 2) words.push((b[i] << 8) | (i + 1 < b.length ? b[i + 1] : 0));
  };
  const len = end - tcp;
  if (v6) {
    addBytes(p.subarray(8, 40));
    words.push(len >>> 16, len & 0xffff, 0, 6);
  } else {
    addBytes(p.subarray(12, 20));
    words.push(6, len);
  }
  const seg = p.slice(tcp, end);
  seg[16] = 0;
  seg[17] = 0;
  addBytes(seg);
  let sum = words.reduce((a, b) => a + b, 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

interface Built {
  packet: Uint8Array;
  tcp: number;
}

/** A TCP segment with the given options (padded to 4 with End of Options) and payload, checksum set. */
function segment(
  o: { v6?: boolean; flags?: number; options?: number[]; payload?: number; ext?: boolean; sport?: number; seq?: number } = {},
): Built {
  const opts = [...(o.options ?? [])];
  while (opts.length % 4 !== 0) opts.push(0);
  const ipHeader = o.v6 ? 40 + (o.ext ? 8 : 0) : 20;
  const tcpLength = 20 + opts.length + (o.payload ?? 0);
  const p = new Uint8Array(ipHeader + tcpLength);
  if (o.v6) {
    p[0] = 0x60;
    p[4] = (ipHeader - 40 + tcpLength) >> 8;
    p[5] = (ipHeader - 40 + tcpLength) & 0xff;
    p[6] = o.ext ? 60 : 6;
    p[7] = 64;
    p.set(ipToBytes('2001:db8:1::7'), 8);
    p.set(ipToBytes('2001:db8:2::9'), 24);
    if (o.ext) p.set([6, 0, 1, 4, 0, 0, 0, 0], 40); // RFC 8200 §4.6 Destination Options, PadN
  } else {
    p[0] = 0x45;
    p[2] = p.length >> 8;
    p[3] = p.length & 0xff;
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = 6;
    p.set(ipToBytes('192.0.2.7'), 12);
    p.set(ipToBytes('203.0.113.9'), 16);
  }
  const t = ipHeader;
  const sport = o.sport ?? 40000;
  p.set([sport >> 8, sport & 0xff, 0x01, 0xbb], t);
  const seq = o.seq ?? 0x12345678;
  p.set([seq >>> 24, (seq >> 16) & 0xff, (seq >> 8) & 0xff, seq & 0xff], t + 4);
  p[t + 12] = ((20 + opts.length) / 4) << 4;
  p[t + 13] = o.flags ?? SYN;
  p[t + 14] = 0xfa;
  p[t + 15] = 0xf0;
  p.set(opts, t + 20);
  for (let i = t + 20 + opts.length; i < p.length; i++) p[i] = (i * 7) & 0xff;
  const c = tcpChecksum(p, t, p.length);
  p[t + 16] = c >> 8;
  p[t + 17] = c & 0xff;
  return { packet: p, tcp: t };
}

const mssOpt = (v: number) => [2, 4, v >> 8, v & 0xff];
const NOP = 1;
const wscale = [3, 3, 7];
const sackOk = [4, 2];
const timestamps = [8, 10, 0, 0, 0, 1, 0, 0, 0, 0];

/** The MSS value(s) a receiver would read from the options. */
function readMss(b: Built): number[] {
  const p = b.packet;
  const end = b.tcp + (p[b.tcp + 12] >> 4) * 4;
  const found: number[] = [];
  for (let i = b.tcp + 20; i < end; ) {
    if (p[i] === 0) break;
    if (p[i] === 1) {
      i++;
      continue;
    }
    if (p[i] === 2) found.push((p[i + 2] << 8) | p[i + 3]);
    i += p[i + 1];
  }
  return found;
}

function storedChecksum(b: Built): number {
  return (b.packet[b.tcp + 16] << 8) | b.packet[b.tcp + 17];
}

describe('clampMss', () => {
  const layouts: Array<[string, number[]]> = [
    ['MSS first (Linux SYN layout)', [...mssOpt(1460), ...sackOk, ...timestamps, NOP, ...wscale]],
    ['MSS at an odd offset after one NOP', [NOP, ...mssOpt(1460), NOP, NOP, NOP]],
    ['MSS last after timestamps and window scale', [NOP, NOP, ...timestamps, NOP, ...wscale, ...mssOpt(8960)]],
    ['MSS after an odd-length option', [...wscale, ...mssOpt(1440)]],
  ];
  for (const v6 of [false, true]) {
    for (const [name, options] of layouts) {
      for (const flags of [SYN, SYN | ACK]) {
        it(`IPv${v6 ? 6 : 4} ${flags & ACK ? 'SYN-ACK' : 'SYN'}, ${name}: lowered to the clamp, checksum equals a full recomputation`, () => {
          const b = segment({ v6, flags, options, payload: 0 });
          const before = readMss(b)[0];
          expect(clampMss(b.packet, 1360)).toBe(true);
          expect(readMss(b)).toEqual([Math.min(before, 1360)]);
          expect(storedChecksum(b)).toBe(tcpChecksum(b.packet, b.tcp, b.packet.length));
        });
      }
    }
  }

  it('IPv6 with an extension header before TCP is clamped too', () => {
    const b = segment({ v6: true, ext: true, options: [NOP, ...mssOpt(1440), NOP, NOP, NOP] });
    expect(clampMss(b.packet, 1220)).toBe(true);
    expect(readMss(b)).toEqual([1220]);
    expect(storedChecksum(b)).toBe(tcpChecksum(b.packet, b.tcp, b.packet.length));
  });

  it('the incremental update matches a full recomputation across many checksums, MSS values and alignments', () => {
    let seed = 99;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let i = 0; i < 3000; i++) {
      const lead = Array<number>(rnd(4)).fill(NOP);
      const from = 1 + rnd(0xffff);
      const to = rnd(0x10000);
      const b = segment({ v6: rnd(2) === 1, options: [...lead, ...mssOpt(from)], payload: rnd(40), sport: rnd(0x10000), seq: rnd(0x7fffffff) });
      expect(clampMss(b.packet, to)).toBe(from > to);
      expect(readMss(b)).toEqual([Math.min(from, to)]);
      expect(storedChecksum(b)).toBe(tcpChecksum(b.packet, b.tcp, b.packet.length));
    }
  });

  it('leaves a SYN whose MSS is already small enough, a SYN without MSS, and non-SYN segments untouched', () => {
    const cases = [
      segment({ options: mssOpt(1200) }),
      segment({ options: [NOP, ...wscale, ...sackOk] }),
      segment({ options: [] }),
      segment({ flags: ACK, options: mssOpt(1460) }),
      segment({ v6: true, flags: ACK, options: mssOpt(1460), payload: 100 }),
    ];
    for (const b of cases) {
      const copy = b.packet.slice();
      expect(clampMss(b.packet, 1300)).toBe(false);
      expect(b.packet).toEqual(copy);
    }
  });

  it('clamps every MSS option of a segment that carries two', () => {
    const b = segment({ options: [...mssOpt(1460), ...mssOpt(9000)] });
    expect(clampMss(b.packet, 1300)).toBe(true);
    expect(readMss(b)).toEqual([1300, 1300]);
    expect(storedChecksum(b)).toBe(tcpChecksum(b.packet, b.tcp, b.packet.length));
  });

  it('never throws and never changes truncated, fragmented, malformed or non-TCP packets', () => {
    const full = segment({ options: [...mssOpt(1460), NOP, ...wscale] }).packet;
    for (let n = 0; n < full.length; n++) {
      const cut = full.slice(0, n);
      const copy = cut.slice();
      expect(clampMss(cut, 1000)).toBe(false);
      expect(cut).toEqual(copy);
    }
    const full6 = segment({ v6: true, ext: true, options: mssOpt(1460) }).packet;
    for (let n = 0; n < full6.length; n++) expect(clampMss(full6.slice(0, n), 1000)).toBe(false);

    const fragment = segment({ options: mssOpt(1460) }).packet;
    fragment[6] = 0x20; // MF: a first fragment
    const later = segment({ options: mssOpt(1460) }).packet;
    later[7] = 0x10; // a non-first fragment
    const badLen = segment({ options: [2, 4, 5, 0xb4, 8, 0, 0, 0] }).packet; // option length 0
    const overrun = segment({ options: [NOP, NOP, NOP, 8, 10, 0, 0, 0] }).packet; // runs past the header
    const mssLen = segment({ options: [2, 3, 5, 0] }).packet; // MSS with length 3
    const udp = segment({ options: mssOpt(1460) }).packet;
    udp[9] = 17;
    const dataOffset = segment({ options: mssOpt(1460) }).packet;
    dataOffset[20 + 12] = 0xf0; // 60-byte TCP header in a shorter packet
    const badVersion = segment({ options: mssOpt(1460) }).packet;
    badVersion[0] = 0x55;
    for (const p of [fragment, later, badLen, overrun, mssLen, udp, dataOffset, badVersion]) {
      const copy = p.slice();
      expect(clampMss(p, 1000)).toBe(false);
      expect(p).toEqual(copy);
    }
  });

  it('rejects a clamp value outside 0..65535 with RangeError', () => {
    const b = segment({ options: mssOpt(1460) });
    expect(() => clampMss(b.packet, 70000)).toThrow(RangeError);
    expect(() => clampMss(b.packet, 1.5)).toThrow(RangeError);
  });
});
