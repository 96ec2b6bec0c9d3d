// The handshake bench's figures: per gateway and peer count, IKE+Child SAs established per
// second of wall clock and per CPU-second of the gateway process ("per core"), resident
// memory per established IKE SA, every failure and timeout; then tsvpn/strongSwan ratios
// from the same run and the targets (issue 11: at least strongSwan's rate per core,
// under 50 KiB per IKE SA with one Child SA).
import type { GeneratorReport } from './handshake-generator.js';
import type { ProcSample } from './proc-stats.js';

export interface HandshakeRow {
  gateway: 'tsvpn' | 'strongswan';
  peers: number;
  detail: string;
  generator?: GeneratorReport;
  before?: ProcSample;
  after?: ProcSample;
  /** IKE SAs the gateway itself lists ESTABLISHED with an INSTALLED Child SA. */
  gatewayEstablished?: number;
  /** How long the gateway kept working after the last peer was up (s, to 0.5 s: it is polled). */
  settleS?: number;
  /** How long the gateway took to list its SAs (s): its status path under load. */
  statusS?: number;
  error: string | null;
}

export interface Figures {
  established: number;
  gatewayEstablished: number | null;
  failed: number;
  timedOut: number;
  wallS: number | null;
  perSecond: number | null;
  /** Gateway CPU (its threads + the children it waited for) during the run, s. */
  cpuS: number | null;
  childCpuS: number | null;
  perCpuSecond: number | null;
  rssBeforeKiB: number | null;
  rssAfterKiB: number | null;
  kibPerSa: number | null;
  generatorCpuS: number | null;
  cookies: number;
  settleS: number | null;
  statusS: number | null;
}

export const TARGET_KIB_PER_SA = 50;

const div = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === null || a === undefined || b === null || b === undefined || b <= 0 ? null : a / b;

export function figures(r: HandshakeRow): Figures {
  const g = r.generator;
  const cpu = r.before && r.after ? r.after.cpuS - r.before.cpuS + (r.after.childCpuS - r.before.childCpuS) : null;
  const up = g?.established ?? 0;
  // memory per SA the gateway holds: its own count when it has one
  const holders = r.gatewayEstablished ?? up;
  return {
    established: up,
    gatewayEstablished: r.gatewayEstablished ?? null,
    failed: g?.failed ?? 0,
    timedOut: g?.timedOut ?? 0,
    wallS: g?.wallS ?? null,
    perSecond: div(up, g?.wallS),
    cpuS: cpu,
    childCpuS: r.before && r.after ? r.after.childCpuS - r.before.childCpuS : null,
    perCpuSecond: div(up, cpu),
    rssBeforeKiB: r.before?.rssKiB ?? null,
    rssAfterKiB: r.after?.rssKiB ?? null,
    kibPerSa: r.before && r.after ? div(r.after.rssKiB - r.before.rssKiB, holders) : null,
    generatorCpuS: g?.generatorCpuS ?? null,
    cookies: g?.cookies ?? 0,
    settleS: r.settleS ?? null,
    statusS: r.statusS ?? null,
  };
}

export interface Ratios {
  perSecond: number | null;
  perCpuSecond: number | null;
  kibPerSa: number | null;
}

const n = (v: number | null, digits = 1): string => (v === null ? '-' : v.toFixed(digits));
const x = (v: number | null): string => (v === null ? '-' : `${v.toFixed(2)}x`);

/** The table (text) and the summary (figures and ratios by peer count) for the JSON line. */
export function formatHandshake(rows: HandshakeRow[]): { table: string; summary: { results: Record<string, unknown> } } {
  const head = ['gateway', 'peers', 'up (gw)', 'failed', 'timeout', 'wall s', 'SAs/s', 'gw CPU s', '(ip etc.)', 'SAs/CPU-s', 'RSS KiB before', 'after', 'KiB/SA', 'gen CPU s', 'busy after s', 'list s'];
  const body = rows.map((r) => {
    const f = figures(r);
    return [r.gateway, String(r.peers), `${f.established} (${f.gatewayEstablished ?? '-'})`, String(f.failed), String(f.timedOut), n(f.wallS, 2), n(f.perSecond), n(f.cpuS, 2), n(f.childCpuS, 2), n(f.perCpuSecond), n(f.rssBeforeKiB, 0), n(f.rssAfterKiB, 0), n(f.kibPerSa), n(f.generatorCpuS, 2), n(f.settleS, 1), n(f.statusS, 2)];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  let out = `${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`;
  for (const b of body) out += `${line(b)}\n`;

  const results: Record<string, unknown> = {};
  for (const peers of [...new Set(rows.map((r) => r.peers))]) {
    const ts = rows.find((r) => r.peers === peers && r.gateway === 'tsvpn');
    const ss = rows.find((r) => r.peers === peers && r.gateway === 'strongswan');
    const a = ts ? figures(ts) : undefined;
    const b = ss ? figures(ss) : undefined;
    const ratios: Ratios = {
      perSecond: div(a?.perSecond, b?.perSecond),
      perCpuSecond: div(a?.perCpuSecond, b?.perCpuSecond),
      kibPerSa: div(a?.kibPerSa, b?.kibPerSa),
    };
    results[String(peers)] = { tsvpn: a ?? null, strongswan: b ?? null, tsvpnOverStrongswan: ratios };
    out += `${peers} peers, tsvpn/strongSwan: SAs/s ${x(ratios.perSecond)}, SAs per CPU-second ${x(ratios.perCpuSecond)}, KiB per SA ${x(ratios.kibPerSa)}\n`;
    if (ratios.perCpuSecond !== null) out += `  target rate per core >= strongSwan's: ${ratios.perCpuSecond >= 1 ? 'met' : 'NOT met'}\n`;
    if (a?.kibPerSa !== null && a?.kibPerSa !== undefined) out += `  target < ${TARGET_KIB_PER_SA} KiB per IKE SA: ${a.kibPerSa < TARGET_KIB_PER_SA ? 'met' : 'NOT met'} (${a.kibPerSa.toFixed(1)} KiB)\n`;
  }
  for (const d of new Set(rows.filter((r) => r.detail).map((r) => `  ${r.gateway}: ${r.detail}\n`))) out += d;
  for (const r of rows) {
    for (const [msg, count] of Object.entries(r.generator?.failures ?? {})) out += `${r.gateway} ${r.peers}: ${count} x ${msg}\n`;
    if (r.error) out += `${r.gateway} ${r.peers}: ERROR ${r.error}\n`;
  }
  return { table: out, summary: { results } };
}
