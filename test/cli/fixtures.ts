// TunnelStatus objects as the daemon answers {"cmd":"status"} on its control socket
// (src/daemon/status.ts), for formatter and client tests.
import type { TunnelStatus } from '../../src/daemon/status.js';

export function upStatus(): TunnelStatus {
  return {
    name: 'left',
    pid: 4242,
    tun: { name: 'tsvpn-left', mtu: 1438 },
    encap: 'udp',
    ikeSas: [
      {
        connection: 'left',
        state: 'ESTABLISHED',
        role: 'initiator',
        localSpi: '1a2b3c4d5e6f7a8b',
        remoteSpi: '0102030405060708',
        local: '198.51.100.1:4500',
        remote: '198.51.100.2:4500',
        localId: 'left.example',
        remoteId: 'right.example',
        proposal: 'aes256gcm16-prfsha256-x25519',
        nat: { local: false, remote: false },
        established: 12,
        children: [
          {
            name: 'left',
            state: 'INSTALLED',
            mode: 'tunnel',
            spiIn: 'c1234567',
            spiOut: 'c7654321',
            proposal: 'aes256gcm16',
            localTs: ['203.0.113.0/25'],
            remoteTs: ['203.0.113.128/25'],
            bytesIn: 1234,
            bytesOut: 5678,
            packetsIn: 10,
            packetsOut: 12,
            drops: {},
            rekeys: 0,
            installed: 11,
          },
        ],
      },
    ],
    drops: { inbound: {}, outbound: {}, ike: {} },
    retransmits: 0,
    reauths: 0,
    lastFailure: null,
    lastUnauthenticatedFailure: null,
    connections: [{ name: 'left', local: '198.51.100.1', remote: '198.51.100.2', remoteId: 'right.example', start: 'initiate', localTs: ['203.0.113.0/25'], remoteTs: ['203.0.113.128/25'], reauths: 0, lastFailure: null }],
  };
}

/** A responder behind a NAT that saw a replayed and a tampered packet, after a failed attempt. */
export function troubledStatus(): TunnelStatus {
  const s = upStatus();
  s.name = 'right';
  const sa = s.ikeSas[0]!;
  sa.connection = 'right';
  s.connections[0]!.name = 'right';
  sa.role = 'responder';
  sa.localSpi = '0102030405060708';
  sa.remoteSpi = '1a2b3c4d5e6f7a8b';
  sa.local = '2001:db8::2:4500';
  sa.remote = '2001:db8::1:4500';
  sa.nat = { local: true, remote: false };
  sa.established = 3725;
  const c = sa.children[0]!;
  c.drops = { replay: 1, integrity: 2 };
  c.rekeys = 2;
  s.drops = { inbound: { replay: 1, integrity: 2, 'unknown-spi': 0 }, outbound: { 'no-sa': 3 }, ike: {} };
  s.lastFailure = {
    row: 'F2',
    message: 'no proposal chosen: the peer offered nothing we accept',
    evidence: { scope: 'ike', ours: ['aes256gcm16-prfsha256-x25519'], theirs: ['aes128-sha1-modp1024'] },
    fixArea: 'ENCR, INTEG, PRF, DH group, IKE version',
    at: '2026-11-26T21:00:00.000Z',
  };
  return s;
}
