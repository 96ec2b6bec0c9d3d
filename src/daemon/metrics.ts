// Prometheus metrics (text exposition format, via prom-client) of running tunnels, built from
// their status (src/daemon/status.ts) at each request: the datapath keeps no second set of
// counters. Per connection: IKE SAs by state, Child SAs installed, bytes and packets each way,
// rekeys, reauthentications, failures by failure-map row; per tunnel: drops by direction and
// reason, IKE counters (COOKIEs, half-open refusals...), retransmits, the TUN MTU.
// Counters that live in an SA (bytes, packets, Child SA rekeys) restart when the SA is
// replaced; rate() and increase() treat that as the counter reset it is.
import { Counter, Gauge, Registry } from 'prom-client';
import type { TunnelStatus } from './status.js';

type Labels = Record<string, string>;

/** One metric family; its samples are added one by one (summed when the labels repeat). */
interface Family {
  readonly kind: 'counter' | 'gauge';
  readonly name: string;
  readonly help: string;
  readonly labels: readonly string[];
}

const FAMILIES = {
  ikeSas: { kind: 'gauge', name: 'tsvpn_ike_sas', help: 'IKE SAs by state', labels: ['tunnel', 'connection', 'state'] },
  childSas: { kind: 'gauge', name: 'tsvpn_child_sas_installed', help: 'Child SAs installed', labels: ['tunnel', 'connection'] },
  bytesIn: { kind: 'counter', name: 'tsvpn_esp_in_bytes_total', help: 'Inner bytes received and delivered through the installed Child SAs', labels: ['tunnel', 'connection'] },
  bytesOut: { kind: 'counter', name: 'tsvpn_esp_out_bytes_total', help: 'ESP bytes sent on the installed Child SAs', labels: ['tunnel', 'connection'] },
  packetsIn: { kind: 'counter', name: 'tsvpn_esp_in_packets_total', help: 'ESP packets received and accepted on the installed Child SAs', labels: ['tunnel', 'connection'] },
  packetsOut: { kind: 'counter', name: 'tsvpn_esp_out_packets_total', help: 'ESP packets sent on the installed Child SAs', labels: ['tunnel', 'connection'] },
  childRekeys: { kind: 'counter', name: 'tsvpn_child_sa_rekeys_total', help: 'Rekeys that led to the installed Child SAs', labels: ['tunnel', 'connection'] },
  ikeRekeys: { kind: 'counter', name: 'tsvpn_ike_sa_rekeys_total', help: 'Rekeys that led to the current IKE SAs', labels: ['tunnel', 'connection'] },
  reauths: { kind: 'counter', name: 'tsvpn_ike_sa_reauths_total', help: 'IKE SAs replaced by reauthentication (RFC 7296 section 2.8.3)', labels: ['tunnel', 'connection'] },
  failures: { kind: 'counter', name: 'tsvpn_failures_total', help: 'Failures by failure-map row (docs/failure-map.md)', labels: ['tunnel', 'connection', 'row'] },
  drops: { kind: 'counter', name: 'tsvpn_drops_total', help: 'Packets dropped by direction and reason (docs/failure-map.md)', labels: ['tunnel', 'direction', 'reason'] },
  ike: { kind: 'counter', name: 'tsvpn_ike_messages_total', help: 'IKE datagrams counted by what happened to them (COOKIEs, half-open refusals, malformed...)', labels: ['tunnel', 'counter'] },
  retransmits: { kind: 'counter', name: 'tsvpn_ike_retransmits_total', help: 'IKE requests sent again for want of an answer (RFC 7296 section 2.1)', labels: ['tunnel'] },
  tunMtu: { kind: 'gauge', name: 'tsvpn_tun_mtu_bytes', help: 'MTU of the TUN device', labels: ['tunnel', 'device'] },
  connections: { kind: 'gauge', name: 'tsvpn_connections', help: 'Configured connections', labels: ['tunnel'] },
} satisfies Record<string, Family>;

type Key = keyof typeof FAMILIES;

/** The Prometheus text of these tunnels (one `tunnel` label value each). */
export async function metricsText(tunnels: readonly TunnelStatus[]): Promise<string> {
  const registry = new Registry();
  const metric = Object.fromEntries(
    Object.entries(FAMILIES).map(([k, f]) => {
      const cfg = { name: f.name, help: f.help, labelNames: f.labels, registers: [registry] };
      return [k, f.kind === 'counter' ? new Counter(cfg) : new Gauge(cfg)];
    }),
  ) as Record<Key, Counter | Gauge>;
  const add = (k: Key, labels: Labels, v: number): void => metric[k].inc(labels, v);
  for (const s of tunnels) addTunnel(s, add);
  return registry.metrics();
}

function addTunnel(s: TunnelStatus, add: (k: Key, labels: Labels, v: number) => void): void {
  const tunnel = s.name;
  // every configured connection shows, with zeros, so a dashboard sees one that never came up
  const names = new Set([...s.connections.map((c) => c.name), ...s.ikeSas.map((sa) => sa.connection)]);
  for (const connection of names) {
    const l = { tunnel, connection };
    for (const k of ['childSas', 'bytesIn', 'bytesOut', 'packetsIn', 'packetsOut', 'childRekeys', 'ikeRekeys', 'reauths'] as const) add(k, l, 0);
  }
  for (const sa of s.ikeSas) {
    const l = { tunnel, connection: sa.connection };
    add('ikeSas', { ...l, state: sa.state }, 1);
    add('ikeRekeys', l, sa.rekeys ?? 0);
    for (const c of sa.children) {
      if (c.state === 'INSTALLED') add('childSas', l, 1);
      add('bytesIn', l, c.bytesIn);
      add('bytesOut', l, c.bytesOut);
      add('packetsIn', l, c.packetsIn);
      add('packetsOut', l, c.packetsOut);
      add('childRekeys', l, c.rekeys);
    }
  }
  for (const c of s.connections) {
    const l = { tunnel, connection: c.name };
    add('reauths', l, c.reauths);
    for (const [row, n] of Object.entries(c.failures ?? {})) add('failures', { ...l, row }, n);
  }
  for (const direction of ['inbound', 'outbound'] as const) {
    for (const [reason, n] of Object.entries(s.drops[direction])) add('drops', { tunnel, direction, reason }, n);
  }
  // the client's kill switch (nftables): what would have left outside the tunnel
  if (typeof s.killSwitch?.dropped === 'number') add('drops', { tunnel, direction: 'outbound', reason: 'kill-switch' }, s.killSwitch.dropped);
  for (const [counter, n] of Object.entries(s.drops.ike)) add('ike', { tunnel, counter }, n);
  add('retransmits', { tunnel }, s.retransmits);
  if (s.tun) add('tunMtu', { tunnel, device: s.tun.name }, s.tun.mtu);
  add('connections', { tunnel }, s.connections.length);
}
