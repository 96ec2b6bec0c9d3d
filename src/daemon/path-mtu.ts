// The outer path MTU per peer (failure map F7): what the route says, what ICMP for our own
// outer packets reported (IP_RECVERR, native/src/icmp_errors.h), or what an IKE probe found
// when no ICMP comes back (tasks/mtu-probe.ts). A learnt value expires like the kernel's
// (net.ipv4.route.mtu_expires, 600 s), and then the route's MTU applies again. From the path
// MTU of a peer and an SA's transform, effectiveMtu gives the largest inner packet that fits:
// the datapath answers larger DF packets with ICMP too-big and clamps the MSS to it.
import type { IcmpErrorReport } from '../io/native.js';
import type { EspSa } from '../ipsec/sad.js';
import { innerMtu } from '../ipsec/mtu.js';
import { IPV4_HEADER_LENGTH, IPV6_HEADER_LENGTH, UDP_HEADER_LENGTH } from '../wire/constants.js';
import { NON_ESP_MARKER } from '../wire/natt.js';

/** The kernel's net.ipv4.route.mtu_expires default: a learnt path MTU is forgotten after 10 min. */
export const PATH_MTU_EXPIRY_MS = 600_000;
const IPV6_MIN_MTU = 1280; // RFC 8200 §5
const IPV4_MIN_MTU = 576; // RFC 791 §3.1: every host accepts 576-octet datagrams
/** The binary search between a size that passed and one that did not stops this close (RFC 8899 §5.3.2 leaves the step to us). */
export const PROBE_RESOLUTION = 16;

export type PathMtuSource = 'route' | 'icmp' | 'probe';

export interface PeerPathMtu {
  peer: string;
  /** Largest outer IP packet that reaches the peer. */
  mtu: number;
  source: PathMtuSource;
  /** icmp: who reported it (a router on the path; "this host" when our kernel refused the send). */
  reportedBy?: string;
  /** When a learnt value is forgotten (ms, the daemon's clock). */
  expiresAt?: number;
}

/** A probe's result as the daemon reads it: outer packet sizes sent, and the one answered. */
export interface ProbeOutcome {
  peer: string;
  probed: number[];
  answered: number;
  /** The largest size probed passed (when that is the route's MTU, the path is as wide as the route says). */
  fits: boolean;
}

/** Name of an ICMP error for the counters (RFC 792, RFC 1191 §4, RFC 4443 §3). */
export function icmpName(r: Pick<IcmpErrorReport, 'origin' | 'type' | 'code'>): string {
  if (r.origin === 1) return 'local-too-big'; // SO_EE_ORIGIN_LOCAL: our kernel knew the path MTU already
  if (r.origin === 3) {
    if (r.type === 2) return 'packet-too-big';
    if (r.type === 1) return r.code === 4 ? 'port-unreachable' : 'destination-unreachable';
    if (r.type === 3) return 'time-exceeded';
    return `icmpv6-${r.type}-${r.code}`;
  }
  if (r.type === 3) {
    const codes: Record<number, string> = { 0: 'net-unreachable', 1: 'host-unreachable', 2: 'protocol-unreachable', 3: 'port-unreachable', 4: 'frag-needed', 13: 'admin-prohibited' };
    return codes[r.code] ?? `unreachable-${r.code}`;
  }
  if (r.type === 11) return 'time-exceeded';
  return `icmp-${r.type}-${r.code}`;
}

/** Does this ICMP error report a path MTU (frag-needed, Packet Too Big, or our kernel's own EMSGSIZE)? */
function reportsMtu(r: IcmpErrorReport): boolean {
  const name = icmpName(r);
  return (name === 'frag-needed' || name === 'packet-too-big' || name === 'local-too-big') && r.info > 0;
}

/** The floor a path MTU never goes below for the peer's family. */
export function minMtu(peer: string): number {
  return peer.includes(':') ? IPV6_MIN_MTU : IPV4_MIN_MTU;
}

/** Outer bytes in front of an IKE message: IP and UDP headers, and the non-ESP marker on port 4500 (RFC 3948 §2.2). */
export function ikeOuterOverhead(peer: string, natt: boolean): number {
  return (peer.includes(':') ? IPV6_HEADER_LENGTH : IPV4_HEADER_LENGTH) + UDP_HEADER_LENGTH + (natt ? NON_ESP_MARKER.length : 0);
}

