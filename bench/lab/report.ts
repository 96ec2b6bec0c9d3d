// The bench's table: one row per path, its iperf3 figures, and ratios to strongSwan, to
// wireguard-go and to OpenVPN measured in the same run (the only comparison that means
// anything here); the UDP search's ceilings and tsvpn's cost per volume under it.

import type { TcpResult, UdpResult } from './iperf.js';
import type { UdpSearchResult } from './udp-search.js';
import type { Cost } from './datapath-cost.js';

export interface Row {
  id: string;
  label: string;
  /** Version, MTU, encapsulation: what was measured. */
  detail: string;
  tcp: TcpResult | null;
  udp: UdpResult | null;
  /** Bytes (in + out) the left end's tunnel counted during the tests; absent without a tunnel. */
  carriedBytes?: number;
  /** Why a path or one of its tests has no figure. */
  error: string | null;
  /** Why the path did not run at all (a tool is missing): not an error. */
  skipped?: string;
  /** --udp-search: the highest offered rate with under 1% loss. */
  udpSearch?: UdpSearchResult;
  /** What the tunnel's processes spent per volume during the TCP and UDP tests. */
  cost?: { tcp?: Cost; udp?: Cost };
  /** Filled by ratios(): this row's figure divided by the reference row's, same run. */
  ratios?: {
    tcpVsStrongswan: number | null;
    tcpVsWireguard: number | null;
    tcpVsOpenvpn: number | null;
    udpVsStrongswan: number | null;
    udpVsWireguard: number | null;
  };
}

/** The tsvpn-vs-strongSwan TCP target of the issue. */
export const TARGET_VS_STRONGSWAN = 3;
/** Issue 15's tsvpn-vs-OpenVPN TCP target. */
export const TARGET_VS_OPENVPN = 3;

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a !== undefined && b !== undefined && b > 0 ? a / b : null;
}

/** Attach ratios to every row (in place) and return the rows. */
export function ratios(rows: Row[]): Row[] {
  const ss = rows.find((r) => r.id === 'strongswan');
  const wg = rows.find((r) => r.id === 'wireguard');
  const ovpn = rows.find((r) => r.id === 'openvpn');
  for (const r of rows) {
    r.ratios = {
      tcpVsStrongswan: ratio(r.tcp?.mbps, ss?.tcp?.mbps),
      tcpVsWireguard: ratio(r.tcp?.mbps, wg?.tcp?.mbps),
      tcpVsOpenvpn: ratio(r.tcp?.mbps, ovpn?.tcp?.mbps),
      udpVsStrongswan: ratio(r.udp?.receivedMbps, ss?.udp?.receivedMbps),
      udpVsWireguard: ratio(r.udp?.receivedMbps, wg?.udp?.receivedMbps),
    };
  }
  return rows;
}

const mb = (v: number | undefined): string => (v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const x = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${v.toFixed(2)}x`);

/** Plain-text table, then the target verdict and any per-path errors. */
export function formatTable(rows: Row[]): string {
  ratios(rows);
  const searched = rows.some((r) => r.udpSearch);
  const head = ['path', 'TCP Mbit/s', 'UDP offered', 'UDP recv', 'UDP loss', 'TCP/sSwan', 'TCP/wg-go', 'TCP/OpenVPN', 'UDP/sSwan', 'UDP/wg-go'];
  if (searched) head.push('UDP <1% loss');
  const body = rows.map((r) => {
    const cells = [
      r.label,
      mb(r.tcp?.mbps),
      mb(r.udp?.offeredMbps),
      mb(r.udp?.receivedMbps),
      r.udp ? `${r.udp.lossPercent.toFixed(1)}%` : '-',
      x(r.ratios?.tcpVsStrongswan),
      x(r.ratios?.tcpVsWireguard),
      r.id.startsWith('tsvpn') ? x(r.ratios?.tcpVsOpenvpn) : '-',
      x(r.ratios?.udpVsStrongswan),
      x(r.ratios?.udpVsWireguard),
    ];
    if (searched) cells.push(r.udpSearch?.best ? `${mb(r.udpSearch.best.offeredMbps)}${r.udpSearch.senderBound ? '*' : ''}` : '-');
    return cells;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  let out = `${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`;
  for (const b of body) out += `${line(b)}\n`;
  for (const r of rows) if (r.detail) out += `  ${r.label}: ${r.detail}\n`;
  if (searched) out += formatSearch(rows);
  out += formatCost(rows);
  for (const r of rows.filter((r) => r.id.startsWith('tsvpn'))) {
    const v = r.ratios?.tcpVsStrongswan;
    if (v !== null && v !== undefined) {
      out += `${r.label}: TCP ${v.toFixed(2)}x strongSwan (target >= ${TARGET_VS_STRONGSWAN}x: ${v >= TARGET_VS_STRONGSWAN ? 'met' : 'NOT met'})\n`;
    }
    const o = r.ratios?.tcpVsOpenvpn;
    if (o !== null && o !== undefined) {
      out += `${r.label}: TCP ${o.toFixed(2)}x OpenVPN (issue 15 target >= ${TARGET_VS_OPENVPN}x: ${o >= TARGET_VS_OPENVPN ? 'met' : 'NOT met'})\n`;
    }
  }
  for (const r of rows) if (r.skipped) out += `${r.label}: skipped: ${r.skipped}\n`;
  for (const r of rows) if (r.error) out += `${r.label}: ${r.error}\n`;
  return out;
}

function formatSearch(rows: Row[]): string {
  let out = 'UDP <1% loss: the highest rate iperf3 offered with under 1% lost (Mbit/s; * = the iperf3 sender could not offer more, so the path may carry more):\n';
  for (const r of rows.filter((r) => r.udpSearch)) {
    const s = r.udpSearch!;
    const steps = s.steps.map((t) => `${t.askedMbps}M:${t.result.lossPercent.toFixed(1)}%`).join(' ');
    const best = s.best ? `${mb(s.best.offeredMbps)} offered, ${mb(s.best.receivedMbps)} received` : 'no rate passed';
    out += `  ${r.label}: ${best}; first failing -b ${s.failedAtMbps === null ? 'none' : `${s.failedAtMbps}M`}; steps (-b:loss) ${steps}\n`;
  }
  return out;
}

function formatCost(rows: Row[]): string {
  const measured = rows.filter((r) => r.cost?.tcp || r.cost?.udp);
  if (measured.length === 0) return '';
  const source = measured.flatMap((r) => [r.cost?.tcp?.source, r.cost?.udp?.source]).filter((v) => v !== undefined);
  let out = `Cost of both tunnel daemons together, per iperf3 payload (CPU from /proc/<pid>/stat utime+stime; system calls from ${[...new Set(source)].join(' / ')}):\n`;
  for (const r of measured) {
    for (const [what, c] of [['TCP', r.cost?.tcp], ['UDP', r.cost?.udp]] as const) {
      if (!c) continue;
      out += `  ${r.label} ${what}: ${c.syscallsPerMB.toFixed(0)} system calls/MB, ${c.cpuSPerGB.toFixed(2)} CPU s/GB (${c.syscalls} calls, ${c.cpuS.toFixed(2)} CPU s, ${c.mb.toFixed(0)} MB)\n`;
    }
  }
  return out;
}
