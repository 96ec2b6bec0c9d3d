// The Prometheus text `tsvpn metrics` prints and --metrics-file writes, from a status.
import { describe, expect, it } from 'vitest';

import { metricsText } from '../../src/daemon/metrics.js';
import { troubledStatus, upStatus } from '../cli/fixtures.js';

/** The samples of the text: 'name{labels}' -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('Prometheus metrics from a tunnel status', () => {
  it('counts SAs, bytes and packets per connection, with the tunnel and connection as labels', async () => {
    const m = samples(await metricsText([upStatus()]));
    expect(m.get('tsvpn_ike_sas{tunnel="left",connection="left",state="ESTABLISHED"}')).toBe(1);
    expect(m.get('tsvpn_child_sas_installed{tunnel="left",connection="left"}')).toBe(1);
    expect(m.get('tsvpn_esp_in_bytes_total{tunnel="left",connection="left"}')).toBe(1234);
    expect(m.get('tsvpn_esp_out_bytes_total{tunnel="left",connection="left"}')).toBe(5678);
    expect(m.get('tsvpn_esp_in_packets_total{tunnel="left",connection="left"}')).toBe(10);
    expect(m.get('tsvpn_esp_out_packets_total{tunnel="left",connection="left"}')).toBe(12);
    expect(m.get('tsvpn_tun_mtu_bytes{tunnel="left",device="tsvpn-left"}')).toBe(1438);
    expect(m.get('tsvpn_connections{tunnel="left"}')).toBe(1);
    expect(m.get('tsvpn_ike_retransmits_total{tunnel="left"}')).toBe(0);
  });

  it('has drops by direction and reason, rekeys, reauths, failures by row and IKE counters', async () => {
    const s = troubledStatus();
    s.drops.ike = { cookiesSent: 4, halfOpenPerAddress: 2 };
    s.retransmits = 3;
    s.connections[0]!.reauths = 1;
    s.connections[0]!.failures = { F2: 2, F1: 1 };
    s.ikeSas[0]!.rekeys = 5;
    const m = samples(await metricsText([s]));
    expect(m.get('tsvpn_drops_total{tunnel="right",direction="inbound",reason="integrity"}')).toBe(2);
    expect(m.get('tsvpn_drops_total{tunnel="right",direction="inbound",reason="replay"}')).toBe(1);
    expect(m.get('tsvpn_drops_total{tunnel="right",direction="outbound",reason="no-sa"}')).toBe(3);
    expect(m.get('tsvpn_ike_messages_total{tunnel="right",counter="cookiesSent"}')).toBe(4);
    expect(m.get('tsvpn_ike_messages_total{tunnel="right",counter="halfOpenPerAddress"}')).toBe(2);
    expect(m.get('tsvpn_ike_retransmits_total{tunnel="right"}')).toBe(3);
    expect(m.get('tsvpn_child_sa_rekeys_total{tunnel="right",connection="right"}')).toBe(2);
    expect(m.get('tsvpn_ike_sa_rekeys_total{tunnel="right",connection="right"}')).toBe(5);
    expect(m.get('tsvpn_ike_sa_reauths_total{tunnel="right",connection="right"}')).toBe(1);
    expect(m.get('tsvpn_failures_total{tunnel="right",connection="right",row="F2"}')).toBe(2);
    expect(m.get('tsvpn_failures_total{tunnel="right",connection="right",row="F1"}')).toBe(1);
    expect([...m.keys()].some((k) => k.includes('kill-switch'))).toBe(false);
    s.killSwitch = { table: 'inet tsvpn_right', dropped: 9 };
    expect(samples(await metricsText([s])).get('tsvpn_drops_total{tunnel="right",direction="outbound",reason="kill-switch"}')).toBe(9);
  });

  it('shows a connection that is down with zeros, and sums the SAs of one connection', async () => {
    const s = upStatus();
    s.connections.push({ ...s.connections[0]!, name: 'branch2' });
    const sa = structuredClone(s.ikeSas[0]!);
    s.ikeSas.push(sa); // a %any connection with two peers, or an IKE SA and its rekeyed successor
    const m = samples(await metricsText([s]));
    expect(m.get('tsvpn_child_sas_installed{tunnel="left",connection="branch2"}')).toBe(0);
    expect(m.get('tsvpn_esp_in_bytes_total{tunnel="left",connection="branch2"}')).toBe(0);
    expect(m.get('tsvpn_ike_sas{tunnel="left",connection="left",state="ESTABLISHED"}')).toBe(2);
    expect(m.get('tsvpn_esp_in_bytes_total{tunnel="left",connection="left"}')).toBe(2468);
  });

  it('follows the Prometheus conventions: tsvpn_ prefix, HELP and TYPE, counters end in _total', async () => {
    const text = await metricsText([upStatus(), troubledStatus()]);
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => [x[1]!, x[2]!] as const);
    expect(types.length).toBeGreaterThan(10);
    for (const [name, type] of types) {
      expect(name).toMatch(/^tsvpn_[a-z_]+$/);
      expect(text).toContain(`# HELP ${name} `);
      if (type === 'counter') expect(name).toMatch(/_total$/);
      else expect(name).not.toMatch(/_total$/);
    }
    // two tunnels in one text: one family each, told apart by the tunnel label
    expect(text.match(/^# TYPE tsvpn_ike_sas gauge$/gm)).toHaveLength(1);
    expect(text).toContain('tunnel="right"');
    expect(text).toContain('tunnel="left"');
  });

  it('carries no identities, addresses or SPIs (labels are names, directions, reasons, rows)', async () => {
    const text = await metricsText([troubledStatus()]);
    for (const s of ['right.example', '2001:db8', '0102030405060708', 'c1234567', 'aes256']) expect(text).not.toContain(s);
  });
});
