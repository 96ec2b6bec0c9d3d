// What `tsvpn diagnose` looks at, gathered live and read-only: the daemon's status and probes
// through its control socket, `ip route get` / `ip neigh` / `ip addr` / `ip route show`, and
// `nft -j list ruleset`. The commands and the control socket come in through HostIo, so
// tests feed recorded outputs. The judgement is src/cli/diagnose-steps.ts.
import type { ProbeResult } from '../daemon/probe.js';
import type { TunnelStatus } from '../daemon/status.js';
import { errText } from '../daemon/log.js';
import { probeHost } from '../ipsec/icmp-echo.js';
import { bytesToIp, parseIp } from '../wire/ip-text.js';
import { intersectSelectors, parseSelector, selectorMatches } from '../wire/selectors.js';
import type { TrafficSelector } from '../wire/types.js';
import type { DiagnoseFacts, FirewallRule, RouteGet, TunnelRouteFact } from './diagnose-steps.js';

/** A command's outcome; undefined when the program is not installed. */
export type RunResult = { code: number; out: string; err: string } | undefined;

export interface HostIo {
  run(cmd: string, args: readonly string[]): RunResult;
  status(): Promise<TunnelStatus>;
  /** The daemon's read-only probe (src/daemon/probe.ts); throws with the daemon's answer when refused. */
  probe(req: { conn?: string; size: number; count: number; timeoutMs: number }): Promise<ProbeResult>;
}

type Status = TunnelStatus;
type Child = Status['ikeSas'][number]['children'][number];

const firstLine = (t: string): string => t.trim().split('\n')[0] ?? '';

/** `ip -j <args>` parsed, or the error text. */
function ipJson<T>(io: HostIo, args: readonly string[]): T[] | { error: string } {
  const r = io.run('ip', ['-j', ...args]);
  if (!r) return { error: 'ip (iproute2) is not installed' };
  if (r.code !== 0) return { error: firstLine(r.err) || `ip exited with ${r.code}` };
  try {
    return JSON.parse(r.out || '[]') as T[];
  } catch {
    return { error: `ip ${args.join(' ')}: output is not JSON` };
  }
}

/** `ip route get <args>` reduced to the fields the steps read. */
export function routeGet(io: HostIo, args: readonly string[]): RouteGet {
  const r = ipJson<RouteGet & { dst?: string }>(io, ['route', 'get', ...args]);
  if ('error' in r) return { error: r.error };
  const x = r[0];
  if (!x) return { error: 'no route' };
  const out: RouteGet = {};
  if (x.type !== undefined) out.type = x.type;
  if (x.dev !== undefined) out.dev = x.dev;
  if (x.gateway !== undefined) out.gateway = x.gateway;
  if (x.prefsrc !== undefined) out.prefsrc = x.prefsrc;
  return out;
}

/** The address part of the daemon's "addr:port" / "[v6]:port". */
const hostOf = (endpoint: string): string => /^\[?([0-9a-fA-F:.]+?)\]?:\d+$/.exec(endpoint)?.[1] ?? endpoint;

/** This host's addresses (ip -j addr show), without loopback. */
function hostAddresses(io: HostIo): Uint8Array[] {
  const r = ipJson<{ addr_info?: { local?: string }[] }>(io, ['addr', 'show']);
  if ('error' in r) return [];
  return r.flatMap((l) => (l.addr_info ?? []).map((a) => (a.local ? parseIp(a.local) : null))).filter((a): a is Uint8Array => a !== null && !(a.length === 4 && a[0] === 127));
}

/** Every routed Child SA's remote selectors once, each with the host's address inside its local ones. */
function tunnelRoutes(io: HostIo, s: Status): TunnelRouteFact[] {
  const mine = hostAddresses(io);
  const seen = new Set<string>();
  const out: TunnelRouteFact[] = [];
  for (const c of s.ikeSas.flatMap((sa) => sa.children)) {
    for (const ts of c.remoteTs) {
      if (seen.has(ts)) continue;
      seen.add(ts);
      const remote = parseSelector(ts);
      const dst = bytesToIp(probeHost(remote));
      const locals = c.localTs.map(parseSelector).filter((l) => l.startAddr.length === remote.startAddr.length);
      const src = mine.find((a) => locals.some((l) => selectorMatches({ ...l, ipProtocol: 0, startPort: 0, endPort: 0xffff }, a, 0)));
      const fact: TunnelRouteFact = { remoteTs: ts, dst, route: routeGet(io, src ? [dst, 'from', bytesToIp(src)] : [dst]) };
      if (src) {
        fact.src = bytesToIp(src);
        if (s.tun) fact.back = routeGet(io, [fact.src, 'from', dst, 'iif', s.tun.name]);
      }
      out.push(fact);
    }
  }
  return out;
}

