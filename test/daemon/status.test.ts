// TunnelStatus as `tsvpn status` shows it, from a fake IKE SA and real ESP SAs: SPIs from
// our side's point of view, counters per Child SA, drops by reason only when non-zero, ages
// in seconds, and nothing secret.
import { describe, expect, it } from 'vitest';
import { buildStatus, noSaDrops, nonZero } from '../../src/daemon/status.js';
import type { ChildRecord } from '../../src/daemon/child-record.js';
import { Sad } from '../../src/ipsec/sad.js';
import { Spd } from '../../src/ipsec/spd.js';
import { processInbound } from '../../src/ipsec/inbound.js';
import { processOutbound } from '../../src/ipsec/outbound.js';
import { gcm, pair, sel, udpPacket } from '../ipsec/helpers.js';

const spi = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));

function fixture(role: 'initiator' | 'responder') {
  const sad = new Sad();
  const spd = new Spd();
  const a = pair(() => gcm(), { spi: 0xc1000001 });
  const b = pair(() => gcm(), { spi: 0xc2000002 });
  // our outbound SA sends to the peer, which installs `a.in`; our inbound SA is `b.in`
  const outSa = sad.addOutbound(a.out, 1_000);
  const inSa = sad.addInbound(b.in, 1_000);
  spd.add({ local: sel('192.0.2.0/24'), remote: sel('203.0.113.0/24'), action: 'protect', sa: outSa });
  const peerSad = new Sad();
  const peerOut = peerSad.addOutbound(b.out, 0);
  const peerSpd = new Spd();
  peerSpd.add({ local: sel('192.0.2.0/24'), remote: sel('203.0.113.0/24'), action: 'protect', sa: peerOut }); // pair(): b.in accepts 192.0.2/24 -> 203.0.113/24
  // 2 packets out, 3 in (one of them replayed)
  processOutbound(spd, sad, [udpPacket('192.0.2.1', '203.0.113.5', 1, 2, 10), udpPacket('192.0.2.1', '203.0.113.5', 1, 2, 10)], 2_000);
  const fromPeer = processOutbound(peerSpd, peerSad, [udpPacket('192.0.2.9', '203.0.113.5', 2, 1, 20), udpPacket('192.0.2.9', '203.0.113.5', 2, 1, 20)], 2_000);
  processInbound(sad, [...fromPeer.esp.map((e) => e.slice()), fromPeer.esp[0].slice()], 2_000);
  const children = new Map<number, ChildRecord>([
    [inSa.spi, { info: { name: 'net', conn: 'net', spiIn: inSa.spi, spiOut: outSa.spi, proposal: 'aes256gcm16', encr: { id: 20, keyLength: 256 }, integ: 0, esn: false, mode: 'tunnel', localTs: ['192.0.2.0/24'], remoteTs: ['203.0.113.0/24'], local: { addr: '198.51.100.1', port: 500 }, remote: { addr: '198.51.100.2', port: 500 }, encap: false }, inSa, outSa, installedAt: 1_000, rekeys: 0, routes: [] }],
  ]);
  const sa = {
    state: 'ESTABLISHED',
    role,
    spiI: spi('1111111111111111'),
    spiR: spi('2222222222222222'),
    local: { addr: '198.51.100.1', port: 500 },
    remote: { addr: '198.51.100.2', port: 500 },
    proposal: 'aes256gcm16-prfsha256-x25519',
    nat: { local: false, remote: false },
    remoteId: 'right.example',
    stats: { malformed: 0, retransmitsSent: 2, integrityFailed: 1 },
    children: [{ name: 'net', state: 'INSTALLED', spiIn: inSa.spi, spiOut: outSa.spi, proposal: 'aes256gcm16', mode: 'tunnel' as const }],
  };
  return buildStatus({
    name: 'left',
    pid: 42,
    localId: 'left.example',
    tun: { name: 'tsvpn-left', mtu: 1400 },
    encap: 'raw',
    ikeSas: [sa],
    children,
    established: new Map([['1111111111111111', 1_000]]),
    inbound: sad.counters.inbound,
    outbound: sad.counters.outbound,
    ikeCounters: [{ unknownSpi: 0, noConfig: 1 }],
    extraOutbound: { 'icmp-too-big-sent': 0 },
    retransmits: 3,
    reauths: 2,
    lastFailure: null,
    now: 61_400,
  });
}

describe('status', () => {
  it('shows the IKE SA from our side, with the Child SA counters and ages', () => {
    const s = fixture('initiator');
    const ike = s.ikeSas[0];
    expect(ike).toMatchObject({ state: 'ESTABLISHED', role: 'initiator', localSpi: '1111111111111111', remoteSpi: '2222222222222222', local: '198.51.100.1:500', remote: '198.51.100.2:500', localId: 'left.example', remoteId: 'right.example', established: 60 });
    const c = ike.children[0];
    expect(c).toMatchObject({ name: 'net', state: 'INSTALLED', spiIn: 'c2000002', spiOut: 'c1000001', packetsOut: 2, packetsIn: 2, installed: 60, localTs: ['192.0.2.0/24'], remoteTs: ['203.0.113.0/24'] });
    expect(c.bytesIn).toBe(2 * (20 + 8 + 20)); // inner bytes delivered
    expect(c.drops).toEqual({ replay: 1 });
    expect(s.drops.inbound).toEqual({ replay: 1 });
    expect(s.drops.outbound).toEqual({});
    expect(s.drops.ike).toEqual({ noConfig: 1, integrityFailed: 1 }); // retransmits are not drops
    expect(s.retransmits).toBe(3); // ... they have their own count, over every IKE SA the daemon ran
    expect(s.reauths).toBe(2);
  });

  it('swaps the SPIs for a responder', () => {
    const s = fixture('responder');
    expect(s.ikeSas[0]).toMatchObject({ localSpi: '2222222222222222', remoteSpi: '1111111111111111' });
  });

  it('is plain JSON', () => {
    const s = fixture('initiator');
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });

  it('noSaDrops: only the reasons that mean "no SA for this packet", counted since a status taken earlier', () => {
    const s = fixture('initiator');
    const before = JSON.parse(JSON.stringify(s)) as typeof s;
    expect(noSaDrops(s, before)).toEqual({});
    s.drops.inbound = { ...s.drops.inbound, 'unknown-spi': 3, replay: 9 };
    s.drops.outbound = { 'no-policy': 1 };
    before.drops.inbound['unknown-spi'] = 1;
    expect(noSaDrops(s, before)).toEqual({ 'inbound:unknown-spi': 2, 'outbound:no-policy': 1 });
    expect(noSaDrops(s)).toEqual({ 'inbound:unknown-spi': 3, 'outbound:no-policy': 1 });
  });

  it('nonZero keeps only counters that moved', () => {
    expect(nonZero({ a: 0, b: 2 }, { b: 1, c: 0, d: 'x' })).toEqual({ b: 3 });
  });
});
