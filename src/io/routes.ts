// Routes that send traffic for the remote selectors into the TUN device, checks that they
// are still there, the sweep of a killed daemon's leftovers, and the outer path MTU. Runs
// iproute2's `ip` in the current network namespace (the daemon runs under `ip netns exec`
// in the lab), reading with `ip -j` (JSON). route-plan.ts decides what to add.
//
// Rules kept here:
// - Tunnel routes live in tsvpn's own table, TUNNEL_TABLE (7481), looked up by one rule per
//   family at preference 7481, before main (32766): `ip rule`, `ip route show table 7481`.
//   Each route is `<prefix> dev <tun> src <local inner address>` when the daemon knows a
//   local address inside local.ts (daemon/host.ts routeSources), so the host's own traffic
//   to the remote network leaves with a source the peer's selectors accept.
// - Never in clear: main's routes never decide where protected traffic goes, because the
//   tunnel rule comes first (a more specific route in main, e.g. a hijack, does not win).
//   Behind it, GUARD_TABLE (7482, rule preference 7482) holds `unreachable <prefix>` for
//   every tunnel prefix: if the tunnel route is deleted, or the TUN device goes with a killed
//   daemon, the packet is refused (ENETUNREACH locally, ICMP net unreachable when forwarded)
//   instead of falling through to main. checkRoutes() lists what is missing, for the
//   daemon's periodic check to count and log.
// - The LAN is not special: a remote selector of 0.0.0.0/0 takes the host's LAN traffic
//   into the tunnel too, as strongSwan's policies do without its bypass-lan plugin; leave a
//   LAN out by not covering it with the remote selectors.
// - Routing trap: when a remote prefix covers the peer's own outer address, rules at
//   preference 7480 send tsvpn's own IKE (UDP from the IKE port and 4500) and ESP (protocol
//   50) to the peer through main; anything else to the peer is protected traffic and goes
//   into the tunnel. (So transport mode, whose only selector is the peer, uses this same
//   scheme: transport-routes.ts.) IPv6 link-local (fe80::/10) is exempt the same way when a
//   prefix covers it. `ip rule ... ipproto/sport` needs kernel and iproute2 4.17 or later.
// - A default selector (0.0.0.0/0, ::/0) is installed as its two /1 halves.
// - Ownership: every route and rule tsvpn adds carries protocol ROUTE_PROTO (74) and sits
//   in tsvpn's tables or preferences; nothing in main or any other table is ever added,
//   replaced or deleted. Entries shared by several handles (the lookup rules, a peer's
//   exemptions) are reference-counted in this process, and the last removeRoutes deletes a
//   rule only if no tunnel route left in tsvpn's tables needs it: several tsvpn daemons may
//   share a namespace (and its rules). An entry already there when one is added is taken
//   over, except a tunnel route for the same prefix into another device (an error).
// - A route or rule that cannot be added is an error (RouteError with the `ip` command and
//   its stderr), and what was added for that plan is removed again.
// - A SIGKILLed daemon leaves its rules and guard routes behind (its tunnel routes go with
//   the TUN device), so its prefixes stay unreachable, never in clear, until the next start
//   calls sweepStaleRoutes(). By hand: `ip rule flush protocol 74` (and `ip -6 rule ...`),
//   `ip route flush table 7482`.

import { spawnSync } from 'node:child_process';
import { isIP } from 'node:net';
import {
  addArgs,
  cidrCovers,
  delArgs,
  describeEntry,
  entryKey,
  EXEMPT_RULE_PREF,
  GUARD_RULE_PREF,
  GUARD_TABLE,
  isOurs,
  planRoutes,
  RouteError,
  routeKey,
  ruleKey,
  TUNNEL_RULE_PREF,
  TUNNEL_TABLE,
  type RouteEntry,
  type RouteJson,
  type RoutePlan,
  type RuleJson,
} from './route-plan.js';

export { RouteError, type RoutePlan } from './route-plan.js';
export { EXEMPT_RULE_PREF, GUARD_RULE_PREF, GUARD_TABLE, ROUTE_PROTO, TUNNEL_RULE_PREF, TUNNEL_TABLE } from './route-plan.js';

export interface InstalledRoutes {
  /** One line per route or rule this handle holds, for logs ("ip -4 route 10.2.0.0/16 dev tsvpn-x table 7481 src ..."). */
  readonly items: readonly string[];
}

/** What removeRoutes must let go of, kept out of the public object. */
const undo = new WeakMap<InstalledRoutes, RouteEntry[]>();
/** Every entry this process added, by entryKey, with how many handles hold it. */
const owned = new Map<string, { entry: RouteEntry; count: number }>();

/**
 * Add the rules and routes of the plan (see the header comment). Synchronous. On failure
 * removes whatever it added and throws RouteError naming the ip command and its error
 * output; a plan that cannot work (bad prefix, peer or source address) throws RouteError
 * before anything is changed.
 */
