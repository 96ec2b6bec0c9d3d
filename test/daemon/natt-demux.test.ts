// Port 4500 demultiplexing (RFC 3948 §2.1-§2.3) as a table.
import { describe, expect, it } from 'vitest';
import { demuxNatT, newNatTDemuxStats, type DatagramBatch } from '../../src/daemon/natt-demux.js';

function batch(datagrams: number[][]): DatagramBatch {
  const buf = Uint8Array.from(datagrams.flat());
  const offsets = new Uint32Array(datagrams.length);
  let off = 0;
  datagrams.forEach((d, i) => ((offsets[i] = off), (off += d.length)));
  return { count: datagrams.length, buf, offsets, lengths: Uint32Array.from(datagrams.map((d) => d.length)), srcAddress: () => '198.51.100.2', srcPort: () => 4500 };
}

const ikeHeader = (fill: number) => [0, 0, 0, 0, ...new Array(28).fill(fill)]; // marker + 28-byte IKE header
const local = { addr: '198.51.100.1', port: 4500 };

describe('port 4500 demultiplexing', () => {
  const table: [string, number[], 'keepalive' | 'ike' | 'esp' | 'invalid'][] = [
    ['NAT-keepalive (one 0xFF byte)', [0xff], 'keepalive'],
    ['one byte that is not 0xFF', [0x01], 'invalid'],
    ['three bytes', [1, 2, 3], 'invalid'],
    ['non-ESP marker and an IKE header', ikeHeader(7), 'ike'],
    ['non-ESP marker with a truncated IKE header', [0, 0, 0, 0, 1, 2, 3], 'invalid'],
    ['ESP: SPI and sequence number', [0, 0, 0x10, 1, 0, 0, 0, 1, 9, 9], 'esp'],
    ['ESP shorter than its header', [0, 0, 0x10, 1, 0, 0], 'invalid'],
  ];
  for (const [what, bytes, kind] of table) {
    it(`${what} -> ${kind}`, () => {
      const stats = newNatTDemuxStats();
      const ike: Uint8Array[] = [];
      const esp: Uint8Array[] = [];
      demuxNatT(batch([bytes]), local, stats, { ike: (b) => ike.push(b), esp: (p) => esp.push(...p) });
      expect({ ike: ike.length, esp: esp.length, keepalive: stats.keepalivesIn, invalid: stats.invalid }).toEqual({
        ike: kind === 'ike' ? 1 : 0,
        esp: kind === 'esp' ? 1 : 0,
        keepalive: kind === 'keepalive' ? 1 : 0,
        invalid: kind === 'invalid' ? 1 : 0,
      });
      if (kind === 'ike') expect(Array.from(ike[0])).toEqual(bytes.slice(4)); // marker stripped
    });
  }

  it('gives the IKE layer a copy: the batch memory is reused for the next batch', () => {
    const b = batch([ikeHeader(7)]);
    const nodeBuf = Buffer.from(b.buf); // the addon's slabs are Buffers, whose slice() is a view
    const kept: Uint8Array[] = [];
    demuxNatT({ ...b, buf: nodeBuf }, local, newNatTDemuxStats(), { ike: (m) => kept.push(m), esp: () => {} });
    nodeBuf.fill(0xee); // the next batch lands in the same slab
    expect(Array.from(kept[0])).toEqual(new Array(28).fill(7));
  });

  it('hands all ESP of a mixed batch over in one call, and IKE with its path', () => {
    const stats = newNatTDemuxStats();
    const calls: number[] = [];
    const paths: unknown[] = [];
    demuxNatT(batch([[0, 0, 0, 1, 0, 0, 0, 1], [0xff], ikeHeader(1), [0, 0, 0, 2, 0, 0, 0, 1]]), local, stats, {
      ike: (_b, p) => paths.push(p),
      esp: (p) => calls.push(p.length),
    });
    expect(calls).toEqual([2]);
    expect(paths).toEqual([{ from: { addr: '198.51.100.2', port: 4500 }, to: local }]);
    expect(stats.espIn).toBe(2);
  });

  it('hands ESP over per run of one source, each with its address and port (F8: a new NAT mapping), and tells of keepalives with theirs', () => {
    const b = batch([[0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0, 2], [0xff], [0, 0, 0, 1, 0, 0, 0, 3]]);
    const ports = [34500, 34500, 44500, 44500];
    const src = { ...b, srcPort: (i: number) => ports[i]! };
    const calls: { n: number; from: unknown }[] = [];
    const hints: unknown[] = [];
    const stats = newNatTDemuxStats();
    demuxNatT(src, local, stats, { ike: () => {}, esp: (p, from) => calls.push({ n: p.length, from }), keepalive: (from) => hints.push(from) });
    expect(calls).toEqual([
      { n: 2, from: { addr: '198.51.100.2', port: 34500 } },
      { n: 1, from: { addr: '198.51.100.2', port: 44500 } },
    ]);
    expect(hints).toEqual([{ addr: '198.51.100.2', port: 44500 }]);
    expect(stats.espIn).toBe(3);
  });

  it('compares the sources the addon filled (16 bytes each) without making text', () => {
    const b = batch([[0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0, 2]]);
    const srcAddrs = new Uint8Array(32);
    srcAddrs.set([198, 51, 100, 2], 0);
    srcAddrs.set([198, 51, 100, 3], 16);
    const calls: number[] = [];
    demuxNatT({ ...b, srcAddrs, srcAddress: (i) => (i === 0 ? '198.51.100.2' : '198.51.100.3') }, local, newNatTDemuxStats(), { ike: () => {}, esp: (p) => calls.push(p.length) });
    expect(calls).toEqual([1, 1]);
  });

  it('with the address and port arrays the addon fills: a run ends where either changes, and srcPort is never called per datagram', () => {
    const b = batch([[0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0, 2], [0, 0, 0, 1, 0, 0, 0, 3], [0, 0, 0, 1, 0, 0, 0, 4]]);
    const srcAddrs = new Uint8Array(64);
    for (let i = 0; i < 4; i++) srcAddrs.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, i === 3 ? 3 : 2], i * 16);
    const srcPorts = Uint16Array.of(4500, 4500, 4501, 4501);
    let portCalls = 0;
    const calls: { n: number; from: unknown }[] = [];
    const src = { ...b, srcAddrs, srcPorts, srcAddress: (i: number) => (i === 3 ? '198.51.100.3' : '198.51.100.2'), srcPort: (i: number) => (portCalls++, srcPorts[i]) };
    demuxNatT(src, local, newNatTDemuxStats(), { ike: () => {}, esp: (p, from) => calls.push({ n: p.length, from }) });
    expect(calls).toEqual([
      { n: 2, from: { addr: '198.51.100.2', port: 4500 } },
      { n: 1, from: { addr: '198.51.100.2', port: 4501 } },
      { n: 1, from: { addr: '198.51.100.3', port: 4501 } },
    ]);
    expect(portCalls).toBe(3); // once per run handed over, for its `from`
  });
});
