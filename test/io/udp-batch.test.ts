// Batched UDP through the addon (recvmmsg in a reader thread, sendmmsg per batch), on the
// loopback interface only. Needs no privilege.

import { createSocket } from 'node:dgram';
import { networkInterfaces } from 'node:os';

import { afterEach, describe, expect, it } from 'vitest';

import { sleep } from '../../interop/lab/wait.js';
import { formatAddress, IoError, openUdpBatch, type UdpBatch, type UdpBatchSocket } from '../../src/io/udp-batch.js';

interface Received {
  data: Buffer;
  src: string;
  port: number;
}

const open: UdpBatchSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function sock(o: Parameters<typeof openUdpBatch>[0]): UdpBatchSocket {
  const s = openUdpBatch(o);
  open.push(s);
  return s;
}

/** Collects copies of received datagrams until `n` arrived (or 5 s passed). */
function collect(s: UdpBatchSocket, n: number): { got: Received[]; batches: number[]; done: Promise<void> } {
  const got: Received[] = [];
  const batches: number[] = [];
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const timer = setTimeout(resolve, 5000);
  s.onBatch((b: UdpBatch) => {
    batches.push(b.count);
    for (let i = 0; i < b.count; i++) {
      got.push({ data: Buffer.from(b.packet(i)), src: b.srcAddress(i), port: b.srcPort(i) });
    }
    if (got.length >= n) {
      clearTimeout(timer);
      resolve();
    }
  });
  return { got, batches, done };
}

/** Datagram i: its index in the first two bytes, then a pattern; sizes from 1 to 3000 bytes. */
function datagram(i: number): Buffer {
  const d = Buffer.alloc(2 + ((i * 97) % 2999));
  d.writeUInt16BE(i, 0);
  for (let j = 2; j < d.length; j++) d[j] = (i * 7 + j) & 0xff;
  return d;
}

function pack(ds: Buffer[]): { buf: Buffer; offsets: Uint32Array; lengths: Uint32Array } {
  const offsets = new Uint32Array(ds.length);
  const lengths = new Uint32Array(ds.length);
  let off = 0;
  ds.forEach((d, i) => {
    offsets[i] = off;
    lengths[i] = d.length;
    off += d.length;
  });
  return { buf: Buffer.concat(ds), offsets, lengths };
}

const hasIpv6Loopback = Object.values(networkInterfaces()).some((l) => l?.some((a) => a.address === '::1'));

