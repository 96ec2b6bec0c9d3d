// The UDP sockets on loopback: IKE sent from 4500 carries the non-ESP marker, IKE received
// there loses it; a port another program holds is refused.
import { describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { PortInUseError, udpPortInUse, UdpIo } from '../../src/daemon/udp-io.js';
import { openUdpBatch } from '../../src/io/udp-batch.js';

describe('IKE sockets on loopback', () => {
  it('adds the non-ESP marker to IKE sent from the NAT-T socket and strips it on receipt', async () => {
    const got: { bytes: Uint8Array; from: number }[] = [];
    const io = new UdpIo({ local: '127.0.0.1', ports: { ike: 0, natt: 0 }, onIke: (bytes, path) => got.push({ bytes, from: path.from.port }), onEsp: () => {}, onError: () => {} });
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
      const open = () => new UdpIo({ local: '127.0.0.1', ports: { ike: port, natt: 0 }, onIke: () => {}, onEsp: () => {}, onError: () => {} });
      expect(open).toThrow(PortInUseError);
      expect(open).toThrow(`UDP port ${port} is already in use`);
    } finally {
      other.close();
    }
  });

  it('on another local address of the host is no collision (two daemons, two addresses); the wildcard holds every address', async () => {
    const other = createSocket('udp4');
    await new Promise<void>((r) => other.bind(0, '127.0.0.2', () => r()));
    const port = other.address().port;
    try {
      expect(udpPortInUse(port, '127.0.0.2')).toBe(true);
      expect(udpPortInUse(port, '127.0.0.1')).toBe(false);
      expect(udpPortInUse(port, '0.0.0.0')).toBe(true);
    } finally {
      other.close();
    }
    const any = createSocket('udp4');
    await new Promise<void>((r) => any.bind(0, '0.0.0.0', () => r()));
    try {
      expect(udpPortInUse(any.address().port, '127.0.0.1')).toBe(true);
    } finally {
      any.close();
    }
  });
});
