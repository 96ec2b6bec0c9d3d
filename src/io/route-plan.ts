// What routes.ts adds for one tunnel, decided without touching the host: the rules, the
// routes in tsvpn's tunnel table and the guard entries, each as a RouteEntry that knows the
// `ip` arguments that add and delete it and the key it shows under in `ip -j` listings.
// The design (tables, preferences, why) is at the top of routes.ts.
import { isIP } from 'node:net';
import { bytesToIp } from '../wire/ip-text.js';
import { IKE_PORT, NAT_T_PORT } from '../wire/constants.js';
import { ipToBytes, prefixRange } from '../wire/selectors.js';

// Rule preferences and tables. Rules are tried in preference order (0 is the local table,
// 32766 main): every tsvpn rule comes before main, so a route in main never decides where
// protected traffic goes. strongSwan uses table 220 and preference 220; these differ, and
// also from 7470/7471 (the transport-mode rules and table of earlier tsvpn versions), so
// strongSwan on the same host, or an older tsvpn's leftovers, never mix with ours.
/** Exemptions: tsvpn's own IKE and ESP to a peer its tunnel routes cover, and IPv6 link-local, `lookup main`. */
export const EXEMPT_RULE_PREF = 7480;
/** `lookup TUNNEL_TABLE`: the remote prefixes into the TUN devices. */
export const TUNNEL_RULE_PREF = 7481;
export const TUNNEL_TABLE = 7481;
/** `lookup GUARD_TABLE`: an unreachable route per remote prefix, reached only when the tunnel route is gone. */
export const GUARD_RULE_PREF = 7482;
export const GUARD_TABLE = 7482;
/**
 * The routing protocol number on every tsvpn route and rule (`proto` / `protocol`), so a
 * killed daemon's leftovers can be told from anyone else's. Unassigned in Linux's
 * rtnetlink.h RTPROT_* list and iproute2's rt_protos (0-4, 8-18, 42, 99, 186-192 are taken).
 */
export const ROUTE_PROTO = 74;

export class RouteError extends Error {
  override name = 'RouteError';
  constructor(
    message: string,
    /** The `ip` command that failed, when one did. */
    readonly command?: string,
    /** Its standard error, trimmed. */
    readonly stderr?: string,
  ) {
    super(message);
  }
}

export interface RoutePlan {
  /** The TUN device. */
  dev: string;
  /** Remote selector prefixes as CIDR ("203.0.113.128/25", "2001:db8:2::/48", "0.0.0.0/0"). */
  remote: string[];
  /** The peer's outer address (an IP, never %any). */
  peer: string;
  /** Preferred source for the tunnel routes (a local address inside local.ts), or one per family; each used for the prefixes of its family. */
  src?: string | readonly string[];
  /** The local IKE port (the source port of tsvpn's IKE to the peer); IKE_PORT when absent. 4500 is always exempt too. */
  ikePort?: number;
  /** Prefixes that stay out of the tunnel where a remote prefix covers them (allowLan: the host's own links), CIDR. */
  bypass?: readonly string[];
}

export type RouteEntry =
  | {
      kind: 'route';
      family: 4 | 6;
      table: number;
      dst: string;
      /** Into this device; absent for the guard's unreachable route. */
      dev?: string;
      src?: string;
      why?: string;
    }
  | {
      kind: 'rule';
      family: 4 | 6;
      pref: number;
      table: number | 'main';
      to?: string;
      ipproto?: 'udp' | 'esp';
      sport?: number;
      why?: string;
    };

/**
 * The entries for one plan, in the order they are added (removal is the reverse): the
 * exemptions, the two lookup rules of each family used, then per prefix its tunnel route
 * and its guard. Throws RouteError for a plan that cannot work, before anything is changed.
 */