export function installRoutes(plan: RoutePlan): InstalledRoutes {
  const entries = planRoutes(plan);
  const held: RouteEntry[] = [];
  for (const e of entries) {
    try {
      hold(e);
    } catch (err) {
      release(held);
      throw err;
    }
    held.push(e);
  }
  const result: InstalledRoutes = Object.freeze({ items: Object.freeze(held.map(describeEntry)) });
  undo.set(result, held);
  return result;
}

function hold(e: RouteEntry): void {
  const key = entryKey(e);
  const mine = owned.get(key);
  if (mine) {
    mine.count++;
    return;
  }
  const r = ip([`-${e.family}`, ...addArgs(e)]);
  if (!r.ok && !(EXISTS.test(r.stderr) && mayTakeOver(e))) throw new RouteError(`${r.command} failed: ${r.stderr}`, r.command, r.stderr);
  owned.set(key, { entry: e, count: 1 });
}

/** An entry already there is taken over, except a tunnel route for the prefix into another device. */
function mayTakeOver(e: RouteEntry): boolean {
  if (e.kind !== 'route' || !e.dev) return true;
  const there = ipJson<RouteJson[]>([`-${e.family}`, 'route', 'show', 'exact', e.dst, 'table', String(e.table)]);
  const other = there.find((r) => r.dev !== e.dev);
  if (!other) return true;
  const command = `ip -${e.family} ${addArgs(e).join(' ')}`;
  throw new RouteError(`${e.dst} is already routed into ${other.dev ?? other.type} (table ${e.table}): two tunnels cannot share a remote prefix`, command, 'File exists');
}

/**
 * Let go of what installRoutes added, newest first (the peer's exemptions last, so its IKE
 * and ESP never fall into the tunnel). Entries other handles still hold stay. Idempotent;
 * never throws; entries already gone (for instance with the TUN device) are not errors.
 * Returns the error texts of deletions that failed.
 */
export function removeRoutes(r: InstalledRoutes): string[] {
  const held = undo.get(r);
  if (!held) return [];
  undo.delete(r);
  return release(held);
}

function release(held: RouteEntry[]): string[] {
  const errors: string[] = [];
  const left = new Map<4 | 6, Listing>(); // tsvpn's tables after this handle's routes went, read once
  for (const e of [...held].reverse()) {
    const key = entryKey(e);
    const mine = owned.get(key);
    if (!mine || --mine.count > 0) continue;
    owned.delete(key);
    if (e.kind === 'rule') {
      // a rule another tsvpn process's routes still need stays (several daemons may share a namespace)
      try {
        if (!left.has(e.family)) left.set(e.family, listOurs(e.family));
        if (neededBy(e, left.get(e.family)!)) continue;
      } catch (err) {
        errors.push(String(err));
        continue;
      }
    }
    const r = ip([`-${e.family}`, ...delArgs(e)]);
    if (!r.ok && !GONE.test(r.stderr)) errors.push(`${r.command} failed: ${r.stderr}`);
  }
  held.length = 0;
  return errors;
}

/**
 * What the handles hold (with none given: everything this process holds) that is no longer
 * there (a deleted tunnel route, rule or guard), one line each, for the daemon's periodic
 * check to count and log; empty when all is in place. Reads the rules and tsvpn's two tables
 * once per family in use, however many handles. Throws RouteError when they cannot be read.
 */
export function checkRoutes(...handles: InstalledRoutes[]): string[] {
  const wanted = new Map<string, RouteEntry>();
  if (handles.length === 0) for (const [k, o] of owned) wanted.set(k, o.entry);
  for (const h of handles) for (const e of undo.get(h) ?? []) wanted.set(entryKey(e), e);
  if (wanted.size === 0) return [];
  const present = new Set<string>();
  for (const family of [4, 6] as const) {
    if (![...wanted.values()].some((e) => e.family === family)) continue;
    const l = listOurs(family);
    for (const r of l.rules) present.add(ruleKey(family, r));
    for (const r of l.tunnel) present.add(routeKey(family, TUNNEL_TABLE, r));
    for (const r of l.guard) present.add(routeKey(family, GUARD_TABLE, r));
  }
  return [...wanted].filter(([k]) => !present.has(k)).map(([, e]) => `missing: ${describeEntry(e)}`);
}

/**
 * Remove what a previous run left for the TUN device `dev` (its tunnel routes, and the guard
 * routes and rules no live tunnel route backs any more), before this run installs anything.
 * Touches only entries tagged ROUTE_PROTO in tsvpn's tables and preferences, never one this
 * process holds. Returns one line per entry removed, for the log; throws RouteError when the
 * tables cannot be read or an entry cannot be deleted.
 */