/** The largest inner packet an SA carries in an outer packet of `pathMtu` octets. */
export function effectiveMtu(sa: Pick<EspSa, 'transform' | 'outer' | 'mode' | 'remoteAddress'>, pathMtu: number): number {
  const t = sa.transform;
  return innerMtu(pathMtu, {
    ivLength: t.ivLength,
    icvLength: t.icvLength,
    blockSize: t.blockSize,
    encap: sa.outer?.encap ?? true,
    outerFamily: sa.remoteAddress.length === 16 ? 6 : 4,
    mode: sa.mode,
  });
}

interface Learnt {
  mtu: number;
  source: 'icmp' | 'probe';
  reportedBy?: string;
  expiresAt: number;
}

/** Per peer: the learnt path MTU, the ICMP errors seen, and the probe search (RFC 8899 §5.3 style, by halving). */
export class PathMtus {
  /** ICMP errors reported for our outer packets, by name (icmpName). */
  readonly icmpReceived: Record<string, number> = {};
  private readonly learnt = new Map<string, Learnt>();
  /** The ICMP errors that reported an MTU per peer, for a probe's evidence. */
  private readonly mtuReports = new Map<string, number>();
  /** Probe search per peer: the largest size that passed, the smallest that did not. */
  private readonly search = new Map<string, { lo: number; hi: number }>();

  /** `routeMtu`: the MTU of the route to a peer (src/io/routes.ts outerMtu). */
  constructor(readonly routeMtu: (peer: string) => number) {}

  /** An ICMP error from the sockets; returns the peer's new path MTU when it changed. */
  onIcmp(r: IcmpErrorReport, now: number): PeerPathMtu | undefined {
    const name = icmpName(r);
    this.icmpReceived[name] = (this.icmpReceived[name] ?? 0) + 1;
    if (!r.dst || !reportsMtu(r)) return undefined;
    const peer = r.dst;
    this.mtuReports.set(peer, (this.mtuReports.get(peer) ?? 0) + 1);
    const mtu = Math.max(r.info, minMtu(peer)); // RFC 8201 §4: never below the minimum link MTU
    const was = this.get(peer, now);
    this.learnt.set(peer, { mtu, source: 'icmp', reportedBy: r.offender ?? 'this host', expiresAt: now + PATH_MTU_EXPIRY_MS });
    this.search.delete(peer); // the router said it: no search needed
    return was.mtu === mtu && was.source === 'icmp' ? undefined : this.get(peer, now);
  }

  /** How many ICMP errors reported an MTU for packets to `peer`. */
  icmpMtuReports(peer: string): number {
    return this.mtuReports.get(peer) ?? 0;
  }

  /**
   * A probe's answer. A learnt ICMP value stays (the router told us); otherwise the largest size
   * that passed becomes the path MTU, and the search narrows. Returns the next size to probe, if any.
   */
  onProbe(o: ProbeOutcome, now: number): number | undefined {
    const cur = this.learnt.get(o.peer);
    if (cur?.source === 'icmp' && cur.expiresAt > now) return undefined;
    const top = Math.max(...o.probed);
    // a probe from the route's MTU down starts the search over: the path may have narrowed since
    const fresh = top >= this.routeMtu(o.peer);
    const s = (!fresh && this.search.get(o.peer)) || { lo: minMtu(o.peer), hi: top + 1 };
    for (const size of o.probed) {
      if (size === o.answered) s.lo = Math.max(s.lo, size);
      else if (size > o.answered) s.hi = Math.min(s.hi, size);
    }
    if (s.hi <= s.lo) s.hi = s.lo + 1;
    this.search.set(o.peer, s);
    if (o.fits && top >= this.routeMtu(o.peer)) {
      this.learnt.delete(o.peer); // the route's MTU is the path's
      this.search.delete(o.peer);
      return undefined;
    }
    this.learnt.set(o.peer, { mtu: s.lo, source: 'probe', expiresAt: now + PATH_MTU_EXPIRY_MS });
    if (s.hi - s.lo <= PROBE_RESOLUTION) return undefined;
    return Math.floor((s.lo + s.hi) / 2);
  }

  /** The peer's path MTU now: learnt and not expired, else the route's. */
  get(peer: string, now: number): PeerPathMtu {
    const l = this.learnt.get(peer);
    if (l && l.expiresAt > now) return { peer, mtu: l.mtu, source: l.source, ...(l.reportedBy ? { reportedBy: l.reportedBy } : {}), expiresAt: l.expiresAt };
    if (l) {
      this.learnt.delete(peer);
      this.search.delete(peer);
    }
    return { peer, mtu: this.routeMtu(peer), source: 'route' };
  }

  /** Peers with a learnt path MTU (not expired). */
  learntPeers(now: number): PeerPathMtu[] {
    return [...this.learnt.keys()].map((p) => this.get(p, now)).filter((m) => m.source !== 'route');
  }
}