export function planRoutes(plan: RoutePlan): RouteEntry[] {
  if (!/^[^\s/]{1,15}$/.test(plan.dev)) throw new RouteError(`'${plan.dev}' is not a network device name`);
  const peer = address(plan.peer, 'peer address');
  const srcs = (typeof plan.src === 'string' ? [plan.src] : (plan.src ?? [])).map((a) => address(a, 'source address'));
  const ikePort = plan.ikePort ?? IKE_PORT;
  if (!Number.isInteger(ikePort) || ikePort < 1 || ikePort > 65535) throw new RouteError(`IKE port ${ikePort} is not a port`);
  const prefixes: Prefix[] = [];
  const seen = new Set<string>();
  for (const text of plan.remote) {
    const p = prefix(text);
    // a default selector goes in as its two halves: `ip route show` lists them as what they
    // are, and `default` in tsvpn's table would read as if it were the host's default route
    for (const q of p.len === 0 ? halves(p).map((h) => ({ ...h, from: text })) : [p]) {
      if (seen.has(cidr(q))) continue;
      seen.add(cidr(q));
      prefixes.push(q);
    }
  }

  const out: RouteEntry[] = [];
  // Routing trap: a prefix covering the peer would take tsvpn's own packets to it into the
  // tunnel. Only those leave through main; anything else to the peer is protected traffic.
  const trap = prefixes.filter((p) => p.family === peer.family && covers(p, peer.bytes)).map((p) => p.from ?? cidr(p));
  if (trap.length > 0) {
    const to = peer.text;
    const via = `stays out of ${plan.dev} (${[...new Set(trap)].join(', ')} covers the peer)`;
    for (const port of [...new Set([ikePort, NAT_T_PORT])]) {
      // RFC 7296 §2: IKE from our port; RFC 3948 §2.1: NAT-T and ESP in UDP from 4500
      out.push({ kind: 'rule', family: peer.family, pref: EXEMPT_RULE_PREF, table: 'main', to, ipproto: 'udp', sport: port, why: `tsvpn's UDP ${port} to the peer ${via}` });
    }
    // RFC 4303: raw ESP, IP protocol 50
    out.push({ kind: 'rule', family: peer.family, pref: EXEMPT_RULE_PREF, table: 'main', to, ipproto: 'esp', why: `tsvpn's ESP to the peer ${via}` });
  }
  // allowLan: the host's own links keep their routes in main, as strongSwan's bypass-lan plugin does
  for (const text of plan.bypass ?? []) {
    const b = prefix(text);
    const by = prefixes.find((p) => p.family === b.family && p.len <= b.len && covers(p, b.addr));
    if (by) out.push({ kind: 'rule', family: b.family, pref: EXEMPT_RULE_PREF, table: 'main', to: cidr(b), why: `the LAN stays out of ${plan.dev} (allowLan; ${by.from ?? cidr(by)} covers it)` });
  }
  // RFC 4291 §2.5.6: link-local destinations are never forwarded, so never tunnel traffic
  if (prefixes.some((p) => p.family === 6 && covers(p, LINK_LOCAL6.addr) && p.len <= LINK_LOCAL6.len)) {
    out.push({ kind: 'rule', family: 6, pref: EXEMPT_RULE_PREF, table: 'main', to: cidr(LINK_LOCAL6), why: 'IPv6 link-local stays on its link' });
  }
  for (const family of [4, 6] as const) {
    if (!prefixes.some((p) => p.family === family)) continue;
    out.push({ kind: 'rule', family, pref: TUNNEL_RULE_PREF, table: TUNNEL_TABLE, why: 'the tunnel routes, before main' });
    out.push({ kind: 'rule', family, pref: GUARD_RULE_PREF, table: GUARD_TABLE, why: 'the guard: a protected prefix without its tunnel route is unreachable, never sent in clear' });
  }
  for (const p of prefixes) {
    const key = cidr(p);
    const part = p.from ? ` (part of ${p.from})` : '';
    out.push({ kind: 'route', family: p.family, table: TUNNEL_TABLE, dst: key, dev: plan.dev, src: srcs.find((a) => a.family === p.family)?.text, why: `into the tunnel${part}` });
    out.push({ kind: 'route', family: p.family, table: GUARD_TABLE, dst: key, why: `dropped if the tunnel route goes${part}` });
  }
  return out;
}

const LINK_LOCAL6: Prefix = { family: 6, addr: ipToBytes('fe80::'), len: 10 };

/** `ip` arguments (after `-4`/`-6`) that add the entry. */
export function addArgs(e: RouteEntry): string[] {
  return [e.kind, 'add', ...identity(e), ...(e.kind === 'route' && e.src ? ['src', e.src] : [])];
}

/** `ip` arguments (after `-4`/`-6`) that delete exactly the entry. */
export function delArgs(e: RouteEntry): string[] {
  return [e.kind, 'del', ...identity(e)];
}

function identity(e: RouteEntry): string[] {
  const tag = e.kind === 'route' ? ['proto', String(ROUTE_PROTO)] : ['protocol', String(ROUTE_PROTO)];
  if (e.kind === 'route') return [...(e.dev ? [e.dst, 'dev', e.dev] : ['unreachable', e.dst]), ...tag, 'table', String(e.table)];
  const sel = [...(e.to ? ['to', e.to] : []), ...(e.ipproto ? ['ipproto', e.ipproto] : []), ...(e.sport ? ['sport', String(e.sport)] : [])];
  return ['pref', String(e.pref), ...sel, 'lookup', String(e.table), ...tag];
}

/** One line for logs and checkRoutes: "ip -4 rule pref 7481 lookup 7481 (the tunnel routes, before main)". */
export function describeEntry(e: RouteEntry): string {
  const shown = identity(e).filter((_, i, a) => a[i] !== 'proto' && a[i] !== 'protocol' && a[i - 1] !== 'proto' && a[i - 1] !== 'protocol');
  const src = e.kind === 'route' && e.src ? ` src ${e.src}` : '';
  return `ip -${e.family} ${e.kind} ${shown.join(' ')}${src}${e.why ? ` (${e.why})` : ''}`;
}

