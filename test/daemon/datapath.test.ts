// The datapath's own decisions around processOutbound/processInbound: batching of sends and
// TUN writes, ICMP for packets over the tunnel MTU (failure map F7), MSS clamping, and
// that a bad batch is counted instead of crashing the daemon.
import { describe, expect, it } from 'vitest';
import { Datapath } from '../../src/daemon/datapath.js';
import { silentLogger } from '../../src/daemon/log.js';
import { ipToBytes } from '../../src/wire/selectors.js';
import { tooBigReply } from '../../src/ipsec/icmp.js';
import { clampMss } from '../../src/ipsec/mss.js';
import { Sad } from '../../src/ipsec/sad.js';
import { Spd } from '../../src/ipsec/spd.js';
import { decodeIpPacket } from '../../src/wire/ip.js';
import { bytesToIp } from '../../src/wire/ip-text.js';
import { gcm, hasNativeAead, nativeAead, NEEDS_NATIVE, pair, sel, udpPacket } from '../ipsec/helpers.js';
import type { InPlaceAeadFactory } from '../../src/crypto/aead.js';
import { processOutbound } from '../../src/ipsec/outbound.js';

function rig(o: { innerMtu?: number; mss?: boolean; seqSoftLimit?: bigint; inPlaceAead?: InPlaceAeadFactory } = {}) {
  const sad = new Sad({ inPlaceAead: o.inPlaceAead });
  const spd = new Spd();
  const p = pair(() => gcm(), { a: ['192.0.2.0/24'], b: ['203.0.113.0/24'] });
  const out = sad.addOutbound({ ...p.out, outer: { addr: '198.51.100.2', port: 4500, encap: true }, seqSoftLimit: o.seqSoftLimit }, 0);
  spd.add({ local: sel('192.0.2.0/24'), remote: sel('203.0.113.0/24'), action: 'protect', sa: out });
  const tun: Uint8Array[][] = [];
  const tunWrites: { buf: Uint8Array; offsets: number[]; packets: Uint8Array[] }[] = [];
  const sends: { n: number; to: string }[] = [];
  const dp = new Datapath({
    sad,
    spd,
    tun: {
      writeBatch: (b, offs, lens, n) => {
        const packets = Array.from({ length: n }, (_, i) => b.slice(offs[i], offs[i] + lens[i]));
        tun.push(packets);
        tunWrites.push({ buf: b, offsets: [...offs.subarray(0, n)], packets });
        return n;
      },
    },
    sendUdp: (_b, _o, _l, n, to) => (sends.push({ n, to: `${to.addr}:${to.port}` }), n),
    now: () => 0,
    innerMtu: o.innerMtu ?? 1400,
    tooBig: (inner, mtu) => tooBigReply(inner, mtu, ipToBytes('198.51.100.2'), undefined),
    clampMss: o.mss ? clampMss : undefined,
    log: silentLogger,
  });
  return { dp, sad, tun, tunWrites, sends };
}

const batchOf = (pkts: Uint8Array[]) => {
  const buf = Buffer.concat(pkts);
  const offsets = new Uint32Array(pkts.length);
  let off = 0;
  pkts.forEach((p, i) => ((offsets[i] = off), (off += p.length)));
  return { buf, offsets, lengths: Uint32Array.from(pkts.map((p) => p.length)), count: pkts.length };
};

const withDf = (p: Uint8Array): Uint8Array => {
  p[6] |= 0x40; // RFC 791: Don't Fragment
  return p;
};

function tcpSyn(mss: number): Uint8Array {
  const p = new Uint8Array(44);
  p[0] = 0x45;
  p[3] = 44;
  p[8] = 64;
  p[9] = 6;
  p.set(ipToBytes('192.0.2.7'), 12);
  p.set(ipToBytes('203.0.113.9'), 16);
  p[20] = 0x30; // port 12345 -> 80
  p[21] = 0x39;
  p[23] = 80;
  p[32] = 0x60; // data offset 6 words
  p[33] = 0x02; // SYN
  p[40] = 2; // MSS option
  p[41] = 4;
  p[42] = mss >> 8;
  p[43] = mss & 0xff;
  return p;
}

