// Failure map F7 live: the daemon's side of the outer path MTU. It takes the ICMP errors the
// sockets report for our outer packets (every ICMP_POLL_MS), probes each new IKE SA's path
// with padded INFORMATIONALs (src/ike/tasks/mtu-probe.ts), keeps the result per peer
// (path-mtu.ts), hands it to the datapath (ICMP too-big, MSS clamp per SA), and reports F7
// when large packets vanish without any ICMP: a black hole (RFC 2923 §2.1).
import type { IkeSa } from '../ike/ike-sa.js';
import type { Effect, IkeEvent } from '../ike/effects.js';
import type { IcmpErrorReport } from '../io/native.js';
import { NAT_T_PORT } from '../wire/constants.js';
import type { ChildRecord } from './child-record.js';
import type { Datapath } from './datapath.js';
import type { Logger } from './log.js';
import { PATH_MTU_EXPIRY_MS, PathMtus, ikeOuterOverhead, minMtu, type PeerPathMtu } from './path-mtu.js';
import type { ChildMtuStatus } from './status.js';

/** How often the sockets' ICMP errors are read: a frag-needed shows in status within this. */
export const ICMP_POLL_MS = 200;
/** The first probe waits this long after the IKE SA is up, for its Child SA to be installed. */
export const PROBE_DELAY_MS = 500;
/** Large ESP sent and nothing received for this long: the path is probed again (a path that narrowed). */
export const STALL_MS = 1000;
/** At most one stall-triggered probe per connection in this time. */
export const STALL_PROBE_INTERVAL_MS = 30_000;

/**
 * Copies of each probe sent at once (the peer answers each, RFC 7296 §2.1): a size counts as
 * lost only when every copy is. RFC 8899 §5.1.2 takes MAX_PROBES = 3 losses in a row; 6 at
 * once keep a path with 20 % random loss from passing for a black hole (0.36^6, both ways).
 */
export const PROBE_COPIES = 6;

export interface PathMtuWatchOptions {
  pathMtus: PathMtus;
  datapath: Pick<Datapath, 'setPathMtu' | 'mtuOf' | 'largeSent' | 'lastInbound'>;
  /** Every outer socket's ICMP errors since the last call. */
  icmpErrors: () => IcmpErrorReport[];
  /** The established IKE SAs of a connection. */
  ikeSas: (conn: string) => IkeSa[];
  /** Apply a command's effects on one IKE SA (the daemon's `command`). */
  apply: (sa: IkeSa, fx: Effect[]) => void;
  failure: (row: string, message: string, evidence: unknown, conn: string) => void;
  /** The black hole of an F7 is gone: a probe at the route's MTU was answered (the failure history resolves F7). */
  healed: (conn: string) => void;
  log: Logger;
}

interface Probe {
  conn: string;
  peer: string;
  overhead: number;
  /** Outer sizes, largest first (each retransmission takes the next). */
  sizes: number[];
  startedAt: number;
}

export class PathMtuWatch {
  private icmpAt = 0;
  /** Probes to start, by connection. */
  private readonly due = new Map<string, { at: number; sizes?: number[] }>();
  /** The probe in flight, by connection (an IKE SA runs one request at a time). */
  private readonly inFlight = new Map<string, Probe>();
  /** Peers with an F7 not healed yet: resolved once a probe at the route's MTU passes. */
  private readonly holes = new Set<string>();
  /** Peers already reported as black holes (F7 once per episode, until the path changes). */
  private readonly reported = new Set<string>();
  /** Stall watch: large ESP sent at the last poll, and when the first large packet after the last inbound one went (about). */
  private stall = { largeSent: 0, firstLarge: undefined as number | undefined };
  private readonly stallProbeAt = new Map<string, number>();
  private readonly conns = new Set<string>();

  constructor(private readonly o: PathMtuWatchOptions) {}

  nextDeadline(): number {
    let t = this.icmpAt;
    for (const d of this.due.values()) t = Math.min(t, d.at);
    return t;
  }

  run(now: number): void {
    if (now >= this.icmpAt) {
      this.icmpAt = now + ICMP_POLL_MS;
      for (const r of this.o.icmpErrors()) this.onIcmp(r, now);
      this.watchStall(now);
    }
    for (const [conn, d] of [...this.due]) {
      if (now < d.at) continue;
      this.due.delete(conn);
      this.probe(conn, now, d.sizes);
    }
  }

  /** The daemon's IKE events: a new IKE SA is probed; a probe's answer is read. */
  onEvent(e: IkeEvent, conn: string | undefined, now: number): void {
    if (conn === undefined) return;
    if (e.type === 'ike-established') {
      this.conns.add(conn);
      this.due.set(conn, { at: now + PROBE_DELAY_MS });
    }
    else if (e.type === 'mtu-probe') this.answered(conn, e.sent, e.answered, now);
    else if (e.type === 'ike-deleted') this.inFlight.delete(conn);
  }

  /** Status: a Child SA's path MTU, its tunnel MTU, and where the path MTU came from. */
  childMtu(rec: ChildRecord, now: number): ChildMtuStatus | undefined {
    const peer = rec.outSa.outer?.addr;
    if (!peer) return undefined;
    const m = this.o.pathMtus.get(peer, now);
    return {
      pathMtu: m.mtu,
      tunnelMtu: this.o.datapath.mtuOf(rec.outSa),
      source: m.source,
      ...(m.reportedBy ? { reportedBy: m.reportedBy } : {}),
      ...(m.expiresAt !== undefined ? { expiresIn: Math.max(0, Math.round((m.expiresAt - now) / 1000)) } : {}),
    };
  }

