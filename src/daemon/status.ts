// TunnelStatus: what `tsvpn status` shows, built from the live objects on request. It
// answers the failure map (DESIGN.md) in order: IKE SA state and last failure (F1-F4), SA
// counters and drops by reason (F5), MTU and ICMP counts (F7), NAT and encapsulation (F8).
// Only names, addresses, SPIs, algorithms and counters: no key material.

import type { PoolStatus } from '../ike/address-pool.js';
import type { Endpoint } from '../ike/config.js';
import type { TrafficCounters } from '../ipsec/counters.js';
import type { ChildRecord } from './child-record.js';
import type { ChildGone, LastFailure, UnauthenticatedFailure } from './event-log.js';
import { formatEndpoint } from '../wire/ip-text.js';
import { spiHex } from '../wire/spi.js';

/** A Child SA's outer path MTU and the largest inner packet it carries (failure map F7). */
export interface ChildMtuStatus {
  /** Largest outer packet that reaches the peer. */
  pathMtu: number;
  /** Largest inner packet this SA carries in it: ICMP too-big and the MSS clamp use it. */
  tunnelMtu: number;
  /** route: the route's MTU; icmp: an ICMP error for our outer packets said so (from reportedBy); probe: an IKE probe found it. */
  source: 'route' | 'icmp' | 'probe';
  reportedBy?: string;
  /** Seconds until a learnt value is forgotten (the route's applies again). */
  expiresIn?: number;
}

export interface ChildStatus {
  name: string;
  state: 'INSTALLED' | string;
  mode: 'tunnel' | 'transport';
  spiIn: string;
  spiOut: string;
  /** Path and tunnel MTU (F7); absent while the Child SA has no outbound path. */
  mtu?: ChildMtuStatus;
  proposal: string;
  localTs: string[];
  remoteTs: string[];
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  drops: Record<string, number>;
  rekeys: number;
  installed: number; // seconds ago
  /** Seconds until this SA starts its rekey (soft lifetime); absent when none is planned (F6 evidence). */
  rekeyIn?: number;
  /** Seconds until this SA is deleted (hard lifetime); absent when it has none. */
  expiresIn?: number;
  /** Its routes could not be installed (F5): nothing is steered into it, so it is not up. */
  routeError?: string;
}

export interface IkeSaStatus {
  /** The connection it serves (the key in `connections`, or peer.json's name). */
  connection: string;
  state: string;
  role: 'initiator' | 'responder';
  localSpi: string;
  remoteSpi: string;
  local: string;
  remote: string;
  localId: string;
  remoteId: string;
  proposal: string;
  /** NAT-D (RFC 7296 §2.23); `peerForcesEncap`: the peer's NAT-D does not match, yet no NAT is seen from our side (src/ike/nat.ts). */
  nat: { local: boolean; remote: boolean; peerForcesEncap?: boolean };
  /** RFC 4555 §3.2: both ends support MOBIKE on this IKE SA (the client's address may move, docs/peer-json.md "Roaming"). */
  mobike?: boolean;
  established: number | null; // seconds ago
  /** How many IKE SA rekeys led to this IKE SA. */
  rekeys?: number;
  /** Seconds until the IKE SA rekey starts (soft lifetime); absent when none is planned. */
  rekeyIn?: number;
  /** Seconds until the IKE SA reaches its hard lifetime; absent when it has none. */
  expiresIn?: number;
  /** Seconds until a new IKE SA is authenticated to replace this one (reauth_time); absent when off. */
  reauthIn?: number;
  /** Virtual IPs (RFC 7296 §2.19): leased to the peer from a pool (gateway), or given to us (client), with the DNS servers that came with them. */
  vips?: { leased?: string[]; own?: string[]; dns?: string[]; subnets?: string[] };
  children: ChildStatus[];
}

