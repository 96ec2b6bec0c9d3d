// Transport mode through the datapath (RFC 4303 §3.1.1, RFC 4301 §5.2): a host's packet goes
// out as ESP carrying only its upper-layer part; at the other end the datapath rebuilds an IP
// header (source = the peer, destination = us, protocol = ESP Next Header) before the TUN
// write, so the kernel receives a valid packet with the same addresses, protocol and payload.
import { describe, expect, it } from 'vitest';
import { Datapath } from '../../src/daemon/datapath.js';
import { silentLogger } from '../../src/daemon/log.js';
import { ipToBytes } from '../../src/wire/selectors.js';
import { Sad, type SaSpec } from '../../src/ipsec/sad.js';
import { Spd } from '../../src/ipsec/spd.js';
import { decodeIpPacket } from '../../src/wire/ip.js';
import { gcm, pair, udpPacket } from '../ipsec/helpers.js';

function end(spec: SaSpec, dir: 'out' | 'in') {
  const sad = new Sad();
  const spd = new Spd();
  const sent: Uint8Array[] = [];
  const tun: Uint8Array[] = [];
  if (dir === 'out') {
    const sa = sad.addOutbound({ ...spec, outer: { addr: 'peer', port: 4500, encap: true } }, 0);
    spd.add({ local: spec.localSelectors, remote: spec.remoteSelectors, action: 'protect', sa });
  } else sad.addInbound(spec, 0);
  const dp = new Datapath({
    sad,
    spd,
    tun: { writeBatch: (b, offs, lens, n) => (Array.from({ length: n }, (_, i) => tun.push(b.slice(offs[i], offs[i] + lens[i]))), n) },
    sendUdp: (b, offs, lens, n) => (Array.from({ length: n }, (_, i) => sent.push(b.slice(offs[i], offs[i] + lens[i]))), n),
    now: () => 0,
    innerMtu: 1400,
    log: silentLogger,
  });
  return { dp, sent, tun, sad };
}

const batchOf = (p: Uint8Array) => ({ buf: p, offsets: Uint32Array.of(0), lengths: Uint32Array.of(p.length), count: 1 });

/** RFC 1071: the one's complement sum over a valid IPv4 header is 0xffff. */
function headerSum(h: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (h[i] << 8) | h[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function transportPair(a: string, b: string) {
  const p = pair(() => gcm(), { mode: 'transport', a: [`${a}/${a.includes(':') ? 128 : 32}`], b: [`${b}/${b.includes(':') ? 128 : 32}`] });
  // the SAs' outer addresses are the hosts themselves
  p.out = { ...p.out, localAddress: ipToBytes(a), remoteAddress: ipToBytes(b) };
  p.in = { ...p.in, localAddress: ipToBytes(b), remoteAddress: ipToBytes(a) };
  return { tx: end(p.out, 'out'), rx: end(p.in, 'in') };
}

describe('datapath in transport mode', () => {
  it('IPv4: the receiver gets the sender\'s packet back with a rebuilt, valid header', () => {
    const { tx, rx } = transportPair('198.51.100.1', '198.51.100.2');
    const original = udpPacket('198.51.100.1', '198.51.100.2', 40000, 7, 100);
    tx.dp.outbound(batchOf(original));
    expect(tx.sent).toHaveLength(1);
    rx.dp.inbound(tx.sent);
    expect(rx.tun).toHaveLength(1);
    const got = rx.tun[0];
    const v = decodeIpPacket(got);
    expect(v.version).toBe(4);
    expect(Buffer.from(got.subarray(12, 20))).toEqual(Buffer.from(original.subarray(12, 20))); // src, dst
    expect(got[9]).toBe(17); // UDP
    expect(got.length).toBe(original.length);
    expect((got[2] << 8) | got[3]).toBe(original.length); // total length
    expect(headerSum(got)).toBe(0xffff);
    expect(got[8]).toBeGreaterThan(0); // TTL
    expect(Buffer.from(got.subarray(20))).toEqual(Buffer.from(original.subarray(20))); // UDP header and data intact
    expect(rx.dp.stats.internalErrors).toBe(0);
  });

  it('IPv6: the receiver gets the sender\'s packet back with a rebuilt header', () => {
    const { tx, rx } = transportPair('2001:db8::1', '2001:db8::2');
    const original = udpPacket('2001:db8::1', '2001:db8::2', 40000, 7, 64);
    tx.dp.outbound(batchOf(original));
    expect(tx.sent).toHaveLength(1);
    rx.dp.inbound(tx.sent);
    expect(rx.tun).toHaveLength(1);
    const got = rx.tun[0];
    expect(got[0] >> 4).toBe(6);
    expect(got[6]).toBe(17); // Next Header UDP
    expect((got[4] << 8) | got[5]).toBe(original.length - 40); // payload length
    expect(Buffer.from(got.subarray(8, 40))).toEqual(Buffer.from(original.subarray(8, 40))); // src, dst
    expect(Buffer.from(got.subarray(40))).toEqual(Buffer.from(original.subarray(40)));
  });

  it('a forged or replayed ESP packet writes nothing to the TUN', () => {
    const { tx, rx } = transportPair('198.51.100.1', '198.51.100.2');
    tx.dp.outbound(batchOf(udpPacket('198.51.100.1', '198.51.100.2', 40000, 7, 100)));
    const esp = tx.sent[0];
    const forged = Uint8Array.from(esp);
    forged[forged.length - 1] ^= 1;
    rx.dp.inbound([forged]);
    expect(rx.tun).toHaveLength(0);
    rx.dp.inbound([esp, esp]);
    expect(rx.tun).toHaveLength(1);
  });
});