describe('batched UDP on loopback', () => {
  it('delivers a batch of 200 datagrams of different sizes with contents and source intact', async () => {
    const rx = sock({ address: '127.0.0.1', batch: 32, rcvbuf: 4 << 20 });
    const tx = sock({ address: '127.0.0.1' });
    expect(rx.localPort).toBeGreaterThan(0);
    expect(rx.family).toBe(4);
    const sent = Array.from({ length: 200 }, (_, i) => datagram(i));
    const c = collect(rx, 200);
    const p = pack(sent);
    expect(tx.sendBatch(p.buf, p.offsets, p.lengths, 200, '127.0.0.1', rx.localPort)).toBe(200);
    await c.done;
    expect(c.got).toHaveLength(200);
    const byIndex = new Map(c.got.map((g) => [g.data.readUInt16BE(0), g]));
    for (let i = 0; i < 200; i++) {
      const g = byIndex.get(i);
      expect(g?.data.equals(sent[i]), `datagram ${i}`).toBe(true);
      expect(g?.src).toBe('127.0.0.1');
      expect(g?.port).toBe(tx.localPort);
    }
    expect(Math.max(...c.batches)).toBeLessThanOrEqual(32);
    const bytes = sent.reduce((n, d) => n + d.length, 0);
    expect(tx.stats).toMatchObject({ txPackets: 200, txBytes: bytes, txErrors: 0 });
    expect(rx.stats).toMatchObject({ rxPackets: 200, rxBytes: bytes, rxErrors: 0, rxBatches: c.batches.length });
  });

  it('sends runs of same-size datagrams back to back as one UDP_SEGMENT message each, and they arrive as the datagrams they were', async () => {
    const rx = sock({ address: '127.0.0.1', batch: 64, rcvbuf: 4 << 20 });
    const tx = sock({ address: '127.0.0.1' });
    const sized = (i: number, n: number) => {
      const d = Buffer.alloc(n, (i * 13) & 0xff);
      d.writeUInt16BE(i, 0);
      return d;
    };
    // 70 of 1400 (past the 64 a message carries), a short one ending that run, 40 of 1200, 1 alone, 8 of 100
    const sizes = [...Array(70).fill(1400), 500, ...Array(40).fill(1200), 900, ...Array(8).fill(100)];
    const sent = sizes.map((n, i) => sized(i, n));
    const c = collect(rx, sent.length);
    const p = pack(sent);
    expect(tx.sendBatch(p.buf, p.offsets, p.lengths, sent.length, '127.0.0.1', rx.localPort)).toBe(sent.length);
    await c.done;
    expect(c.got.map((g) => g.data.length)).toEqual(sizes);
    c.got.forEach((g, i) => expect(g.data.equals(sent[i]), `datagram ${i}`).toBe(true));
    expect(tx.stats).toMatchObject({ txPackets: sent.length, txErrors: 0 });
    expect(tx.stats.txGso).toBeGreaterThanOrEqual(3); // loopback takes UDP GSO (Linux 4.18+)
  });

  for (const [v, addr] of [[4, '127.0.0.1'], [6, '::1']] as const) {
    it.skipIf(v === 6 && !hasIpv6Loopback)(`IPv${v}: with UDP GRO a UDP_SEGMENT run comes up as one message, and JS still gets each datagram with its source, intact`, async () => {
      const rx = sock({ address: addr, batch: 8, gro: true, rcvbuf: 4 << 20 });
      const tx = sock({ address: addr });
      expect(rx.gro).toEqual({ on: true, text: 'gro on' });
      // 64 of 1400 (one message), a short one ending the next run, 40 of 1200, 900 alone, 8 of 100
      const sizes = [...Array(64).fill(1400), ...Array(10).fill(1400), 500, ...Array(40).fill(1200), 900, ...Array(8).fill(100)];
      const sent = sizes.map((n, i) => {
        const d = Buffer.alloc(n);
        for (let j = 0; j < n; j++) d[j] = (i * 31 + j * 7) & 0xff;
        d.writeUInt16BE(i, 0);
        return d;
      });
      const c = collect(rx, sent.length);
      const p = pack(sent);
      expect(tx.sendBatch(p.buf, p.offsets, p.lengths, sent.length, addr, rx.localPort)).toBe(sent.length);
      await c.done;
      expect(c.got.map((g) => g.data.length)).toEqual(sizes);
      c.got.forEach((g, i) => expect(g.data.equals(sent[i]), `datagram ${i}`).toBe(true));
      expect(new Set(c.got.map((g) => `${g.src} ${g.port}`))).toEqual(new Set([`${addr} ${tx.localPort}`]));
      expect(rx.stats).toMatchObject({ rxPackets: sent.length, rxErrors: 0 });
      // the runs came up whole: without GRO no batch would hold more than the 8 asked for
      expect(Math.max(...c.batches)).toBeGreaterThan(8);
    });
  }

  it('says UDP GRO is off when it was not asked for; UDP GSO is on until a kernel or route refuses it', () => {
    const s = sock({ address: '127.0.0.1' });
    expect(s.gro).toEqual({ on: false, text: 'gro off (not asked for)' });
    expect(s.gso).toEqual({ on: true, text: 'gso on' });
  });

  it.skipIf(!hasIpv6Loopback)('works over IPv6 (::1) and reports IPv6 sources', async () => {
    const rx = sock({ address: '::1' });
    const tx = sock({ address: '::1' });
    expect(rx.family).toBe(6);
    const c = collect(rx, 3);
    const p = pack([datagram(1), datagram(2), datagram(3)]);
    expect(tx.sendBatch(p.buf, p.offsets, p.lengths, 3, '::1', rx.localPort)).toBe(3);
    await c.done;
    expect(c.got.map((g) => [g.src, g.port])).toEqual([
      ['::1', tx.localPort],
      ['::1', tx.localPort],
      ['::1', tx.localPort],
    ]);
  });

  it('drops and counts a datagram larger than maxDatagram, and delivers the next one', async () => {
    const rx = sock({ address: '127.0.0.1', maxDatagram: 1000 });
    const tx = sock({ address: '127.0.0.1' });
    const c = collect(rx, 1);
    const p = pack([Buffer.alloc(1001, 1), datagram(5)]);
    expect(tx.sendBatch(p.buf, p.offsets, p.lengths, 2, '127.0.0.1', rx.localPort)).toBe(2);
    await c.done;
    expect(c.got.map((g) => g.data.readUInt16BE(0))).toEqual([5]);
    expect(rx.stats).toMatchObject({ rxPackets: 1, rxErrors: 1 });
  });

  it('reports the ICMP port unreachable for a datagram it sent (IP_RECVERR), and keeps reading', async () => {
    const tx = sock({ address: '127.0.0.1' });
    const rx = sock({ address: '127.0.0.1' });
    const c = collect(tx, 1);
    const p = pack([datagram(1)]);
    const closed = sock({ address: '127.0.0.1' });
    const deadPort = closed.localPort;
    closed.close(); // nothing listens there now: the kernel answers with port unreachable
    expect(tx.sendBatch(p.buf, p.offsets, p.lengths, 1, '127.0.0.1', deadPort)).toBe(1);
    let errors: ReturnType<typeof tx.icmpErrors> = [];
    for (let i = 0; i < 50 && errors.length === 0; i++) {
      await sleep(10);
      errors = tx.icmpErrors();
    }
    expect(errors.map((e) => ({ dst: e.dst, offender: e.offender, type: e.type, code: e.code }))).toEqual([{ dst: '127.0.0.1', offender: '127.0.0.1', type: 3, code: 3 }]);
    expect(tx.icmpErrors()).toEqual([]); // taken once
    rx.sendBatch(p.buf, p.offsets, p.lengths, 1, '127.0.0.1', tx.localPort);
    await c.done; // the reader survived the error
  });

  it('stops delivering after close() and keeps the stats readable', async () => {
    const rx = sock({ address: '127.0.0.1' });
    const c = collect(rx, 1);
    rx.close();
    rx.close(); // idempotent
    expect(rx.closed).toBe(true);
    const tx = sock({ address: '127.0.0.1' });
    const p = pack([datagram(1)]);
    expect(() => rx.sendBatch(p.buf, p.offsets, p.lengths, 1, '127.0.0.1', 9)).toThrow(/is closed/);
    expect(rx.stats.rxPackets).toBe(0);
    tx.sendBatch(p.buf, p.offsets, p.lengths, 1, '127.0.0.1', rx.localPort);
    await sleep(50); // nothing may arrive: time has to pass
    expect(c.got).toHaveLength(0);
  });

  it('can be closed from inside its own batch callback', async () => {
    const rx = sock({ address: '127.0.0.1', batch: 1 });
    const tx = sock({ address: '127.0.0.1' });
    let calls = 0;
    rx.onBatch(() => {
      calls++;
      rx.close();
    });
    const p = pack([datagram(1), datagram(2), datagram(3)]);
    tx.sendBatch(p.buf, p.offsets, p.lengths, 3, '127.0.0.1', rx.localPort);
    await sleep(100); // no second batch may come: time has to pass
    expect(calls).toBe(1); // batches queued before close() are not delivered
    expect(rx.closed).toBe(true);
  });
});

