// Port 4500 demultiplexing (RFC 3948 §2.1-§2.3) as a table, and the sockets themselves on
// loopback: IKE sent from 4500 carries the non-ESP marker, IKE received there loses it.
import { describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { demuxNatT, IkeIo, newIkeIoStats, PortInUseError, type DatagramBatch } from '../../src/daemon/ike-io.js';
import { openUdpBatch } from '../../src/io/udp-batch.js';

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
      const stats = newIkeIoStats();
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
    demuxNatT({ ...b, buf: nodeBuf }, local, newIkeIoStats(), { ike: (m) => kept.push(m), esp: () => {} });
    nodeBuf.fill(0xee); // the next batch lands in the same slab
    expect(Array.from(kept[0])).toEqual(new Array(28).fill(7));
  });

  it('hands all ESP of a mixed batch over in one call, and IKE with its path', () => {
    const stats = newIkeIoStats();
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
});

describe('IKE sockets on loopback', () => {
  it('adds the non-ESP marker to IKE sent from the NAT-T socket and strips it on receipt', async () => {
    const got: { bytes: Uint8Array; from: number }[] = [];
    const io = new IkeIo({ local: '127.0.0.1', ports: { ike: 0, natt: 0 }, onIke: (bytes, path) => got.push({ bytes, from: path.from.port }), onEsp: () => {}, onError: () => {} });
    const peer = openUdpBatch({ address: '127.0.0.1', port: 0 });
    const seen: number[][] = [];
    peer.onBatch((b) => {
      for (let i = 0; i < b.count; i++) seen.push(Array.from(b.packet(i)));
    });
    try {
      const msg = Uint8Array.from({ length: 28 }, (_, i) => i + 1);
      io.sendIke(msg, { addr: '127.0.0.1', port: peer.localPort }, { addr: '127.0.0.1', port: io.natt.localPort });
      io.sendIke(msg, { addr: '127.0.0.1', port: peer.localPort }, { addr: '127.0.0.1', port: io.ike.localPort });
      const marked = new Uint8Array(32);
      marked.set(msg, 4);
      const offs = Uint32Array.of(0);
      peer.sendBatch(marked, offs, Uint32Array.of(32), 1, '127.0.0.1', io.natt.localPort);
      const deadline = Date.now() + 2000;
      while ((seen.length < 2 || got.length < 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(seen).toContainEqual([0, 0, 0, 0, ...msg]); // from 4500: behind the marker
      expect(seen).toContainEqual([...msg]); // from 500: as is
      expect(Array.from(got[0].bytes)).toEqual(Array.from(msg));
      expect(got[0].from).toBe(peer.localPort);
    } finally {
      io.close();
      peer.close();
    }
  });
});

describe('a port held by another program', () => {
  it('is refused with an error naming the port', async () => {
    const other = createSocket('udp4');
    await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
    const port = other.address().port;
    try {
      const open = () => new IkeIo({ local: '127.0.0.1', ports: { ike: port, natt: 0 }, onIke: () => {}, onEsp: () => {}, onError: () => {} });
      expect(open).toThrow(PortInUseError);
      expect(open).toThrow(`UDP port ${port} is already in use`);
    } finally {
      other.close();
    }
  });
});