/** Routes of main inside a remote selector (a hijack tsvpn's rule overrides, worth knowing). */
function mainOverlaps(io: HostIo, s: Status): string[] {
  const remote = s.ikeSas.flatMap((sa) => sa.children.flatMap((c) => c.remoteTs)).map(parseSelector);
  if (remote.length === 0) return [];
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    const r = ipJson<{ dst?: string; dev?: string }>(io, [fam, 'route', 'show', 'table', 'main']);
    if ('error' in r) continue;
    for (const x of r) {
      if (!x.dst || x.dst === 'default') continue;
      let ts: TrafficSelector;
      try {
        ts = parseSelector(x.dst);
      } catch {
        continue;
      }
      const inside = remote.some((rt) => {
        const i = intersectSelectors(rt, ts);
        return i !== null && Buffer.compare(i.startAddr, ts.startAddr) === 0 && Buffer.compare(i.endAddr, ts.endAddr) === 0;
      });
      if (inside) out.push(`${x.dst}${x.dev ? ` dev ${x.dev}` : ''}`);
    }
  }
  return out;
}

// ---- nftables --------------------------------------------------------------------------

type NftExpr = Record<string, unknown>;
interface NftRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  expr: NftExpr[];
}

const OUTER_PORTS = new Set([500, 4500]); // RFC 7296 §2, RFC 3948 §2.1
const ESP = new Set(['esp', 50]); // IP protocol 50, RFC 4303

/** One value of a match's right side as text: 4500, "203.0.113.0/25", {set: [...]}. */
function valueText(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const p = o.prefix as { addr?: string; len?: number } | undefined;
    if (p) return `${p.addr}/${p.len}`;
    if (Array.isArray(o.set)) return `{ ${o.set.map(valueText).join(', ')} }`;
    if (Array.isArray(o.range)) return `${valueText(o.range[0])}-${valueText(o.range[1])}`;
  }
  return JSON.stringify(v);
}

function leftText(l: unknown): string {
  const o = (l ?? {}) as Record<string, Record<string, string> | undefined>;
  if (o.meta) return o.meta.key ?? '?';
  if (o.payload) return `${o.payload.protocol} ${o.payload.field}`;
  return JSON.stringify(l);
}

/** The values a right side names (a set's members, or itself). */
const values = (v: unknown): unknown[] => (v && typeof v === 'object' && Array.isArray((v as { set?: unknown[] }).set) ? (v as { set: unknown[] }).set : [v]);

/** The rule as `nft list ruleset` would show it, roughly: "inet filter input: iifname tsvpn-x drop". */
function ruleText(r: NftRule): string {
  const parts = r.expr.map((e) => {
    const m = e.match as { op?: string; left?: unknown; right?: unknown } | undefined;
    if (m) return `${leftText(m.left)}${m.op && m.op !== '==' && m.op !== 'in' ? ` ${m.op}` : ''} ${valueText(m.right)}`;
    return Object.keys(e)[0] ?? '';
  });
  return `${r.family} ${r.table} ${r.chain}: ${parts.filter((p) => p !== 'counter').join(' ')}`;
}

/** Does an nft address value (address, prefix, range) overlap one of the selectors? */
function addressTouches(v: unknown, sels: readonly TrafficSelector[]): boolean {
  let ts: TrafficSelector;
  try {
    ts = parseSelector(valueText(v));
  } catch {
    return false;
  }
  return sels.some((s) => intersectSelectors({ ...s, ipProtocol: 0, startPort: 0, endPort: 0xffff }, ts) !== null);
}

/** Which of the tunnel's traffic a drop/reject rule concerns, or undefined for none. */
export function ruleConcerns(r: NftRule, tun: string | undefined, sels: readonly TrafficSelector[]): FirewallRule['concerns'] | undefined {
  if (!r.expr.some((e) => 'drop' in e || 'reject' in e)) return undefined;
  let concerns: FirewallRule['concerns'] | undefined;
  for (const e of r.expr) {
    const m = e.match as { op?: string; left?: Record<string, Record<string, string>>; right?: unknown } | undefined;
    if (!m || (m.op !== undefined && m.op !== '==' && m.op !== 'in')) continue;
    const meta = m.left?.meta?.key;
    const payload = m.left?.payload;
    const vs = values(m.right);
    if ((meta === 'iifname' || meta === 'oifname') && tun && vs.some((v) => typeof v === 'string' && (v === tun || (v.endsWith('*') && tun.startsWith(v.slice(0, -1)))))) concerns = 'inner';
    else if (payload && (payload.field === 'saddr' || payload.field === 'daddr') && (payload.protocol === 'ip' || payload.protocol === 'ip6') && vs.some((v) => addressTouches(v, sels))) concerns = 'inner';
    else if ((meta === 'l4proto' || (payload?.field === 'protocol' && payload.protocol === 'ip') || (payload?.field === 'nexthdr' && payload.protocol === 'ip6')) && vs.some((v) => ESP.has(v as string))) concerns ??= 'outer';
    else if (payload && payload.protocol === 'udp' && (payload.field === 'dport' || payload.field === 'sport') && vs.some((v) => OUTER_PORTS.has(Number(v)))) concerns ??= 'outer';
  }
  return concerns;
}