export interface TunnelStatus {
  name: string;
  pid: number;
  /**
   * offload: the TUN's offloads, `tso on, uso on` or `tso off (why)`; superPackets: the TCP/UDP
   * super-packets it handed over, each cut into packets of at most the MTU (src/io/tun-offload.ts);
   * coalesced: inner packets written to it as part of a GRO super-packet (src/wire/gro-coalesce.ts).
   */
  tun: { name: string; mtu: number; offload?: string; superPackets?: number; coalesced?: number } | null;
  encap: 'udp' | 'raw' | null;
  /** ESP in UDP's offloads on the 4500 socket: `gso on, gro on`, or what is off and why (issue 15). */
  udpOffload?: string;
  ikeSas: IkeSaStatus[];
  drops: { inbound: Record<string, number>; outbound: Record<string, number>; ike: Record<string, number> };
  /** IKE requests sent again for want of an answer (RFC 7296 §2.1) since the daemon started: a lossy path shows here. */
  retransmits: number;
  /** IKE SAs this daemon replaced by reauthentication (RFC 7296 §2.8.3) since it started. */
  reauths: number;
  /** The newest failure not resolved yet (src/daemon/failure-history.ts). */
  lastFailure: LastFailure | null;
  /** The recent failures of the whole daemon, newest first, each with its fix area and, once cleared, resolvedAt. */
  failures?: LastFailure[];
  /** The newest failure of an IKE SA whose peer never authenticated (src/daemon/event-log.ts): a misconfigured peer, or anyone. */
  lastUnauthenticatedFailure: UnauthenticatedFailure | null;
  /** Every configured connection; its peers are the `ikeSas` whose `connection` names it. */
  connections: ConnectionStatus[];
  /** The last Child SA the peer deleted or that expired (no failure of ours, but why traffic may have stopped). */
  lastChildGone?: ChildGone | null;
  /** tsvpn's routes and rules found missing at the last periodic check (F5; the guard drops their traffic). */
  routesMissing?: number;
  /** The gateway's address pools: size, addresses online (held by an IKE SA) and offline (kept for their identity). */
  pools?: PoolStatus[];
  /** The last outbound packets no selector matched (`no-policy`, F5), newest last; `ago` in seconds. */
  spdMisses?: { src: string; dst: string; protocol: number; ago: number }[];
  /** ICMP errors received for our outer packets since the daemon started, by name (frag-needed, packet-too-big, port-unreachable, ...; F7, F1). */
  icmpReceived?: Record<string, number>;
  /** The client's kill switch (peer.json `killSwitch`): its nft table and the packets it dropped (null: the table is gone). */
  killSwitch?: KillSwitchStatus;
}

export interface KillSwitchStatus {
  table: string;
  dropped: number | null;
}

/** One configured connection: what it is for, and its own last failure. */
export interface ConnectionStatus {
  name: string;
  local: string;
  /** The peer's address, or %any (then every peer that matched it has its own IKE SA). */
  remote: string;
  remoteId: string;
  start: 'initiate' | 'wait';
  localTs: string[];
  remoteTs: string[];
  reauths: number;
  /** This connection's newest failure not resolved yet. */
  lastFailure: LastFailure | null;
  /** Failures of this connection by failure-map row since the daemon started (counted as they happen). */
  failures?: Record<string, number>;
  /** This connection's recent failures, newest first, resolved or not. */
  history?: LastFailure[];
}

/** The parts of an IkeSa the status reads (an IkeSa, or a fake in tests). */
export interface IkeSaView {
  /** Its connection, and our identity in it (absent in fakes: the daemon's name and localId). */
  readonly name?: string;
  readonly localId?: string;
  readonly state: string;
  readonly role: 'initiator' | 'responder';
  readonly spiI: Uint8Array;
  readonly spiR: Uint8Array;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  readonly proposal: string | undefined;
  readonly nat: { local: boolean; remote: boolean; peerForcesEncap?: boolean } | undefined;
  readonly remoteId: string | undefined;
  readonly mobike?: boolean;
  readonly stats: object;
  /** Lifetime deadlines in ms on the status clock, and the IKE rekey count (optional for fakes). */
  readonly rekeyAt?: number | undefined;
  readonly expireAt?: number | undefined;
  readonly rekeys?: number;
  readonly reauthDue?: number | undefined;
  readonly leasedVips?: readonly string[];
  readonly ownVips?: { addresses: string[]; dns: string[]; subnets?: string[] } | undefined;
  readonly children: readonly { name: string; state: string; spiIn: number; spiOut: number; proposal: string; mode: 'tunnel' | 'transport'; rekeyAt?: number | undefined; expireAt?: number | undefined }[];
}