describe('batched UDP errors', () => {
  it('says the port is in use, naming EADDRINUSE', async () => {
    const other = createSocket('udp4');
    await new Promise<void>((r) => other.bind(0, '127.0.0.1', r));
    const { port } = other.address();
    try {
      expect(() => openUdpBatch({ address: '127.0.0.1', port })).toThrow(
        `cannot bind UDP 127.0.0.1:${port} (EADDRINUSE): another socket is bound to this address and port`,
      );
    } finally {
      other.close();
    }
  });

  it('says an address is not local, naming EADDRNOTAVAIL', () => {
    let err: unknown;
    try {
      openUdpBatch({ address: '198.51.100.7', port: 4500 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IoError);
    expect(err).toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'bind' });
    expect((err as IoError).message).toMatch(/not assigned to a local interface/);
  });

  it('rejects bad addresses, ports, ranges and an IPv6 destination on an IPv4 socket', () => {
    expect(() => openUdpBatch({ address: 'localhost' })).toThrow(/not an IPv4 or IPv6 address/);
    expect(() => openUdpBatch({ address: '127.0.0.1', port: 70000 })).toThrow(/port must be an integer/);
    const s = sock({ address: '127.0.0.1' });
    const p = pack([datagram(1)]);
    expect(() => s.sendBatch(p.buf, p.offsets, p.lengths, 1, '::1', 9)).toThrow(/cannot send to IPv6 ::1/);
    expect(() => s.sendBatch(p.buf, p.offsets, p.lengths, 1, 'nowhere', 9)).toThrow(/not an IPv4 or IPv6/);
    expect(() => s.sendBatch(p.buf, p.offsets, p.lengths, 2, '127.0.0.1', 9)).toThrow(/count must be/);
    expect(() => s.sendBatch(p.buf, Uint32Array.of(1), p.lengths, 1, '127.0.0.1', 9)).toThrow(
      /lies outside the buffer/,
    );
    let err: unknown;
    try {
      s.sendBatch(p.buf, p.offsets, p.lengths, 1, '127.0.0.1', 0);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ name: 'IoError', code: 'ERR_INVALID_ARG' });
    expect((err as Error).message).toMatch(/destination port must be an integer from 1 to 65535/);
  });
});

describe('formatAddress', () => {
  it('prints IPv4-mapped addresses as dotted quads and IPv6 per RFC 5952', () => {
    const v6 = (s: string) => {
      const b = new Uint8Array(16);
      s.split(':').forEach((g, i) => {
        b[2 * i] = parseInt(g, 16) >> 8;
        b[2 * i + 1] = parseInt(g, 16) & 0xff;
      });
      return b;
    };
    expect(formatAddress(v6('0:0:0:0:0:ffff:c000:0201'))).toBe('192.0.2.1');
    // RFC 5952 §4.2.3: the first of equally long zero runs is shortened.
    expect(formatAddress(v6('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    // RFC 5952 §4.2.2: a single zero group is not shortened.
    expect(formatAddress(v6('2001:db8:0:1:1:1:1:1'))).toBe('2001:db8:0:1:1:1:1:1');
    expect(formatAddress(v6('0:0:0:0:0:0:0:1'))).toBe('::1');
    expect(formatAddress(v6('0:0:0:0:0:0:0:0'))).toBe('::');
    expect(formatAddress(v6('2001:db8:0:0:0:0:0:0'))).toBe('2001:db8::');
  });
});