describe('datapath', () => {
  it('sends a batch of inner packets with one call per destination', () => {
    const { dp, sends } = rig();
    dp.outbound(batchOf([1, 2, 3, 4].map((i) => udpPacket('192.0.2.7', '203.0.113.9', 1000 + i, 53, 50 * i))));
    expect(sends).toEqual([{ n: 4, to: '198.51.100.2:4500' }]);
  });

  it('returns the outbound SA\'s sequence-number soft limit once, when a batch reaches it, for the daemon to rekey (RFC 4303 §3.3.3)', () => {
    const { dp, sends } = rig({ seqSoftLimit: 3n });
    const batch = () => batchOf([1, 2].map((i) => udpPacket('192.0.2.7', '203.0.113.9', 1000 + i, 53, 50)));
    expect(dp.outbound(batch())).toEqual([]);
    const events = dp.outbound(batch()); // sequence numbers 3 and 4
    expect(events).toEqual([{ type: 'seq-soft-limit', spi: expect.any(Number) }]);
    expect(dp.outbound(batch())).toEqual([]);
    expect(sends.reduce((n, s) => n + s.n, 0)).toBe(6); // the packets still went out
  });

  it('keeps the last eight packets no selector matched (no-policy) in a ring: addresses and protocol, oldest first', () => {
    const { dp, sad } = rig();
    dp.outbound(batchOf([udpPacket('192.0.2.7', '203.0.113.9', 1000, 53, 50), udpPacket('192.0.2.7', '198.51.100.77', 1000, 53, 50)]));
    expect(sad.counters.outbound.drops['no-policy']).toBe(1);
    expect(dp.spdMisses.list().map((m) => [bytesToIp(m.src), bytesToIp(m.dst), m.protocol])).toEqual([['192.0.2.7', '198.51.100.77', 17]]);
    dp.outbound(batchOf(Array.from({ length: 10 }, (_, i) => udpPacket('192.0.2.7', `198.51.100.${i}`, 1000, 53, 50))));
    expect(dp.spdMisses.list().map((m) => bytesToIp(m.dst))).toEqual(['198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.5', '198.51.100.6', '198.51.100.7', '198.51.100.8', '198.51.100.9']);
    dp.outbound(batchOf([udpPacket('2001:db8::1', '2001:db8:9::1', 1, 2, 60)]));
    expect(dp.spdMisses.list().map((m) => bytesToIp(m.dst)).at(-1)).toBe('2001:db8:9::1');
  });

  it('an outbound SA with no outer path sends nothing and counts its packets under no-destination', () => {
    const { dp, sad, sends } = rig();
    for (const sa of sad.list()) sa.outer = undefined;
    dp.outbound(batchOf([udpPacket('192.0.2.7', '203.0.113.9', 1000, 53, 50)]));
    expect(sends).toHaveLength(0);
    expect(dp.stats.noDest).toBe(1);
  });

  it('answers a DF packet over the tunnel MTU with ICMP "fragmentation needed" into the TUN, and sends the rest', () => {
    const { dp, tun, sends } = rig({ innerMtu: 1000 });
    const big = withDf(udpPacket('192.0.2.7', '203.0.113.9', 1000, 53, 1200));
    const small = udpPacket('192.0.2.7', '203.0.113.9', 1001, 53, 100);
    dp.outbound(batchOf([big, small]));
    expect(dp.stats.icmpTooBig).toBe(1);
    expect(sends).toEqual([{ n: 1, to: '198.51.100.2:4500' }]);
    expect(tun).toHaveLength(1);
    const icmp = decodeIpPacket(tun[0][0]);
    expect(icmp.protocol).toBe(1);
    expect(Array.from(icmp.dst)).toEqual(Array.from(ipToBytes('192.0.2.7'))); // back to the sender
    const body = tun[0][0].subarray(icmp.headerLength);
    expect([body[0], body[1]]).toEqual([3, 4]); // RFC 792 type 3 code 4
    expect((body[6] << 8) | body[7]).toBe(1000); // RFC 1191 next-hop MTU = the tunnel MTU
  });

  it('a learnt path MTU to the peer lowers its SA\'s MTU: a DF packet over it gets "fragmentation needed" naming it, until the route applies again (F7)', () => {
    const { dp, tun, sends } = rig({ innerMtu: 1438 });
    // outer 1300: IPv4 20 + UDP 8 + SPI/Seq 8 + IV 8 + Pad Length/Next Header 2 + ICV 16 = 62, 4-octet alignment
    dp.setPathMtu('198.51.100.2', 1300);
    const fits = withDf(udpPacket('192.0.2.7', '203.0.113.9', 1000, 53, 1238 - 28));
    const over = withDf(udpPacket('192.0.2.7', '203.0.113.9', 1001, 53, 1239 - 28));
    dp.outbound(batchOf([fits, over]));
    expect(sends).toEqual([{ n: 1, to: '198.51.100.2:4500' }]);
    expect(dp.stats.icmpTooBig).toBe(1);
    const body = tun[0][0].subarray(20);
    expect([body[0], body[1], (body[6] << 8) | body[7]]).toEqual([3, 4, 1238]);
    dp.setPathMtu('198.51.100.2', undefined); // expired: the route's MTU again
    dp.outbound(batchOf([over]));
    expect(sends).toEqual([{ n: 1, to: '198.51.100.2:4500' }, { n: 1, to: '198.51.100.2:4500' }]);
    expect(dp.stats.icmpTooBig).toBe(1);
  });

  it('clamps SYNs to the learnt path MTU\'s tunnel MTU', () => {
    const { dp } = rig({ innerMtu: 1438, mss: true });
    dp.setPathMtu('198.51.100.2', 1300);
    const b = batchOf([tcpSyn(1460)]);
    dp.outbound(b);
    expect((b.buf[42] << 8) | b.buf[43]).toBe(1198); // 1238 - 20 (IPv4) - 20 (TCP)
  });

  it('lowers the MSS of an outgoing SYN to fit the tunnel when asked to', () => {
    const { dp, sad } = rig({ innerMtu: 1400, mss: true });
    const syn = tcpSyn(1460);
    const b = batchOf([syn]);
    dp.outbound(b);
    expect(dp.stats.mssClamped).toBe(1);
    expect((b.buf[42] << 8) | b.buf[43]).toBe(1360); // 1400 - 20 (IPv4) - 20 (TCP)
    expect(sad.counters.outbound.passed).toBe(1);
  });

  it('the router solicitation the kernel sends when the TUN comes up (from fe80::) is counted as link-local, not no-policy, and never sent', () => {
    const { dp, sad, sends } = rig();
    // IPv6, ICMPv6, hop limit 255, fe80::bd69:1c81:5537:1c81 -> ff02::2, type 133 (as captured from a new TUN)
    const rs = Buffer.from('6000000000083afffe80000000000000bd691c8155371c81ff020000000000000000000000000002850031940000000000000000', 'hex');
    dp.outbound(batchOf([rs]));
    expect(dp.stats.linkLocal).toBe(1);
    expect(sad.counters.outbound.drops['no-policy']).toBe(0);
    expect(sends).toEqual([]);
  });

  it.skipIf(!hasNativeAead)(`writes what the native AEAD opened in the receive buffer to the TUN from there, at its offsets (no copy) ${NEEDS_NATIVE}`, () => {
    const { dp, sad, tunWrites } = rig({ inPlaceAead: nativeAead });
    const pIn = pair(() => gcm(), { a: ['203.0.113.0/24'], b: ['192.0.2.0/24'] });
    sad.addInbound(pIn.in, 0);
    const peer = new Sad();
    const peerSpd = new Spd();
    const peerOut = peer.addOutbound(pIn.out, 0);
    peerSpd.add({ local: peerOut.localSelectors, remote: peerOut.remoteSelectors, action: 'protect', sa: peerOut });
    const inner = [udpPacket('203.0.113.9', '192.0.2.7', 53, 4000, 20), udpPacket('203.0.113.9', '192.0.2.7', 53, 4001, 30)];
    const esp = processOutbound(peerSpd, peer, inner, 0).esp;
    const rx = new Uint8Array(4096); // the receive slab: packets at 100 and 1100
    const views = esp.map((e, k) => (rx.set(e, 100 + k * 1000), rx.subarray(100 + k * 1000, 100 + k * 1000 + e.length)));
    dp.inbound(views);
    expect(tunWrites).toHaveLength(1);
    expect(tunWrites[0].buf.buffer).toBe(rx.buffer);
    const ctStart = 16; // SPI, sequence number, 8-octet IV (RFC 4106 §3)
    expect(tunWrites[0].offsets).toEqual([100 + ctStart, 1100 + ctStart]);
    expect(tunWrites[0].packets).toEqual(inner);
  });

  it('counts inbound garbage as drops and writes nothing to the TUN', () => {
    const { dp, sad, tun } = rig();
    dp.inbound([Uint8Array.of(0, 0, 0, 9, 0, 0, 0, 1, 5, 5), new Uint8Array(3)]);
    expect(tun).toHaveLength(0);
    expect(sad.counters.inbound.drops['unknown-spi'] + sad.counters.inbound.drops.malformed).toBe(2);
  });

  it('a batch that throws is counted, not fatal', () => {
    const { dp } = rig();
    expect(() => dp.inbound([null as never])).not.toThrow();
    expect(dp.stats.internalErrors).toBe(1);
  });

  /** ESP the peer sealed (its selectors 203.0.113.0/24 -> 192.0.2.0/24), and our inbound SA for it, in UDP from the NAT's first mapping. */
  function fromPeer() {
    const p = pair(() => gcm(), { a: ['203.0.113.0/24'], b: ['192.0.2.0/24'], spi: 0x2000_0001 });
    const peerSad = new Sad();
    const peerSpd = new Spd();
    const sealer = peerSad.addOutbound({ ...p.out, outer: { addr: '198.51.100.1', port: 4500, encap: true } }, 0);
    peerSpd.add({ local: sel('203.0.113.0/24'), remote: sel('192.0.2.0/24'), action: 'protect', sa: sealer });
    const esp = () => processOutbound(peerSpd, peerSad, [udpPacket('203.0.113.9', '192.0.2.7', 53, 4000, 20)], 0).esp.map((e) => e.slice());
    const r = rig();
    const sa = r.sad.addInbound({ ...p.in, outer: { addr: '203.0.113.7', port: 34500, encap: true } }, 0);
    return { ...r, sa, esp };
  }

  it('F8: authenticated ESP in UDP from another port than the SA\'s outer path is returned as moved; from the same port it is not', () => {
    const { dp, sa, esp, tun } = fromPeer();
    expect(dp.inbound(esp(), true, { addr: '203.0.113.7', port: 34500 }).moved).toEqual([]);
    const seen = dp.inbound(esp(), true, { addr: '203.0.113.7', port: 44500 });
    expect(seen.moved).toEqual([{ sa, from: { addr: '203.0.113.7', port: 44500 } }]);
    expect(seen.unauthenticatedFrom).toBeUndefined();
    expect(tun).toHaveLength(2); // delivered either way
  });

  it('F8: a UDP batch in which nothing authenticated is only a hint: returned as unauthenticatedFrom, never as moved', () => {
    const { dp } = fromPeer();
    const forged = esp0();
    const seen = dp.inbound([forged], true, { addr: '203.0.113.7', port: 44500 });
    expect(seen.moved).toEqual([]);
    expect(seen.unauthenticatedFrom).toEqual({ addr: '203.0.113.7', port: 44500 });
    function esp0() {
      const b = new Uint8Array(64).fill(7);
      b.set([0x20, 0, 0, 1, 0, 0, 0, 9], 0); // our SPI, a fresh sequence number, a wrong ICV
      return b;
    }
  });
});