export interface StatusInput {
  name: string;
  pid: number;
  localId: string;
  /**
   * offload: the TUN's offloads, `tso on, uso on` or `tso off (why)`; superPackets: the TCP/UDP
   * super-packets it handed over, each cut into packets of at most the MTU (src/io/tun-offload.ts);
   * coalesced: inner packets written to it as part of a GRO super-packet (src/wire/gro-coalesce.ts).
   */
  tun: { name: string; mtu: number; offload?: string; superPackets?: number; coalesced?: number } | null;
  encap: 'udp' | 'raw' | null;
  /** ESP in UDP's offloads on the 4500 socket: `gso on, gro on`, or what is off and why (issue 15). */
  udpOffload?: string;
  ikeSas: readonly IkeSaView[];
  children: ReadonlyMap<number, ChildRecord>;
  established: ReadonlyMap<string, number>;
  inbound: TrafficCounters;
  outbound: TrafficCounters;
  /** IKE-level counters (dispatcher, sockets, datapath extras), shown when non-zero. */
  ikeCounters: readonly object[];
  /** Extra datapath counters merged into the inbound / outbound drops (e.g. tun-write errors). */
  extraInbound?: Record<string, number>;
  extraOutbound?: Record<string, number>;
  retransmits: number;
  reauths: number;
  lastFailure: LastFailure | null;
  failures?: LastFailure[];
  lastUnauthenticatedFailure?: UnauthenticatedFailure | null;
  connections?: ConnectionStatus[];
  /** The gateway's address pools and their leases (src/ike/address-pool.ts). */
  pools?: PoolStatus[];
  lastChildGone?: ChildGone | null;
  routesMissing?: number;
  spdMisses?: { src: string; dst: string; protocol: number; at: number }[];
  /** A Child SA's path and tunnel MTU (F7). */
  childMtu?: (rec: ChildRecord) => ChildMtuStatus | undefined;
  icmpReceived?: Record<string, number>;
  killSwitch?: KillSwitchStatus;
  now: number; // ms, same clock as the records
}

const ago = (now: number, t: number): number => Math.max(0, Math.round((now - t) / 1000));
/** Whole seconds from `now` until `t` (0 once due). */
const secondsUntil = (now: number, t: number): number => Math.max(0, Math.round((t - now) / 1000));

/** { rekeyIn, expiresIn } in whole seconds from now (0 when due), only the deadlines that are set. */
function deadlines(now: number, rekeyAt: number | undefined, expireAt: number | undefined): { rekeyIn?: number; expiresIn?: number } {
  const out: { rekeyIn?: number; expiresIn?: number } = {};
  if (rekeyAt !== undefined) out.rekeyIn = secondsUntil(now, rekeyAt);
  if (expireAt !== undefined) out.expiresIn = secondsUntil(now, expireAt);
  return out;
}

/** Non-zero entries of counter objects, summed by key. */
export function nonZero(...tables: readonly object[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of tables) {
    for (const [k, v] of Object.entries(t)) if (typeof v === 'number' && v !== 0) out[k] = (out[k] ?? 0) + v;
  }
  return out;
}

/** Retransmissions are normal protocol behaviour, not drops (the log shows each one). */
function withoutRetransmits(stats: object): object {
  const { retransmitsSent: _s, retransmitsReceived: _r, duplicateResponses: _d, ...rest } = stats as Record<string, unknown>;
  return rest;
}

