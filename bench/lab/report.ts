// The bench's table: one row per path, its iperf3 figures, and ratios to strongSwan and to
// wireguard-go measured in the same run (the only comparison that means anything here).

import type { TcpResult, UdpResult } from './iperf.js';

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
  /** Filled by ratios(): this row's figure divided by the reference row's, same run. */
  ratios?: { tcpVsStrongswan: number | null; tcpVsWireguard: number | null; udpVsStrongswan: number | null; udpVsWireguard: number | null };
}

/** The tsvpn-vs-strongSwan TCP target of the issue. */
export const TARGET_VS_STRONGSWAN = 3;

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a !== undefined && b !== undefined && b > 0 ? a / b : null;
}

/** Attach ratios to every row (in place) and return the rows. */
export function ratios(rows: Row[]): Row[] {
  const ss = rows.find((r) => r.id === 'strongswan');
  const wg = rows.find((r) => r.id === 'wireguard');
  for (const r of rows) {
    r.ratios = {
      tcpVsStrongswan: ratio(r.tcp?.mbps, ss?.tcp?.mbps),
      tcpVsWireguard: ratio(r.tcp?.mbps, wg?.tcp?.mbps),
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
  const head = ['path', 'TCP Mbit/s', 'UDP offered', 'UDP recv', 'UDP loss', 'TCP/sSwan', 'TCP/wg-go', 'UDP/sSwan', 'UDP/wg-go'];
  const body = rows.map((r) => [
    r.label,
    mb(r.tcp?.mbps),
    mb(r.udp?.offeredMbps),
    mb(r.udp?.receivedMbps),
    r.udp ? `${r.udp.lossPercent.toFixed(1)}%` : '-',
    x(r.ratios?.tcpVsStrongswan),
    x(r.ratios?.tcpVsWireguard),
    x(r.ratios?.udpVsStrongswan),
    x(r.ratios?.udpVsWireguard),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  let out = `${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`;
  for (const b of body) out += `${line(b)}\n`;
  for (const r of rows) if (r.detail) out += `  ${r.label}: ${r.detail}\n`;
  for (const r of rows.filter((r) => r.id.startsWith('tsvpn'))) {
    const v = r.ratios?.tcpVsStrongswan;
    if (v !== null && v !== undefined) {
      out += `${r.label}: TCP ${v.toFixed(2)}x strongSwan (target >= ${TARGET_VS_STRONGSWAN}x: ${v >= TARGET_VS_STRONGSWAN ? 'met' : 'NOT met'})\n`;
    }
  }
  for (const r of rows) if (r.error) out += `${r.label}: ${r.error}\n`;
  return out;
}