export function sweepStaleRoutes(dev: string): string[] {
  const removed: string[] = [];
  const drop = (e: RouteEntry): void => {
    if (owned.has(entryKey(e))) return;
    const r = ip([`-${e.family}`, ...delArgs(e)]);
    if (!r.ok && !GONE.test(r.stderr)) throw new RouteError(`${r.command} failed: ${r.stderr}`, r.command, r.stderr);
    removed.push(describeEntry(e));
  };
  for (const family of [4, 6] as const) {
    const l = listOurs(family);
    const live: Listing = { rules: l.rules, tunnel: [], guard: [] };
    for (const r of l.tunnel) {
      if (r.dev === dev) drop({ kind: 'route', family, table: TUNNEL_TABLE, dst: dstOf(family, r), dev, why: 'a previous run' });
      else live.tunnel.push(r);
    }
    for (const r of l.guard) {
      const dst = dstOf(family, r);
      if (r.type === 'unreachable' && !live.tunnel.some((t) => sameCidr(dstOf(family, t), dst))) {
        drop({ kind: 'route', family, table: GUARD_TABLE, dst, why: 'guard of a previous run' });
      } else live.guard.push(r);
    }
    for (const r of l.rules) {
      const e = ruleEntry(family, r);
      if (!neededBy(e, live)) drop(e);
    }
  }
  return removed;
}

interface Listing {
  rules: RuleJson[];
  tunnel: RouteJson[];
  guard: RouteJson[];
}

/**
 * Does a tunnel route still need the rule: an exemption, one that covers its peer; a lookup
 * rule, any route of its family in tsvpn's tables.
 */
function neededBy(e: RouteEntry & { kind: 'rule' }, l: Listing): boolean {
  if (e.pref !== EXEMPT_RULE_PREF) return l.tunnel.length + l.guard.length > 0;
  return l.tunnel.some((t) => e.to !== undefined && cidrCovers(dstOf(e.family, t), e.to));
}

function ruleEntry(family: 4 | 6, r: RuleJson): RouteEntry & { kind: 'rule' } {
  const to = r.dst === undefined ? undefined : r.dstlen === undefined ? r.dst : `${r.dst}/${r.dstlen}`;
  const ipproto = r.ipproto === 'udp' || r.ipproto === 'esp' ? r.ipproto : undefined;
  return { kind: 'rule', family, pref: r.priority!, table: r.table === 'main' ? 'main' : Number(r.table), to, ipproto, sport: r.sport, why: 'a previous run' };
}

const dstOf = (family: 4 | 6, r: RouteJson): string => (r.dst === undefined || r.dst === 'default' ? (family === 4 ? '0.0.0.0/0' : '::/0') : r.dst);
const sameCidr = (a: string, b: string): boolean => cidrCovers(a, b) && cidrCovers(b, a);

/** tsvpn's rules and the routes of its two tables, of one family. */
function listOurs(family: 4 | 6): Listing {
  const prefs = [EXEMPT_RULE_PREF, TUNNEL_RULE_PREF, GUARD_RULE_PREF];
  const table = (n: number): RouteJson[] => {
    const r = ip(['-j', `-${family}`, 'route', 'show', 'table', String(n)]);
    if (!r.ok && NO_TABLE.test(r.stderr)) return []; // the kernel makes a table with its first route
    return parseJson<RouteJson[]>(r).filter(isOurs);
  };
  return {
    rules: ipJson<RuleJson[]>([`-${family}`, 'rule', 'show']).filter((r) => isOurs(r) && prefs.includes(r.priority ?? -1)),
    tunnel: table(TUNNEL_TABLE),
    guard: table(GUARD_TABLE),
  };
}

/**
 * The prefixes of the host's own links outside `dev` (main's routes without a gateway, IPv6
 * link-local left out): the LAN that allowLan keeps reachable. Throws RouteError.
 */