export function buildStatus(s: StatusInput): TunnelStatus {
  const ikeSas = s.ikeSas.map((sa): IkeSaStatus => {
    const initiator = sa.role === 'initiator';
    const est = s.established.get(spiHex(sa.spiI));
    const children = sa.children.map((c): ChildStatus => {
      const rec = s.children.get(c.spiIn);
      const mtu = rec && s.childMtu?.(rec);
      return {
        name: c.name,
        state: c.state,
        mode: c.mode,
        spiIn: spiHex(c.spiIn),
        spiOut: spiHex(c.spiOut),
        proposal: c.proposal,
        localTs: rec ? [...rec.info.localTs] : [],
        remoteTs: rec ? [...rec.info.remoteTs] : [],
        // inbound: inner bytes delivered; outbound: ESP bytes sent (ipsec/counters.ts)
        bytesIn: rec?.inSa.counters.bytes ?? 0,
        bytesOut: rec?.outSa.counters.bytes ?? 0,
        packetsIn: rec?.inSa.counters.passed ?? 0,
        packetsOut: rec?.outSa.counters.passed ?? 0,
        drops: rec ? nonZero(rec.inSa.counters.drops, rec.outSa.counters.drops) : {},
        rekeys: rec?.rekeys ?? 0,
        installed: rec ? ago(s.now, rec.installedAt) : 0,
        ...deadlines(s.now, c.rekeyAt, c.expireAt),
        ...(rec?.routeError !== undefined ? { routeError: rec.routeError } : {}),
        ...(mtu ? { mtu } : {}),
      };
    });
    return {
      connection: sa.name ?? s.name,
      state: sa.state,
      role: sa.role,
      localSpi: spiHex(initiator ? sa.spiI : sa.spiR),
      remoteSpi: spiHex(initiator ? sa.spiR : sa.spiI),
      local: formatEndpoint(sa.local),
      remote: formatEndpoint(sa.remote),
      localId: sa.localId ?? s.localId,
      remoteId: sa.remoteId ?? '',
      proposal: sa.proposal ?? '',
      nat: sa.nat ?? { local: false, remote: false },
      ...(sa.mobike !== undefined ? { mobike: sa.mobike } : {}),
      established: est === undefined || sa.state !== 'ESTABLISHED' ? null : ago(s.now, est),
      ...(sa.rekeys !== undefined ? { rekeys: sa.rekeys } : {}),
      ...deadlines(s.now, sa.rekeyAt, sa.expireAt),
      ...(sa.reauthDue !== undefined && sa.state === 'ESTABLISHED' ? { reauthIn: secondsUntil(s.now, sa.reauthDue) } : {}),
      ...vipStatus(sa),
      children,
    };
  });
  return {
    name: s.name,
    pid: s.pid,
    tun: s.tun,
    encap: s.encap,
    ...(s.udpOffload !== undefined ? { udpOffload: s.udpOffload } : {}),
    ikeSas,
    drops: {
      inbound: nonZero(s.inbound.drops, s.extraInbound ?? {}),
      outbound: nonZero(s.outbound.drops, s.extraOutbound ?? {}),
      ike: nonZero(...s.ikeCounters, ...s.ikeSas.map((sa) => withoutRetransmits(sa.stats))),
    },
    retransmits: s.retransmits,
    reauths: s.reauths,
    lastFailure: s.lastFailure,
    failures: s.failures ?? [],
    lastUnauthenticatedFailure: s.lastUnauthenticatedFailure ?? null,
    connections: s.connections ?? [],
    lastChildGone: s.lastChildGone ?? null,
    routesMissing: s.routesMissing ?? 0,
    ...(s.pools && s.pools.length > 0 ? { pools: s.pools } : {}),
    ...(s.spdMisses && s.spdMisses.length > 0 ? { spdMisses: s.spdMisses.map(({ at, ...m }) => ({ ...m, ago: ago(s.now, at) })) } : {}),
    icmpReceived: { ...s.icmpReceived },
    ...(s.killSwitch ? { killSwitch: s.killSwitch } : {}),
  };
}

/**
 * Drop reasons that mean "no SA for this packet". Make-before-break (RFC 7296 §2.8: the new SA
 * is installed before the old one goes) means no packet ever finds no SA: these are what a
 * broken one shows.
 */
export const NO_SA_REASONS = ['unknown-spi', 'no-sa', 'no-policy'] as const;

/** SA-missing drops counted since `before` (a status taken once the tunnel was up). */
export function noSaDrops(s: TunnelStatus, before?: TunnelStatus): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [dir, d] of Object.entries(s.drops) as [keyof TunnelStatus['drops'], Record<string, number>][]) {
    for (const r of NO_SA_REASONS) {
      const n = (d[r] ?? 0) - (before?.drops[dir][r] ?? 0);
      if (n > 0) out[`${dir}:${r}`] = n;
    }
  }
  return out;
}

function vipStatus(sa: IkeSaView): Pick<IkeSaStatus, 'vips'> {
  const leased = sa.leasedVips ?? [];
  const own = sa.ownVips;
  if (leased.length === 0 && !own) return {};
  return { vips: { ...(leased.length > 0 ? { leased: [...leased] } : {}), ...(own ? { own: [...own.addresses], dns: [...own.dns], ...(own.subnets?.length ? { subnets: [...own.subnets] } : {}) } : {}) } };
}
