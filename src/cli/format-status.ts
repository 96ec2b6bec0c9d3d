// `tsvpn status` text: one tunnel's TunnelStatus (src/daemon/status.ts: the daemon's
// answer to {"cmd":"status"} on its control socket) laid out like strongSwan's
// `swanctl --list-sas`, so an operator who knows swanctl reads it at a glance, followed by
// what answers "why does it not work": drops by reason, the last unresolved failure-map row
// with its fix area, and the recent failures, resolved or not.

import type { TunnelStatus } from '../daemon/status.js';

type IkeSaStatus = TunnelStatus['ikeSas'][number];
type ChildStatus = IkeSaStatus['children'][number];

/** "198.51.100.1:4500" or "2001:db8::1:4500" (the daemon's addr:port) -> "198.51.100.1[4500]", swanctl's form. */
export function endpointText(e: string): string {
  const m = /^\[?([0-9a-fA-F:.]+?)\]?:(\d+)$/.exec(e);
  return m ? `${m[1]}[${m[2]}]` : e;
}

/** "12s", "5m 3s", "2h 0m", "1d 4h": how long ago something happened, to the second. */
export function agoText(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** Non-zero counters as "replay 2, integrity 1" (sorted by name); '' when all are zero. */
export function dropsText(d: Record<string, number> | undefined): string {
  if (!d) return '';
  return Object.keys(d)
    .filter((k) => (d[k] ?? 0) !== 0)
    .sort()
    .map((k) => `${k} ${d[k]}`)
    .join(', ');
}

function spiPair(sa: IkeSaStatus): string {
  // swanctl marks the initiator's SPI _i, the responder's _r, and ours with a star
  return sa.role === 'initiator' ? `${sa.localSpi}_i* ${sa.remoteSpi}_r` : `${sa.remoteSpi}_i ${sa.localSpi}_r*`;
}

function childLines(name: string, c: ChildStatus, index: number, encap: TunnelStatus['encap']): string[] {
  const mode = c.mode.toUpperCase() + (encap === 'udp' ? '-in-UDP' : '');
  const out = [
    `  ${c.name || name}: #${index + 1}, ${c.state}, ${mode}, ESP SPIs: ${c.spiIn}_i ${c.spiOut}_o`,
    `    ${c.proposal}`,
    `    in  ${c.spiIn}, ${c.bytesIn} bytes, ${c.packetsIn} packets`,
    `    out ${c.spiOut}, ${c.bytesOut} bytes, ${c.packetsOut} packets`,
  ];
  const more: string[] = [];
  if (c.installed !== undefined && c.installed !== null) more.push(`installed ${agoText(c.installed)} ago`);
  if (c.rekeys > 0) more.push(`rekeyed ${c.rekeys}x`);
  if (c.rekeyIn !== undefined) more.push(`rekeying in ${agoText(c.rekeyIn)}`);
  if (c.expiresIn !== undefined) more.push(`expires in ${agoText(c.expiresIn)}`);
  if (more.length > 0) out.push(`    ${more.join(', ')}`);
  c.localTs.forEach((ts) => out.push(`    local  ${ts}`));
  c.remoteTs.forEach((ts) => out.push(`    remote ${ts}`));
  const drops = dropsText(c.drops);
  if (drops) out.push(`    drops: ${drops}`);
  if (c.routeError) out.push(`    NOT ROUTED (F5): ${c.routeError}`);
  // only a learnt path MTU (F7): with the route's, the TUN's MTU on the tunnel line applies
  const m = c.mtu;
  if (m && m.source !== 'route') out.push(`    mtu ${m.tunnelMtu}: path MTU ${m.pathMtu} ${m.source === 'icmp' ? `reported by ${m.reportedBy ?? 'ICMP'}` : 'found by probe (no ICMP)'}${m.expiresIn !== undefined ? `, for ${agoText(m.expiresIn)}` : ''}`);
  return out;
}

function ikeLines(s: TunnelStatus, sa: IkeSaStatus, index: number): string[] {
  const out = [
    `${sa.connection ?? s.name}: #${index + 1}, ${sa.state}, IKEv2, ${spiPair(sa)}`,
    `  local  '${sa.localId}' @ ${endpointText(sa.local)}`,
    `  remote '${sa.remoteId}' @ ${endpointText(sa.remote)}`,
  ];
  if (sa.proposal) out.push(`  ${sa.proposal}${sa.mobike ? ', MOBIKE' : ''}`);
  if (sa.vips?.leased) out.push(`  virtual IP ${sa.vips.leased.join(', ')} leased to the peer`);
  if (sa.vips?.own) out.push(`  virtual IP ${sa.vips.own.join(', ')} from the gateway${sa.vips.dns?.length ? `, DNS ${sa.vips.dns.join(', ')}` : ''}${sa.vips.subnets?.length ? `, subnets ${sa.vips.subnets.join(', ')}` : ''}`);
  if (sa.nat.peerForcesEncap) {
    // its NAT-D hash does not match, yet it answers from the address and port 500 we expect (strongSwan encap=yes, kernel-libipsec)
    out.push('  UDP encapsulation: the peer forces UDP encapsulation; no NAT detected from our side');
  } else if (sa.nat.local || sa.nat.remote) {
    const who = [sa.nat.local ? 'we are behind a NAT' : '', sa.nat.remote ? 'the peer is behind a NAT' : ''].filter(Boolean);
    out.push(`  NAT detected: ${who.join(', ')}`);
  }
  const life: string[] = [];
  if (sa.established !== null) life.push(`established ${agoText(sa.established)} ago`);
  if (sa.rekeys) life.push(`rekeyed ${sa.rekeys}x`);
  if (sa.rekeyIn !== undefined) life.push(`rekeying in ${agoText(sa.rekeyIn)}`);
  if (sa.expiresIn !== undefined) life.push(`expires in ${agoText(sa.expiresIn)}`);
  if (sa.reauthIn !== undefined) life.push(`reauthenticating in ${agoText(sa.reauthIn)}`);
  if (life.length > 0) out.push(`  ${life.join(', ')}`);
  sa.children.forEach((c, i) => out.push(...childLines(sa.connection ?? s.name, c, i, s.encap)));
  return out;
}

/** A gateway's connections, one line each with its peers up, and each one's own last failure. */
function connectionLines(s: TunnelStatus): string[] {
  const conns = s.connections ?? [];
  if (conns.length < 2) return [];
  const out = ['connections:'];
  for (const c of conns) {
    const peers = s.ikeSas.filter((sa) => sa.connection === c.name && sa.state === 'ESTABLISHED' && sa.children.some((ch) => ch.state === 'INSTALLED')).length;
    out.push(`  ${c.name}: ${c.local} <-> ${c.remote} '${c.remoteId}', ${c.localTs.join(',')} === ${c.remoteTs.join(',')}, ${peers === 0 ? (c.start === 'initiate' ? 'down' : 'waiting') : `${peers} peer${peers === 1 ? '' : 's'} up`}`);
    if (c.lastFailure) out.push(...failureLines('    last failure', c.lastFailure, '').map((l, i) => (i === 0 ? l : `  ${l}`)));
  }
  return out;
}

function evidenceText(e: unknown): string {
  if (e === undefined || e === null) return '';
  if (typeof e !== 'object') return String(e);
  return Object.entries(e as Record<string, unknown>)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** The whole text block for one tunnel, ending without a newline. */
export function formatStatus(s: TunnelStatus): string {
  const encap = s.encap === 'udp' ? 'ESP in UDP (RFC 3948)' : s.encap === 'raw' ? 'ESP (IP protocol 50)' : 'no ESP yet';
  const offloads = [s.tun?.offload, s.udpOffload && `udp ${s.udpOffload}`].filter(Boolean).join('; ');
  const tun = s.tun ? `tun ${s.tun.name} mtu ${s.tun.mtu}${offloads ? ` (offload: ${offloads})` : ''}` : 'no tun';
  const lines = [`tunnel ${s.name} (pid ${s.pid}): ${tun}, ${encap}`, ...connectionLines(s)];
  if (s.ikeSas.length === 0) lines.push(`${s.name}: no IKE SA`);
  s.ikeSas.forEach((sa, i) => lines.push(...ikeLines(s, sa, i)));
  const drops = [
    ['in', dropsText(s.drops.inbound)],
    ['out', dropsText(s.drops.outbound)],
    ['ike', dropsText(s.drops.ike)],
  ].filter(([, t]) => t !== '');
  if (drops.length > 0) lines.push(`drops: ${drops.map(([k, t]) => `${k}: ${t}`).join('; ')}`);
  for (const p of s.pools ?? []) lines.push(`pool ${p.name} ${p.addrs}: ${p.online} of ${p.size} addresses online, ${p.offline} kept for peers gone`);
  const ks = s.killSwitch;
  if (ks) lines.push(ks.dropped === null ? `kill switch: nft table ${ks.table} is GONE: traffic outside the tunnel is not blocked (restart tsvpn)` : `kill switch: nft table ${ks.table}, ${ks.dropped} packet${ks.dropped === 1 ? '' : 's'} dropped outside the tunnel`);
  if ((s.routesMissing ?? 0) > 0) lines.push(`routes: ${s.routesMissing} of tsvpn's routes or rules are missing (see the log): their traffic is dropped, not sent in clear`);
  if (s.retransmits > 0) lines.push(`ike: ${s.retransmits} request${s.retransmits === 1 ? '' : 's'} retransmitted`);
  if (s.reauths > 0) lines.push(`ike: reauthenticated ${s.reauths}x`);
  if (s.lastFailure) lines.push(...failureLines('last failure', s.lastFailure, ''));
  lines.push(...historyLines(s.failures));
  // an IKE SA up without a Child SA: say where the last one went (the peer deleted it, or it expired)
  const g = s.lastChildGone;
  const childless = s.ikeSas.some((sa) => sa.state === 'ESTABLISHED' && !sa.children.some((c) => c.state === 'INSTALLED'));
  if (g && childless) lines.push(`no Child SA: ${g.connection && g.connection !== s.name ? `${g.connection}/` : ''}${g.name} was ${g.reason === 'peer' ? 'deleted by the peer' : 'left to expire'} at ${g.at}, and nothing replaced it`);
  const u = s.lastUnauthenticatedFailure;
  // a peer that never authenticated: a misconfigured peer, or anyone at all
  if (u) lines.push(...failureLines('last unauthenticated failure', u, ` from ${u.from}`, `; ${u.count} since start`));
  return lines.join('\n');
}

function failureLines(label: string, f: { row: string; message: string; at: string; evidence?: unknown; fixArea?: string }, from: string, more = ''): string[] {
  const ev = evidenceText(f.evidence);
  return [`${label}: ${f.row} ${f.message}${from} (at ${f.at}${more})`, ...(ev ? [`  evidence: ${ev}`] : []), ...(f.fixArea ? [`  fix: ${f.fixArea}`] : [])];
}

/** Failures shown in the brief history (status --json has them all, with evidence). */
export const HISTORY_LINES = 5;

/** The recent failures, one line each, newest first: row, when, resolved or not, the message. */
function historyLines(failures: TunnelStatus['failures']): string[] {
  const list = failures ?? [];
  if (list.length === 0) return [];
  const out = [`failures (newest first, ${Math.min(list.length, HISTORY_LINES)} of ${list.length}):`];
  for (const f of list.slice(0, HISTORY_LINES)) out.push(`  ${f.row} at ${f.at}, ${f.resolvedAt ? `resolved ${f.resolvedAt}` : 'UNRESOLVED'}: ${f.message}`);
  return out;
}
