// The kill switch's nftables table, decided without touching the host: what leaves outside the
// TUN (IKE and ESP to the gateway, loopback, DHCP and neighbour discovery, the LAN with
// allowLan), and that everything else is counted and dropped. And without nft on PATH, the
// refusal names the package to install (nothing is run but the lookup).
import { describe, expect, it } from 'vitest';
import { requireNft } from '../../src/io/kill-switch.js';
import { KillSwitchError, killSwitchScript, killSwitchTable } from '../../src/io/kill-switch-rules.js';

describe('killSwitchScript', () => {
  it('replaces the table in one transaction and lets out only IKE and ESP to the gateway besides loopback and the TUN', () => {
    const s = killSwitchScript({ name: 'laptop', dev: 'tsvpn-laptop', gateways: [{ addr: '198.51.100.1', port: 500 }] });
    const lines = s.split('\n').map((l) => l.trim());
    expect(lines.slice(0, 3)).toEqual(['table inet tsvpn_laptop', 'delete table inet tsvpn_laptop', 'table inet tsvpn_laptop {']);
    expect(lines).toContain('type filter hook postrouting priority filter; policy accept;');
    expect(lines).toContain('oifname "lo" accept');
    expect(lines).toContain('oifname "tsvpn-laptop" accept');
    expect(lines).toContain('ip daddr 198.51.100.1 udp dport { 500, 4500 } accept');
    expect(lines).toContain('ip daddr 198.51.100.1 meta l4proto esp accept');
    // the last rule of the chain: everything else is counted and dropped
    expect(lines.filter((l) => l.endsWith('drop'))).toEqual(['counter name "dropped" drop']);
    expect(lines.indexOf('counter name "dropped" drop')).toBe(lines.length - 4);
    expect(s).not.toMatch(/daddr \{/); // no LAN without allowLan
  });

  it('an IPv6 gateway on another IKE port; the LAN of each family with its link scope when allowLan', () => {
    const s = killSwitchScript({ name: 'x', dev: 't', gateways: [{ addr: '2001:db8::1', port: 4500 }], lan: ['192.168.1.0/24', '2001:db8:9::/64'] });
    expect(s).toContain('ip6 daddr 2001:db8::1 udp dport { 4500 } accept');
    expect(s).toContain('ip daddr { 192.168.1.0/24, 224.0.0.0/24 } accept');
    expect(s).toContain('ip6 daddr { 2001:db8:9::/64, fe80::/10, ff02::/16 } accept');
  });

  it('refuses what nft would misread, before anything runs', () => {
    expect(() => killSwitchTable('a b')).toThrow(KillSwitchError);
    expect(() => killSwitchScript({ name: 'x', dev: 'bad"dev', gateways: [{ addr: '198.51.100.1', port: 500 }] })).toThrow(/not a network device name/);
    expect(() => killSwitchScript({ name: 'x', dev: 't', gateways: [] })).toThrow(/gateway's address/);
    expect(() => killSwitchScript({ name: 'x', dev: 't', gateways: [{ addr: '%any', port: 500 }] })).toThrow(/not an IP address/);
  });
});

describe('requireNft', () => {
  it('without nft, a kill switch is refused with the package to install', () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(() => requireNft()).toThrow('killSwitch needs nft, which is not installed: install the nftables package (apt-get install nftables, dnf install nftables)');
    } finally {
      process.env.PATH = path;
    }
  });
});