/** The key an entry is recorded and looked up under; equal to listedKey of its `ip -j` listing. */
export function entryKey(e: RouteEntry): string {
  if (e.kind === 'route') return `route ${e.family} ${e.table} ${hostCidr(e.dst)} ${e.dev ? `dev ${e.dev}` : 'unreachable'}`;
  return `rule ${e.family} ${e.pref} ${e.to ? hostCidr(e.to) : 'all'} ${e.ipproto ?? '-'} ${e.sport ?? '-'} ${e.table}`;
}

/** A route as `ip -j route show table N` prints it. */
export interface RouteJson {
  type?: string;
  dst?: string;
  dev?: string;
  gateway?: string;
  prefsrc?: string;
  protocol?: string;
  metrics?: Record<string, unknown>[];
}

/** A rule as `ip -j rule show` prints it. */
export interface RuleJson {
  priority?: number;
  dst?: string;
  dstlen?: number;
  ipproto?: string;
  sport?: number;
  table?: string;
  protocol?: string;
}

/** The entryKey of a listed route of tsvpn's tables. */
export function routeKey(family: 4 | 6, table: number, r: RouteJson): string {
  const dst = r.dst === 'default' || r.dst === undefined ? (family === 4 ? '0.0.0.0/0' : '::/0') : r.dst;
  return `route ${family} ${table} ${hostCidr(dst)} ${r.type === 'unreachable' ? 'unreachable' : `dev ${r.dev}`}`;
}

/** The entryKey of a listed rule. */
export function ruleKey(family: 4 | 6, r: RuleJson): string {
  const to = r.dst === undefined ? 'all' : hostCidr(r.dstlen === undefined ? r.dst : `${r.dst}/${r.dstlen}`);
  return `rule ${family} ${r.priority} ${to} ${r.ipproto ?? '-'} ${r.sport ?? '-'} ${r.table}`;
}

/** True when the listed rule or route carries tsvpn's protocol tag. */
export const isOurs = (x: { protocol?: string }): boolean => x.protocol === String(ROUTE_PROTO);

/** True when `outer` (CIDR or address) contains all of `inner` (CIDR or address) and both are one family. */
export function cidrCovers(outer: string, inner: string): boolean {
  const o = prefix(hostCidr(outer));
  const i = prefix(hostCidr(inner));
  return o.family === i.family && o.len <= i.len && covers(o, i.addr);
}

// ---- addresses and prefixes -------------------------------------------------------------

interface Address {
  family: 4 | 6;
  bytes: Uint8Array;
  text: string;
}

interface Prefix {
  family: 4 | 6;
  addr: Uint8Array; // masked to len bits
  len: number;
  /** The configured prefix this one was split from, for the log line. */
  from?: string;
}

function address(text: string, what: string): Address {
  const family = isIP(text);
  if (family !== 4 && family !== 6) throw new RouteError(`${what} '${text}' is not an IP address`);
  const bytes = ipToBytes(text);
  return { family, bytes, text: bytesToIp(bytes) };
}

function prefix(text: string): Prefix {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  const family = m ? isIP(m[1]) : 0;
  if (!m || (family !== 4 && family !== 6)) throw new RouteError(`remote prefix '${text}' is not CIDR (address/length)`);
  const bytes = ipToBytes(m[1]);
  const len = Number(m[2]);
  if (len > bytes.length * 8) throw new RouteError(`remote prefix '${text}' has a length beyond ${bytes.length * 8}`);
  return { family, addr: mask(bytes, len), len };
}

/** An address as a host prefix, a CIDR in canonical text. */
function hostCidr(text: string): string {
  if (text.includes('/')) return cidr(prefix(text));
  const a = address(text, 'address');
  return `${a.text}/${a.bytes.length * 8}`;
}

/** `bytes` with every bit past the first `len` cleared (the prefix's network address). */
const mask = (bytes: Uint8Array, len: number): Uint8Array => prefixRange(bytes, len)[0];

function halves(p: Prefix): [Prefix, Prefix] {
  const len = p.len + 1;
  const upper = Uint8Array.from(p.addr);
  upper[p.len >> 3] |= 0x80 >> (p.len & 7); // set the first bit past the prefix
  return [
    { family: p.family, addr: Uint8Array.from(p.addr), len, from: p.from },
    { family: p.family, addr: upper, len, from: p.from },
  ];
}

function covers(p: Prefix, a: Uint8Array): boolean {
  if (a.length !== p.addr.length) return false;
  const m = mask(a, p.len);
  return m.every((b, i) => b === p.addr[i]);
}

function cidr(p: Prefix): string {
  return `${bytesToIp(p.addr)}/${p.len}`;
}
