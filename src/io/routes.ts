// Routes that send traffic for the remote selectors into the TUN device, and the outer path
// MTU. Runs iproute2's `ip` in the current network namespace (the daemon runs under
// `ip netns exec` in the lab), reading with `ip -j` (JSON).
//
// Rules kept here:
// - Only routes this module added are ever removed; a route someone else owns is never
//   replaced or deleted. `ip route add` (not `replace`) is used for that reason: if a route
//   with the same prefix already exists, the prefix is installed as its two halves instead,
//   which are more specific and so win, while the existing route stays as it was.
// - A default selector (0.0.0.0/0, ::/0) is always installed as two /1 halves, the way
//   wg-quick and OpenVPN's def1 do: the main default route is left untouched (nothing to
//   restore, and a DHCP client's `ip route replace default ...` cannot clobber the tunnel's
//   route), and if the daemon dies, deleting the TUN device takes the halves with it.
// - Routing trap: when a remote prefix covers the peer's own outer address, the tunnel's
//   IKE and ESP packets to the peer would be routed into the tunnel itself. Before adding
//   any tunnel route, a host route for the peer via its current path (gateway and device
//   from `ip route get`) is added; it is the most specific route, so it keeps winning.
//   A host route was chosen over a policy rule because a rule would need a mark or a
//   source-port match on the daemon's sockets; the host route touches only the peer's
//   address and needs nothing from the sockets. It follows the path at install time: if
//   the gateway changes later, reinstall.
// - As with wg-quick, a more specific route that already exists (e.g. the LAN's connected
//   subnet under a 0.0.0.0/0 selector) keeps its traffic out of the tunnel.

import { spawnSync } from 'node:child_process';
import { isIP } from 'node:net';
import { bytesToIp } from '../wire/ip-text.js';
import { ipToBytes, prefixRange } from '../wire/selectors.js';

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
  /** Preferred source for the tunnel routes (the local inner address); used for prefixes of its family. */
  src?: string;
}

export interface InstalledRoutes {
  /** One line per route added, for logs ("0.0.0.0/1 dev tsvpn-x (half of 0.0.0.0/0)"). */
  readonly items: readonly string[];
}

interface Prefix {
  family: 4 | 6;
  addr: Uint8Array; // masked to len bits
  len: number;
  /** The configured prefix this one was split from, for the log line. */
  from?: string;
}

interface Added {
  family: 4 | 6;
  /** Arguments after `ip -4|-6` that delete exactly this route. */
  del: string[];
}

/** What removeRoutes must undo, kept out of the public object. */
const undo = new WeakMap<InstalledRoutes, Added[]>();

/**
 * Add the tunnel routes (and first the peer's host route when a prefix covers the peer).
 * Synchronous. A prefix already routed into `dev` is left as it is and not recorded. On
 * failure removes whatever it added and throws RouteError naming the ip command and its
 * error output; a plan that cannot work (bad prefix, peer address, a selector that is the
 * peer itself) throws RouteError before anything is changed.
 */
export function installRoutes(plan: RoutePlan): InstalledRoutes {
  if (!/^[^\s/]{1,15}$/.test(plan.dev)) throw new RouteError(`'${plan.dev}' is not a network device name`);
  const peer = address(plan.peer, 'peer address');
  const src = plan.src === undefined ? undefined : address(plan.src, 'source address');
  const wanted: Prefix[] = [];
  for (const text of plan.remote) {
    const p = prefix(text);
    // a default selector always goes in as its two halves (see the header comment)
    wanted.push(...(p.len === 0 ? halves(p).map((h) => ({ ...h, from: text })) : [p]));
  }

  // Decide the final prefixes before changing anything: skip what already goes into the
  // TUN, split what collides with a route someone else owns.
  const final: Prefix[] = [];
  const seen = new Set<string>();
  const place = (p: Prefix): void => {
    const key = cidr(p);
    if (seen.has(key)) return;
    seen.add(key);
    const existing = showExact(p.family, key);
    if (existing.some((r) => r.dev === plan.dev)) return; // already routed into the tunnel
    if (existing.length === 0) {
      final.push(p);
      return;
    }
    if (p.len === p.addr.length * 8) {
      const via = existing.map((r) => r.dev ?? r.type ?? '?').join(', ');
      throw new RouteError(`${key} is already routed via ${via}; remove that route or leave the address out of the remote selectors`);
    }
    for (const h of halves(p)) place({ ...h, from: p.from ?? key });
  };
  for (const p of wanted) place(p);

  const steps: IpStep[] = [];
  const trap = final.filter((p) => p.family === peer.family && covers(p, peer.bytes));
  if (trap.length > 0) {
    const host = peerHostRoute(plan.dev, peer, trap);
    if (host) steps.push({ family: peer.family, add: ['route', 'add', ...host.add], del: ['route', 'del', ...host.del], item: host.item });
  }
  for (const p of final) {
    const key = cidr(p);
    const withSrc = src && src.family === p.family ? ['src', src.text] : [];
    const note = p.from ? ` (part of ${p.from})` : '';
    steps.push({ family: p.family, add: ['route', 'add', key, 'dev', plan.dev, ...withSrc], del: ['route', 'del', key, 'dev', plan.dev], item: `${key} dev ${plan.dev}${withSrc.length ? ` src ${src!.text}` : ''}${note}` });
  }
  return applyIpSteps(steps);
}

/** One change made with `ip -4|-6`, and the arguments that undo exactly it. */
export interface IpStep {
  family: 4 | 6;
  add: string[];
  del: string[];
  /** Human-readable, for logs. */
  item: string;
}

