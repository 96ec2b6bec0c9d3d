import { describe, expect, it } from 'vitest';

import { agoText, dropsText, endpointText, formatStatus } from '../../src/cli/format-status.js';
import { troubledStatus, upStatus } from './fixtures.js';

describe('tsvpn status text', () => {
  it('lays out an established tunnel like swanctl --list-sas', () => {
    expect(formatStatus(upStatus())).toBe(
      [
        'tunnel left (pid 4242): tun tsvpn-left mtu 1438, ESP in UDP (RFC 3948)',
        'left: #1, ESTABLISHED, IKEv2, 1a2b3c4d5e6f7a8b_i* 0102030405060708_r',
        "  local  'left.example' @ 198.51.100.1[4500]",
        "  remote 'right.example' @ 198.51.100.2[4500]",
        '  aes256gcm16-prfsha256-x25519',
        '  established 12s ago',
        '  left: #1, INSTALLED, TUNNEL-in-UDP, ESP SPIs: c1234567_i c7654321_o',
        '    aes256gcm16',
        '    in  c1234567, 1234 bytes, 10 packets',
        '    out c7654321, 5678 bytes, 12 packets',
        '    installed 11s ago',
        '    local  203.0.113.0/25',
        '    remote 203.0.113.128/25',
      ].join('\n'),
    );
  });

  it('shows drops by reason, NAT, the responder star and the last failure with its evidence', () => {
    const text = formatStatus(troubledStatus());
    const lines = text.split('\n');
    // responder: the initiator's SPI comes first, ours carries the star
    expect(lines[1]).toBe('right: #1, ESTABLISHED, IKEv2, 1a2b3c4d5e6f7a8b_i 0102030405060708_r*');
    expect(lines).toContain("  local  'left.example' @ 2001:db8::2[4500]");
    expect(lines).toContain('  NAT detected: we are behind a NAT');
    expect(lines).toContain('  established 1h 2m ago');
    expect(lines).toContain('    installed 11s ago, rekeyed 2x');
    expect(lines).toContain('    drops: integrity 2, replay 1');
    // zero counters are left out
    expect(lines).toContain('drops: in: integrity 2, replay 1; out: no-sa 3');
    expect(text).not.toContain('unknown-spi');
    expect(text).not.toContain('retransmitted'); // none in this status
    expect(lines).toContain('last failure: F2 no proposal chosen: the peer offered nothing we accept (at 2026-11-26T21:00:00.000Z)');
    expect(lines).toContain('  evidence: scope=ike ours=["aes256gcm16-prfsha256-x25519"] theirs=["aes128-sha1-modp1024"]');
  });

  it('virtual IPs: leased to a peer, or ours with the DNS servers, and each pool\'s leases', () => {
    const s = upStatus();
    s.ikeSas[0]!.vips = { leased: ['10.3.0.1'] };
    s.pools = [{ name: 'rw', addrs: '10.3.0.0/24', size: 254, online: 1, offline: 2 }];
    let lines = formatStatus(s).split('\n');
    expect(lines).toContain('  virtual IP 10.3.0.1 leased to the peer');
    expect(lines).toContain('pool rw 10.3.0.0/24: 1 of 254 addresses online, 2 kept for peers gone');
    s.ikeSas[0]!.vips = { own: ['10.3.0.7'], dns: ['10.2.0.53'] };
    lines = formatStatus(s).split('\n');
    expect(lines).toContain('  virtual IP 10.3.0.7 from the gateway, DNS 10.2.0.53');
    s.ikeSas[0]!.vips = { own: ['10.3.0.7'], dns: [], subnets: ['10.0.0.0/24'] };
    expect(formatStatus(s).split('\n')).toContain('  virtual IP 10.3.0.7 from the gateway, subnets 10.0.0.0/24');
  });

  it('the kill switch: its table and drops, or that the table is gone', () => {
    const s = upStatus();
    expect(formatStatus(s)).not.toContain('kill switch');
    s.killSwitch = { table: 'inet tsvpn_laptop', dropped: 1 };
    expect(formatStatus(s).split('\n')).toContain('kill switch: nft table inet tsvpn_laptop, 1 packet dropped outside the tunnel');
    s.killSwitch = { table: 'inet tsvpn_laptop', dropped: null };
    expect(formatStatus(s).split('\n')).toContain('kill switch: nft table inet tsvpn_laptop is GONE: traffic outside the tunnel is not blocked (restart tsvpn)');
  });

  it('the offloads: the TUN\'s and ESP in UDP\'s on one line, with why one is off', () => {
    const s = upStatus();
    s.tun = { name: 'tsvpn-left', mtu: 1438, offload: 'tso on, uso on' };
    s.udpOffload = 'gso off (the kernel refused UDP_SEGMENT: EIO), gro on';
    expect(formatStatus(s).split('\n')[0]).toBe('tunnel left (pid 4242): tun tsvpn-left mtu 1438 (offload: tso on, uso on; udp gso off (the kernel refused UDP_SEGMENT: EIO), gro on), ESP in UDP (RFC 3948)');
  });

  it('counts retransmitted IKE requests (a lossy path)', () => {
    const s = upStatus();
    s.retransmits = 7;
    expect(formatStatus(s).split('\n')).toContain('ike: 7 requests retransmitted');
    s.retransmits = 1;
    expect(formatStatus(s).split('\n')).toContain('ike: 1 request retransmitted');
  });

  it('shows a learnt path MTU and the tunnel MTU it gives under the Child SA, and nothing for the route\'s (F7)', () => {
    const s = upStatus();
    const c = s.ikeSas[0].children[0];
    c.mtu = { pathMtu: 1500, tunnelMtu: 1438, source: 'route' };
    expect(formatStatus(s)).not.toContain('path MTU');
    c.mtu = { pathMtu: 1300, tunnelMtu: 1246, source: 'icmp', reportedBy: '10.99.1.1', expiresIn: 590 };
    expect(formatStatus(s).split('\n')).toContain('    mtu 1246: path MTU 1300 reported by 10.99.1.1, for 9m 50s');
    c.mtu = { pathMtu: 1293, tunnelMtu: 1238, source: 'probe', expiresIn: 600 };
    expect(formatStatus(s).split('\n')).toContain('    mtu 1238: path MTU 1293 found by probe (no ICMP), for 10m 0s');
  });

  it('says so when there is no IKE SA, no TUN and no ESP yet', () => {
    const s = upStatus();
    s.ikeSas = [];
    s.tun = null;
    s.encap = null;
    s.lastFailure = { row: 'F1', message: 'IKE_SA_INIT got no response after 5 retransmits', fixArea: 'outer firewall, routing, peer address', at: '2026-11-26T21:00:00.000Z' };
    expect(formatStatus(s).split('\n')).toEqual([
      'tunnel left (pid 4242): no tun, no ESP yet',
      'left: no IKE SA',
      'last failure: F1 IKE_SA_INIT got no response after 5 retransmits (at 2026-11-26T21:00:00.000Z)',
      '  fix: outer firewall, routing, peer address',
    ]);
  });

  it('shows the last failure of a peer that never authenticated apart, with where it came from', () => {
    const s = upStatus();
    s.lastUnauthenticatedFailure = { row: 'F3', message: 'authentication of the initiator failed: psk-mismatch', from: '198.51.100.9:500', count: 3, at: '2026-11-26T21:00:00.000Z', evidence: { check: 'psk-mismatch' }, fixArea: 'identity and trust chain' };
    const lines = formatStatus(s).split('\n');
    expect(lines).toContain('last unauthenticated failure: F3 authentication of the initiator failed: psk-mismatch from 198.51.100.9:500 (at 2026-11-26T21:00:00.000Z; 3 since start)');
    expect(lines.some((l) => l.startsWith('last failure:'))).toBe(false);
  });

  it('marks raw ESP as plain TUNNEL mode', () => {
    const s = upStatus();
    s.encap = 'raw';
    expect(formatStatus(s)).toContain(', INSTALLED, TUNNEL, ESP SPIs');
    expect(formatStatus(s)).toContain('ESP (IP protocol 50)');
  });

  it('formats endpoints, ages and drop tables', () => {
    expect(endpointText('198.51.100.1:500')).toBe('198.51.100.1[500]');
    expect(endpointText('2001:db8::1:4500')).toBe('2001:db8::1[4500]');
    expect(endpointText('[2001:db8::1]:4500')).toBe('2001:db8::1[4500]');
    expect(endpointText('%any')).toBe('%any');
    expect(agoText(0)).toBe('0s');
    expect(agoText(59.9)).toBe('59s');
    expect(agoText(61)).toBe('1m 1s');
    expect(agoText(7200)).toBe('2h 0m');
    expect(agoText(90000)).toBe('1d 1h');
    expect(dropsText({ b: 0, a: 0 })).toBe('');
    expect(dropsText(undefined)).toBe('');
  });

  it('an IKE SA without a Child SA says where the last one went (the peer deleted it), and only then', () => {
    const s = upStatus();
    s.lastChildGone = { name: 'left', reason: 'peer', at: '2026-12-07T05:30:14.603Z' };
    expect(formatStatus(s)).not.toContain('no Child SA');
    s.ikeSas[0]!.children = [];
    expect(formatStatus(s)).toContain('no Child SA: left was deleted by the peer at 2026-12-07T05:30:14.603Z, and nothing replaced it');
  });

  it('a Child SA whose routes failed is NOT ROUTED in status and never announced as up', async () => {
    const s = upStatus();
    s.ikeSas[0]!.children[0]!.routeError = 'routes for 203.0.113.128/25 could not be installed: RTNETLINK answers: File exists';
    expect(formatStatus(s)).toContain('    NOT ROUTED (F5): routes for 203.0.113.128/25 could not be installed: RTNETLINK answers: File exists');
    const { upPeers } = await import('../../src/cli/up.js');
    expect(upPeers(s).size).toBe(0);
    expect(upPeers(upStatus()).size).toBe(1);
  });

  it('a gateway lists its connections with their peers up and each one\'s own last failure', () => {
    const s = upStatus();
    s.name = 'hub';
    s.connections.push({ name: 'road', local: '198.51.100.1', remote: '%any', remoteId: '*.road.example', start: 'wait', localTs: ['10.0.0.0/16'], remoteTs: ['10.99.0.0/24'], reauths: 0, lastFailure: { row: 'F3', message: 'authentication of the initiator failed: psk-mismatch', fixArea: 'identity and trust chain', at: '2026-12-07T05:00:00.000Z' } });
    const text = formatStatus(s);
    expect(text).toContain("  left: 198.51.100.1 <-> 198.51.100.2 'right.example', 203.0.113.0/25 === 203.0.113.128/25, 1 peer up");
    expect(text).toContain("  road: 198.51.100.1 <-> %any '*.road.example', 10.0.0.0/16 === 10.99.0.0/24, waiting");
    expect(text).toContain('    last failure: F3 authentication of the initiator failed: psk-mismatch');
    expect(text).toContain('left: #1, ESTABLISHED'); // each IKE SA under its connection's name
  });

  it('prints the fix area of the last failure and the recent failures briefly, newest first, resolved or not', () => {
    const s = upStatus();
    s.lastFailure = null;
    s.failures = [
      { row: 'F8', message: 'the NAT in front of the peer changed its mapping', fixArea: 'NAT-T, UDP 4500, keepalive interval', at: '2026-12-07T08:00:05.000Z', resolvedAt: '2026-12-07T08:00:05.020Z' },
      { row: 'F1', message: 'no answer yet to IKE_SA_INIT', fixArea: 'outer firewall, routing, peer address', at: '2026-12-07T08:00:00.000Z' },
      ...Array.from({ length: 5 }, (_, i) => ({ row: 'F1', message: `old ${i}`, fixArea: 'outer firewall, routing, peer address', at: '2026-12-07T07:00:00.000Z', resolvedAt: '2026-12-07T07:00:30.000Z' })),
    ];
    const lines = formatStatus(s).split('\n');
    const at = lines.indexOf('failures (newest first, 5 of 7):');
    expect(at).toBeGreaterThan(0);
    expect(lines.slice(at + 1, at + 3)).toEqual([
      '  F8 at 2026-12-07T08:00:05.000Z, resolved 2026-12-07T08:00:05.020Z: the NAT in front of the peer changed its mapping',
      '  F1 at 2026-12-07T08:00:00.000Z, UNRESOLVED: no answer yet to IKE_SA_INIT',
    ]);
    expect(lines.slice(at + 1).filter((l) => l.startsWith('  F'))).toHaveLength(5);
    s.lastFailure = s.failures[1]!;
    expect(formatStatus(s)).toContain('last failure: F1 no answer yet to IKE_SA_INIT (at 2026-12-07T08:00:00.000Z)\n  fix: outer firewall, routing, peer address');
  });

  it('a peer that forces UDP encapsulation is said to, not to be behind a NAT', () => {
    const s = upStatus();
    s.ikeSas[0]!.nat = { local: false, remote: true, peerForcesEncap: true };
    const text = formatStatus(s);
    expect(text).toContain('  UDP encapsulation: the peer forces UDP encapsulation; no NAT detected from our side');
    expect(text).not.toContain('behind a NAT');
  });
});

