// What a TUN with offloads reads, made into plain packets before the datapath sees them
// (src/io/tun-offload.ts), and the offload line for the log and status. No root: the batches
// are made here as the kernel lays them out (a virtio_net_hdr before each packet).
import { describe, expect, it } from 'vitest';
import { describeOffload, VnetBatch } from '../../src/io/tun-offload.js';
import { GSO_NONE, GSO_TCPV4, VNET_F_NEEDS_CSUM } from '../../src/wire/gso-segment.js';
import { foldChecksum, internetChecksum, onesComplementSum } from '../../src/wire/checksum.js';
import { udpPacket } from '../ipsec/helpers.js';
import type { PacketBatch } from '../../src/io/native.js';

function vnet(gsoType: number, gsoSize: number, csumStart: number, csumOffset: number, needsCsum = true): Uint8Array {
  return Uint8Array.from([needsCsum ? VNET_F_NEEDS_CSUM : 0, gsoType, 0, 0, gsoSize & 0xff, gsoSize >> 8, csumStart, 0, csumOffset, 0]);
}

function rawBatch(reads: Uint8Array[][]): PacketBatch {
  const parts = reads.map((r) => Buffer.concat(r));
  const buf = Buffer.concat([Buffer.alloc(3), ...parts]);
  const offsets = new Uint32Array(parts.length);
  const lengths = new Uint32Array(parts.length);
  let off = 3;
  parts.forEach((p, i) => ((offsets[i] = off), (lengths[i] = p.length), (off += p.length)));
  return { buf, offsets, lengths, count: parts.length, packet: (i) => buf.subarray(offsets[i], offsets[i] + lengths[i]) };
}

/** An IPv4 TCP packet from 203.0.113.1 with `payload` octets, header checksum set, TCP checksum 0 (the kernel leaves it to the segmenter). */
function tcpSuper(payload: number): Uint8Array {
  const p = new Uint8Array(40 + payload);
  p.set([0x45, 0, (40 + payload) >> 8, (40 + payload) & 0xff, 0, 7, 0x40, 0, 64, 6], 0);
  p.set([203, 0, 113, 1, 203, 0, 113, 129], 12);
  p[32] = 0x50;
  p[33] = 0x18; // ACK | PSH
  const c = internetChecksum(p, 0, 20);
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
}

describe('TUN offload batch', () => {
  it('without a super-packet leaves the packets where they were read, past their headers (no copy)', () => {
    const a = udpPacket('203.0.113.1', '203.0.113.129', 1, 2, 100);
    const b = udpPacket('203.0.113.1', '203.0.113.129', 3, 4, 10);
    const raw = rawBatch([[vnet(GSO_NONE, 0, 0, 0, false), a], [vnet(GSO_NONE, 0, 0, 0, false), b]]);
    const out = new VnetBatch().fill(raw);
    expect(out.count).toBe(2);
    expect(out.buf).toBe(raw.buf);
    expect(out.packet(0)).toEqual(Buffer.from(a));
    expect(out.packet(1)).toEqual(Buffer.from(b));
  });

  it('cuts super-packets, copies the other packets beside their segments, finishes NEEDS_CSUM, and counts a read too short for its header', () => {
    const small = udpPacket('203.0.113.1', '203.0.113.129', 1, 2, 33);
    const pseudo = foldChecksum(onesComplementSum(small, 17 + small.length - 20, 12, 20));
    small[26] = pseudo >> 8; // UDP checksum left to us: the kernel put the pseudo-header sum there
    small[27] = pseudo & 0xff;
    const big = tcpSuper(3000);
    const v = new VnetBatch();
    const out = v.fill(rawBatch([[vnet(GSO_NONE, 0, 20, 6), small], [vnet(GSO_TCPV4, 1400, 20, 16), big], [new Uint8Array(6)]]));
    expect(out.count).toBe(1 + 3);
    expect([...out.lengths.subarray(0, 4)]).toEqual([small.length, 1440, 1440, 240]);
    expect(out.packet(3)[33]).toBe(0x18); // PSH on the last segment only
    expect(out.packet(1)[33]).toBe(0x10);
    expect(v.stats).toEqual({ superPackets: 1, segments: 3, malformed: 1 });
    expect(internetChecksum(out.packet(2), 0, 20)).toBe(0);
    const udp = out.packet(0);
    expect(foldChecksum(onesComplementSum(udp, onesComplementSum(udp, 17 + udp.length - 20, 12, 20), 20))).toBe(0xffff); // verifies
  });

  it('grows its slab for a batch larger than any before and keeps what it already cut', () => {
    const v = new VnetBatch();
    const reads = Array.from({ length: 8 }, () => [vnet(GSO_TCPV4, 1000, 20, 16), tcpSuper(60_000)]);
    const out = v.fill(rawBatch(reads));
    expect(out.count).toBe(8 * 60);
    for (let i = 0; i < out.count; i++) expect(out.packet(i).subarray(0, 2)).toEqual(Buffer.from([0x45, 0]));
  });

  it('says which offloads are on, and why one is off', () => {
    expect(describeOffload({ vnet: true, flags: 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40, errno: 0, refused: '' })).toEqual({ tso: true, uso: true, text: 'tso on, uso on' });
    expect(describeOffload({ vnet: true, flags: 0x0f, errno: 22, refused: 'USO' }).text).toBe('tso on, uso off (the kernel refused USO: EINVAL)');
    expect(describeOffload({ vnet: true, flags: 0, errno: 22, refused: 'TSO and checksum offload' }).text).toBe('tso off (the kernel refused TSO and checksum offload: EINVAL)');
    expect(describeOffload({ vnet: false, flags: 0, errno: 0, refused: '' }).text).toBe('tso off (not asked for)');
  });
});