/**
 * Apply the steps in order. On a failure undo what was applied and throw RouteError naming
 * the ip command and its error output. The handle returned is what removeRoutes undoes.
 */
export function applyIpSteps(steps: readonly IpStep[]): InstalledRoutes {
  const added: Added[] = [];
  for (const s of steps) {
    const r = ip([`-${s.family}`, ...s.add]);
    if (!r.ok) {
      rollback(added);
      throw new RouteError(`${r.command} failed: ${r.stderr}`, r.command, r.stderr);
    }
    added.push({ family: s.family, del: s.del });
  }
  const result: InstalledRoutes = Object.freeze({ items: Object.freeze(steps.map((s) => s.item)) });
  undo.set(result, added);
  return result;
}

/**
 * Delete exactly what installRoutes, installTransportRoutes or applyIpSteps added, newest first (the peer's host route last,
 * so the peer stays reachable throughout). Idempotent; never throws; routes already gone
 * (for instance with the TUN device) are not errors. Returns the error texts of deletions
 * that failed.
 */
export function removeRoutes(r: InstalledRoutes): string[] {
  const added = undo.get(r);
  if (!added) return [];
  undo.delete(r);
  return rollback(added);
}

/**
 * MTU of the path to the peer: the route's mtu metric if it has one (including a path MTU
 * the kernel learned), else its device's MTU. Throws RouteError when there is no route.
 */
export function outerMtu(peer: string): number {
  const p = address(peer, 'peer address');
  const got = routeGet(p);
  for (const m of got.metrics ?? []) {
    const v = m.mtu;
    if (typeof v === 'number' && v > 0) return v;
  }
  if (!got.dev) throw new RouteError(`the route to ${p.text} names no device`);
  const link = ipJson<{ mtu?: number }[]>(['link', 'show', 'dev', got.dev]);
  const mtu = link[0]?.mtu;
  if (typeof mtu !== 'number') throw new RouteError(`device ${got.dev} reports no MTU`);
  return mtu;
}

// ---- the routing trap -------------------------------------------------------------------

interface RouteJson {
  type?: string;
  dst?: string;
  gateway?: string;
  dev?: string;
  prefsrc?: string;
  metrics?: Record<string, unknown>[];
}

function peerHostRoute(
  dev: string,
  peer: Address,
  trap: Prefix[],
): { add: string[]; del: string[]; item: string } | undefined {
  const hostLen = peer.bytes.length * 8;
  const host = `${peer.text}/${hostLen}`;
  if (trap.some((p) => p.len === hostLen)) {
    // the selector is the peer itself (transport mode): only policy routing could tell the
    // tunnel's own packets from the protected ones
    throw new RouteError(`remote selector ${host} is the peer's own address: a route into ${dev} would carry the tunnel's own IKE/ESP packets`);
  }
  const got = routeGet(peer);
  if (got.type === 'local') return undefined; // our own address: the local table wins anyway
  if (got.dev === dev) throw new RouteError(`the route to the peer ${peer.text} already goes into ${dev}`);
  const existing = showExact(peer.family, host);
  if (existing.some((r) => r.dev === dev)) throw new RouteError(`a host route sends the peer ${peer.text} into ${dev}`);
  if (existing.length > 0) return undefined; // someone's host route already keeps it out
  if (!got.dev) throw new RouteError(`the route to the peer ${peer.text} names no device`);
  const via = got.gateway ? ['via', got.gateway] : [];
  const src = got.prefsrc ? ['src', got.prefsrc] : [];
  const covering = trap.map((p) => p.from ?? cidr(p)).filter((v, i, a) => a.indexOf(v) === i).join(', ');
  return {
    add: [host, ...via, 'dev', got.dev, ...src],
    del: [host, ...via, 'dev', got.dev],
    item: `${host} ${[...via, 'dev', got.dev].join(' ')} (keeps the tunnel's own packets out of ${covering})`,
  };
}

function routeGet(peer: Address): RouteJson {
  const r = ipJson<RouteJson[]>([`-${peer.family}`, 'route', 'get', peer.text]);
  if (!r[0]) throw new RouteError(`ip route get ${peer.text} returned no route`);
  return r[0];
}

function showExact(family: 4 | 6, key: string): RouteJson[] {
  return ipJson<RouteJson[]>([`-${family}`, 'route', 'show', 'exact', key, 'table', 'main']);
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
  const r = ip(['-j', ...args]);
  if (!r.ok) throw new RouteError(`${r.command} failed: ${r.stderr}`, r.command, r.stderr);
  try {
    return (r.stdout.trim() === '' ? [] : JSON.parse(r.stdout)) as T;
  } catch {
    throw new RouteError(`${r.command} printed something that is not JSON`, r.command, r.stderr);
  }
}

// Routes that vanished on their own (their device was deleted) are not failures.
const GONE = /No such process|Cannot find device|No such device|does not exist/i;

function rollback(added: Added[]): string[] {
  const errors: string[] = [];
  for (const a of [...added].reverse()) {
    try {
      const r = ip([`-${a.family}`, ...a.del]);
      if (!r.ok && !GONE.test(r.stderr)) errors.push(`${r.command} failed: ${r.stderr}`);
    } catch (e) {
      errors.push(String(e));
    }
  }
  added.length = 0;
  return errors;
}

// ---- addresses and prefixes -------------------------------------------------------------

interface Address {
  family: 4 | 6;
  bytes: Uint8Array;
  text: string;
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