  /**
   * Large ESP packets keep going out and nothing authenticated comes back (a TCP sender
   * retransmitting a segment the path eats): probe again now, not at the next 600 s round.
   */
  private watchStall(now: number): void {
    const dp = this.o.datapath;
    const st = this.stall;
    if (dp.largeSent > st.largeSent && (st.firstLarge === undefined || st.firstLarge <= dp.lastInbound)) st.firstLarge = now;
    st.largeSent = dp.largeSent;
    if (st.firstLarge === undefined) return;
    if (dp.lastInbound >= st.firstLarge) {
      st.firstLarge = undefined; // something came back after it
      return;
    }
    if (now - st.firstLarge < STALL_MS) return;
    st.firstLarge = undefined;
    for (const conn of this.conns) {
      if (this.inFlight.has(conn) || now - (this.stallProbeAt.get(conn) ?? -Infinity) < STALL_PROBE_INTERVAL_MS) continue;
      this.stallProbeAt.set(conn, now);
      this.due.set(conn, { at: now });
      this.o.log.info('mtu', `${conn}: large packets went out for ${STALL_MS / 1000} s and nothing came back: probing the path MTU again`);
    }
  }

  private onIcmp(r: IcmpErrorReport, now: number): void {
    const changed = this.o.pathMtus.onIcmp(r, now);
    if (!changed) return;
    this.o.datapath.setPathMtu(changed.peer, changed.mtu);
    this.reported.delete(changed.peer);
    this.o.log.info('mtu', `path MTU to ${changed.peer} is ${changed.mtu} (ICMP ${r.origin === 1 ? 'from this host' : `from ${changed.reportedBy}`}), for ${PATH_MTU_EXPIRY_MS / 60_000} min`);
  }

  private probe(conn: string, now: number, sizes?: number[]): void {
    if (this.inFlight.has(conn)) return;
    const sa = this.o.ikeSas(conn)[0];
    if (!sa) return;
    const peer = sa.remote.addr;
    const natt = sa.remote.port === NAT_T_PORT || sa.local.port === NAT_T_PORT;
    const overhead = ikeOuterOverhead(peer, natt);
    // the first probe: the route's MTU, then the IPv6 minimum, then the least any IPv4 path has
    const route = this.o.pathMtus.routeMtu(peer);
    const list = sizes ?? [route, 1280, minMtu(peer)].filter((s, i, a) => s <= route && a.indexOf(s) === i);
    this.inFlight.set(conn, { conn, peer, overhead, sizes: list, startedAt: now });
    const fx = sa.probeMtu(now, list.map((s) => s - overhead));
    const send = fx.findIndex((e) => e.type === 'send');
    if (send >= 0) fx.splice(send + 1, 0, ...Array.from({ length: PROBE_COPIES - 1 }, () => ({ ...fx[send] })));
    this.o.apply(sa, fx);
  }

  private answered(conn: string, sentIke: number[], answeredIke: number, now: number): void {
    const p = this.inFlight.get(conn);
    if (!p) return;
    this.inFlight.delete(conn);
    const probed = sentIke.map((n) => n + p.overhead);
    const answered = answeredIke + p.overhead;
    const fits = answered === probed[0];
    const next = this.o.pathMtus.onProbe({ peer: p.peer, probed, answered, fits }, now);
    const m = this.o.pathMtus.get(p.peer, now);
    this.o.datapath.setPathMtu(p.peer, m.source === 'route' ? undefined : m.mtu);
    if (!fits && this.o.pathMtus.icmpMtuReports(p.peer) === 0 && m.source === 'probe' && !this.reported.has(p.peer)) this.blackHole(conn, p, m, probed, answered, now);
    if (fits) this.reported.delete(p.peer);
    // the route's whole MTU passes again: the black hole of an F7 is gone
    if (fits && m.source === 'route' && this.holes.delete(p.peer)) this.o.healed(conn);
    // RFC 8899 §5.1.1: probe again (for a larger MTU, or a path that changed) after the raise timer, 600 s
    this.due.set(conn, next !== undefined ? { at: now, sizes: [next] } : { at: now + PATH_MTU_EXPIRY_MS });
  }

  /** F7: a large probe went unanswered while a smaller one was answered, and no ICMP said why. */
  private blackHole(conn: string, p: Probe, m: PeerPathMtu, probed: number[], answered: number, now: number): void {
    this.reported.add(p.peer);
    this.holes.add(p.peer);
    const ours = this.o.ikeSas(conn)[0]?.children.find((c) => c.state === 'INSTALLED');
    const lost = probed.filter((s) => s > answered);
    const message = `packets of ${Math.min(...lost)} octets to ${p.peer} vanish and no ICMP says why (a router drops them and ICMP "fragmentation needed"): tunnel MTU lowered to fit ${m.mtu}-octet outer packets`;
    this.o.failure('F7', message, {
      peer: p.peer,
      pathMtu: m.mtu,
      source: 'probe',
      icmpReceived: 'none',
      probes: probed.map((size) => ({ size, answered: size === answered })),
      detectedInMs: now - p.startedAt,
      ...(ours ? { child: ours.name } : {}),
      fixArea: 'MTU, MSS clamping, ICMP filtering',
    }, conn);
    this.o.log.error('mtu', `F7: ${message}`);
  }
}