/** The drop/reject rules of `nft -j list ruleset` that concern this tunnel. */
export function firewallRules(io: HostIo, s: Status): DiagnoseFacts['firewall'] {
  const r = io.run('nft', ['-j', 'list', 'ruleset']);
  if (!r) return { unavailable: 'nft is not installed' };
  if (r.code !== 0) return { unavailable: firstLine(r.err) || `nft exited with ${r.code}` };
  let list: Record<string, unknown>[];
  try {
    list = (JSON.parse(r.out) as { nftables?: Record<string, unknown>[] }).nftables ?? [];
  } catch {
    return { unavailable: 'nft -j output is not JSON' };
  }
  const sels = s.ikeSas.flatMap((sa) => sa.children.flatMap((c) => [...c.localTs, ...c.remoteTs])).map(parseSelector);
  const rules: FirewallRule[] = [];
  for (const item of list) {
    const rule = item.rule as NftRule | undefined;
    if (!rule || !Array.isArray(rule.expr)) continue;
    const concerns = ruleConcerns(rule, s.tun?.name, sels);
    if (concerns) rules.push({ text: ruleText(rule), concerns });
  }
  return { rules };
}

// ---- probes ----------------------------------------------------------------------------

const counters = (s: Status, conn: string, child: string): Child | undefined => s.ikeSas.filter((sa) => sa.connection === conn).flatMap((sa) => sa.children).find((c) => c.name === child);

/** Step 5: one probe and the Child SA's counters around it. */
async function probeOnce(io: HostIo, before: Status): Promise<DiagnoseFacts['probe']> {
  try {
    const result = await io.probe({ size: 84, count: 3, timeoutMs: 1500 });
    const after = await io.status();
    const b = counters(before, result.conn, result.child);
    const a = counters(after, result.conn, result.child);
    return { result, outDelta: (a?.packetsOut ?? 0) - (b?.packetsOut ?? 0), inDelta: (a?.packetsIn ?? 0) - (b?.packetsIn ?? 0) };
  } catch (e) {
    return { error: errText(e) };
  }
}

// Implementation choice: the search stops once it knows the largest size to within this many bytes.
const MTU_STEP = 8;

/** Step 7: the largest DF echo that comes back, by binary search between a size that passed and the TUN MTU. */
async function probeMtu(io: HostIo, passed: number, mtu: number): Promise<DiagnoseFacts['mtu']> {
  const tried: { size: number; ok: boolean }[] = [];
  const ok = async (size: number): Promise<boolean> => {
    const r = await io.probe({ size, count: 2, timeoutMs: 800 });
    tried.push({ size, ok: r.received > 0 });
    return r.received > 0;
  };
  try {
    if (await ok(mtu)) return { largest: mtu, mtu, tried };
    let lo = passed;
    let hi = mtu;
    while (hi - lo > MTU_STEP) {
      const mid = Math.floor((lo + hi) / 2);
      if (await ok(mid)) lo = mid;
      else hi = mid;
    }
    return { largest: lo, mtu, tried };
  } catch (e) {
    return { error: errText(e) };
  }
}

/** Everything the seven steps read, for tunnel `name`. */
export async function gatherFacts(name: string, io: HostIo): Promise<DiagnoseFacts> {
  let status: Status;
  try {
    status = await io.status();
  } catch (e) {
    return { name, status: { error: errText(e) }, routes: [], mainOverlaps: [], firewall: { rules: [] } };
  }
  const facts: DiagnoseFacts = { name, status, routes: [], mainOverlaps: [], firewall: firewallRules(io, status) };
  const sa = status.ikeSas.find((x) => x.state === 'ESTABLISHED') ?? status.ikeSas[0];
  const conf = status.connections?.find((c) => c.remote !== '%any');
  const peer = sa ? hostOf(sa.remote) : conf?.remote;
  if (peer) {
    const route = routeGet(io, [peer]);
    const hop = route.gateway ?? peer;
    const n = route.dev ? ipJson<{ state?: string[] }>(io, ['neigh', 'show', 'to', hop, 'dev', route.dev]) : [];
    const neighbour = Array.isArray(n) ? n[0]?.state?.[0] : undefined;
    facts.peer = { addr: peer, route, ...(neighbour !== undefined ? { neighbour } : {}) };
  }
  facts.routes = tunnelRoutes(io, status);
  facts.mainOverlaps = mainOverlaps(io, status);
  if (status.ikeSas.some((x) => x.children.length > 0)) {
    facts.probe = await probeOnce(io, status);
    const p = facts.probe;
    if (p && 'result' in p && p.result.received > 0) facts.mtu = await probeMtu(io, p.result.size, p.result.mtu);
  }
  return facts;
}