export function linkPrefixes(dev: string): string[] {
  const out: string[] = [];
  for (const family of [4, 6] as const) {
    const listed = ip(['-j', `-${family}`, 'route', 'show', 'table', 'main']);
    if (!listed.ok && family === 6) continue; // a host without IPv6 (ipv6.disable=1) has no IPv6 LAN
    for (const r of parseJson<(RouteJson & { scope?: string })[]>(listed)) {
      if (r.gateway || !r.dst || r.dst === 'default' || r.dev === dev || r.dev === 'lo' || (r.type ?? 'unicast') !== 'unicast') continue;
      if (family === 4 && r.scope !== 'link') continue;
      const dst = r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`;
      if (family === 6 && cidrCovers('fe80::/10', dst)) continue;
      if (!out.includes(dst)) out.push(dst);
    }
  }
  return out;
}

/**
 * MTU of the path to the peer: the route's mtu metric if it has one (including a path MTU
 * the kernel learned), else its device's MTU. Throws RouteError when there is no route.
 */
/** A virtual IP on the TUN (RFC 7296 §2.19, the client side), so the host's own traffic can leave from it. Throws RouteError. */
export function addTunAddress(dev: string, address: string): void {
  const r = ip(['addr', 'replace', `${address}/${address.includes(':') ? 128 : 32}`, 'dev', dev]);
  if (!r.ok) throw new RouteError(`${r.command} failed: ${r.stderr}`, r.command, r.stderr);
}

/** Takes a virtual IP off the TUN; a device already gone took it along. Never throws. */
export function removeTunAddress(dev: string, address: string): void {
  ip(['addr', 'del', `${address}/${address.includes(':') ? 128 : 32}`, 'dev', dev]);
}

export function outerMtu(peer: string): number {
  const family = isIP(peer);
  if (family !== 4 && family !== 6) throw new RouteError(`peer address '${peer}' is not an IP address`);
  const got = ipJson<RouteJson[]>([`-${family}`, 'route', 'get', peer])[0];
  if (!got) throw new RouteError(`ip route get ${peer} returned no route`);
  for (const m of got.metrics ?? []) {
    const v = m.mtu;
    if (typeof v === 'number' && v > 0) return v;
  }
  if (!got.dev) throw new RouteError(`the route to ${peer} names no device`);
  const link = ipJson<{ mtu?: number }[]>(['link', 'show', 'dev', got.dev]);
  const mtu = link[0]?.mtu;
  if (typeof mtu !== 'number') throw new RouteError(`device ${got.dev} reports no MTU`);
  return mtu;
}

/**
 * The source address this host now picks for tsvpn's own IKE to `peer` (UDP from `ikePort`, so
 * the routing-trap rules at preference 7480 apply as to the real packets): `ip route get`'s
 * prefsrc. Undefined without a route (the link went down, or its address is gone). Never throws.
 */
export function outerSource(peer: string, ikePort: number): string | undefined {
  const family = isIP(peer);
  if (family !== 4 && family !== 6) return undefined;
  try {
    return ipJson<RouteJson[]>([`-${family}`, 'route', 'get', peer, 'ipproto', 'udp', 'sport', String(ikePort)])[0]?.prefsrc;
  } catch {
    return undefined;
  }
}

/** The neighbour (ARP / NDP) entry of the next hop towards the peer (failure map F1 evidence). */
export interface NextHopNeighbour {
  /** The next hop: the gateway, or the peer itself on a directly connected network. */
  hop: string;
  dev: string;
  /** The kernel's NUD states, e.g. ["REACHABLE"], ["STALE"], ["FAILED"] (no ARP/NDP answer), ["INCOMPLETE"]; [] when no entry. */
  state: string[];
}

/**
 * `ip route get <peer>`, then `ip neigh show to <next hop> dev <dev>`: whether the next hop
 * answered ARP/NDP. Called once per F1, never per packet. Throws RouteError without a route.
 */
export function nextHopNeighbour(peer: string): NextHopNeighbour {
  const family = isIP(peer);
  if (family !== 4 && family !== 6) throw new RouteError(`peer address '${peer}' is not an IP address`);
  const got = ipJson<RouteJson[]>([`-${family}`, 'route', 'get', peer])[0];
  if (!got?.dev) throw new RouteError(`ip route get ${peer} returned no route with a device`);
  const hop = got.gateway ?? peer;
  const n = ipJson<{ state?: string[] }[]>([`-${family}`, 'neigh', 'show', 'to', hop, 'dev', got.dev])[0];
  return { hop, dev: got.dev, state: n?.state ?? [] };
}

// ---- running ip -------------------------------------------------------------------------

interface IpResult {
  ok: boolean;
  command: string;
  stdout: string;
  stderr: string;
}

function ip(args: string[]): IpResult {
  const command = `ip ${args.join(' ')}`;
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { ok: false, command, stdout: '', stderr: r.error.message };
  return { ok: r.status === 0, command, stdout: r.stdout ?? '', stderr: (r.stderr ?? '').trim() || `exit status ${r.status}` };
}

function ipJson<T>(args: string[]): T {
  return parseJson<T>(ip(['-j', ...args]));
}

function parseJson<T>(r: IpResult): T {
  if (!r.ok) throw new RouteError(`${r.command} failed: ${r.stderr}`, r.command, r.stderr);
  try {
    return (r.stdout.trim() === '' ? [] : JSON.parse(r.stdout)) as T;
  } catch {
    throw new RouteError(`${r.command} printed something that is not JSON`, r.command, r.stderr);
  }
}

// Entries that vanished on their own (their device was deleted) are not failures.
const GONE = /No such process|Cannot find device|No such device|does not exist|No such file or directory/i;
const EXISTS = /File exists/i;
const NO_TABLE = /FIB table does not exist/i;
