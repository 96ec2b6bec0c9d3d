// `tsvpn status` shows, for every IKE and Child SA, the time to its rekey (soft lifetime)
// and to its expiry (hard lifetime), and the rekey count: what an operator reads first when
// data stops at a rekey (failure-map row F6). Pure: a fake IKE SA on a fixed clock.
import { describe, expect, it } from 'vitest';
import { buildStatus, type IkeSaView } from '../../src/daemon/status.js';
import { formatStatus } from '../../src/cli/format-status.js';

const spi = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));
const NOW = 1_000_000;
const counters = () => ({ passed: 0, bytes: 0, drops: {} }) as never;

function status(sa: Partial<IkeSaView>) {
  const view: IkeSaView = {
    state: 'ESTABLISHED',
    role: 'initiator',
    spiI: spi('1111111111111111'),
    spiR: spi('2222222222222222'),
    local: { addr: '198.51.100.1', port: 500 },
    remote: { addr: '198.51.100.2', port: 500 },
    proposal: 'aes256gcm16-prfsha256-x25519',
    nat: { local: false, remote: false },
    remoteId: 'right.example',
    stats: {},
    children: [],
    ...sa,
  };
  return buildStatus({
    name: 't', pid: 1, localId: 'left.example', tun: null, encap: 'udp', ikeSas: [view], children: new Map(),
    established: new Map([['1111111111111111', NOW - 30_000]]), inbound: counters(), outbound: counters(), ikeCounters: [], retransmits: 0, reauths: 0, lastFailure: null, now: NOW,
  });
}

describe('status: time to rekey and expiry per SA', () => {
  it('IKE and Child SA deadlines in seconds from now, and the IKE rekey count', () => {
    const s = status({
      rekeyAt: NOW + 14_400, expireAt: NOW + 25_000, rekeys: 3,
      children: [{ name: 'net', state: 'INSTALLED', spiIn: 0xc1000001, spiOut: 0xc2000002, proposal: 'aes256gcm16', mode: 'tunnel', rekeyAt: NOW + 4_600, expireAt: NOW + 5_500 }],
    });
    const ike = s.ikeSas[0];
    expect([ike.rekeyIn, ike.expiresIn, ike.rekeys]).toEqual([14, 25, 3]);
    expect([ike.children[0].rekeyIn, ike.children[0].expiresIn]).toEqual([5, 6]);
    const text = formatStatus(s);
    expect(text).toMatch(/established 30s ago, rekeyed 3x, rekeying in 14s, expires in 25s/);
    expect(text).toMatch(/rekeying in 5s, expires in 6s/);
  });

  it('a deadline in the past shows 0, and an SA without lifetimes shows none', () => {
    const s = status({
      rekeyAt: NOW - 2_000,
      children: [{ name: 'net', state: 'REKEYED', spiIn: 1, spiOut: 2, proposal: 'aes256gcm16', mode: 'tunnel', expireAt: NOW + 900 }],
    });
    expect(s.ikeSas[0].rekeyIn).toBe(0);
    expect(s.ikeSas[0].expiresIn).toBeUndefined();
    expect(s.ikeSas[0].children[0].rekeyIn).toBeUndefined(); // a rekeyed-away SA waits only for its Delete
    expect(s.ikeSas[0].children[0].expiresIn).toBe(1);
    expect(formatStatus(status({}))).not.toMatch(/rekeying in|expires in/);
  });
});
