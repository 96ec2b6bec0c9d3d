// The checks of a gateway file that look at two connections (or two pools) at once: what one
// daemon with one IKE socket per local address and one SPD cannot serve. Each problem names
// the JSON pointers of both.
import { identityMatches, parseIdentity } from '../ike/auth/identity.js';
import { formatSelector, intersectSelectors } from '../wire/selectors.js';
import type { TrafficSelector } from '../wire/types.js';
import type { PeerOutline } from './load.js';
import type { Problems } from './resolve.js';
import { ANY } from './types.js';

/** A connection as the cross checks see it: its JSON pointer (`/connections/<name>`) and what parsed of it. */
export interface Placed<T> {
  path: string;
  of: T;
}

/** Every check below, in file order; `conns` are the connections whose shape the schema accepted. */
export function checkConnections(conns: Placed<PeerOutline>[], probs: Problems): void {
  checkPorts(conns, probs);
  for (let b = 0; b < conns.length; b++) {
    for (let a = 0; a < b; a++) {
      checkAmbiguous(conns[a], conns[b], probs);
      checkOverlap(conns[a], conns[b], probs);
    }
  }
}

/** One IKE socket per local address: every connection on it uses the same local.port. */
function checkPorts(conns: Placed<PeerOutline>[], probs: Problems): void {
  const first = new Map<string, Placed<PeerOutline>>();
  for (const c of conns) {
    const addr = c.of.localAddr;
    if (addr === undefined) continue;
    const f = first.get(addr);
    if (!f) first.set(addr, c);
    else if (f.of.localPort !== c.of.localPort) {
      probs.push({
        path: `${c.path}/local/port`,
        expected: `expected ${f.of.localPort} as in ${f.path}/local/port: connections on local.addr ${addr} share one IKE socket, got ${c.of.localPort}`,
      });
    }
  }
}

/** Two remote ids match the same peers: both %any, or each matches the other (case, DN order and wildcards as identityMatches has them). */
function sameIdentity(a: string, b: string): boolean {
  if (a === ANY || b === ANY) return a === b;
  return identityMatches(a, parseIdentity(b)) && identityMatches(b, parseIdentity(a));
}

/**
 * A responder picks the connection by local and remote address, then by the initiator's IDi
 * (RFC 7296 §2.15: the responder learns who the peer claims to be only from IDi). Two
 * connections equal in all three can never be told apart, unless one takes EAP and the other
 * not (RFC 7296 §2.16: a peer that asks for EAP sends no AUTH; ike-auth.ts picks by that first).
 */
function checkAmbiguous(a: Placed<PeerOutline>, b: Placed<PeerOutline>, probs: Problems): void {
  const [x, y] = [a.of, b.of];
  if (x.localAddr === undefined || x.remoteAddr === undefined || x.remoteId === undefined) return;
  if (x.localAddr !== y.localAddr || x.remoteAddr !== y.remoteAddr || y.remoteId === undefined) return;
  if (!sameIdentity(x.remoteId, y.remoteId) || !!x.remoteEap !== !!y.remoteEap) return;
  probs.push({
    path: `${b.path}/remote/id`,
    expected:
      `cannot be told apart from ${a.path}: both have local.addr ${x.localAddr}, remote.addr ${x.remoteAddr} and remote.id ${y.remoteId === x.remoteId ? x.remoteId : `${y.remoteId} (${a.path}/remote/id: ${x.remoteId})`}, ` +
      'and a responder picks a connection by address, then by the peer\'s identity: give one a distinct remote.id or remote.addr',
  });
}

/** The selector of packets both `a` and `b` select on each side, with the indexes that gave it. */
interface Shared {
  ia: number;
  ib: number;
  ts: TrafficSelector;
}

function shared(a: TrafficSelector[], b: TrafficSelector[]): Shared[] {
  const out: Shared[] = [];
  a.forEach((x, ia) => b.forEach((y, ib) => {
    const ts = intersectSelectors(x, y);
    if (ts) out.push({ ia, ib, ts });
  }));
  return out;
}

/**
 * RFC 4301 §4.4.1: the SPD is one ordered list for the whole daemon, so a packet that the
 * selectors of two connections both match (source in both local.ts, destination in both
 * remote.ts) could belong to either tunnel.
 */
function checkOverlap(a: Placed<PeerOutline>, b: Placed<PeerOutline>, probs: Problems): void {
  const [x, y] = [a.of, b.of];
  if (!x.localTs || !x.remoteTs || !y.localTs || !y.remoteTs) return;
  // two remote-access connections: each peer's selector is its own leased address, never another's
  if (x.pools && y.pools) return;
  for (const l of shared(x.localTs, y.localTs)) {
    for (const r of shared(x.remoteTs, y.remoteTs)) {
      // one packet: one address family, and one protocol that both sides allow (0 = any)
      if (l.ts.tsType !== r.ts.tsType) continue;
      if (l.ts.ipProtocol !== 0 && r.ts.ipProtocol !== 0 && l.ts.ipProtocol !== r.ts.ipProtocol) continue;
      probs.push({
        path: `${b.path}/remote/ts/${r.ib}`,
        expected:
          `overlaps ${a.path}/remote/ts/${r.ia}, and ${b.path}/local/ts/${l.ib} overlaps ${a.path}/local/ts/${l.ia}: ` +
          `a packet from ${formatSelector(l.ts)} to ${formatSelector(r.ts)} matches both connections, and one SPD cannot tell which tunnel it belongs to`,
      });
      return;
    }
  }
}

/** Two pools that share an address would hand it out twice. */
export function checkPools(pools: Placed<TrafficSelector>[], probs: Problems): void {
  for (let b = 0; b < pools.length; b++) {
    for (let a = 0; a < b; a++) {
      const both = intersectSelectors(pools[a].of, pools[b].of);
      if (both) {
        probs.push({ path: `${pools[b].path}/addrs`, expected: `overlaps ${pools[a].path}/addrs (both hold ${formatSelector(both)}): an address would be handed out twice` });
      }
    }
  }
}
