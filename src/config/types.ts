// The resolved peer.json: one tunnel, every string already parsed (selectors, proposals,
// durations in seconds), secrets and certificates already read. The shape of the file
// itself is schema/peer.schema.json; docs/peer-json.md lists each field and its default.
import type { Proposal, TrafficSelector } from '../wire/types.js';
import type { LocalAuth, RemoteAuth, RetransmitConfig } from '../ike/config.js';

export interface PeerConfig {
  /** /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/ (control socket /run/tsvpn/<name>.sock) */
  name: string;
  local: { addr: string; port: number; id: string; auth: LocalAuth; ts: TrafficSelector[]; tsText: string[]; /** families of the virtual IPs to ask for (`vips`); absent = none */ vips?: (4 | 6)[] };
  remote: { addr: string /* IP or '%any' */; port: number; id: string /* may be '%any' */; auth: RemoteAuth; ts: TrafficSelector[]; tsText: string[] };
  ike: { proposals: Proposal[]; proposalText: string[]; rekeyS: number; lifeS?: number; randS?: number; reauthS: number; dpdS: number };
  child: { name: string; proposals: Proposal[]; proposalText: string[]; mode: 'tunnel' | 'transport'; rekeyS: number; lifeS?: number; randS?: number; replayWindow: number };
  // lifeS/randS absent = swanctl's defaults (life_time = rekey_time * 1.1, rand_time = life - rekey)
  start: 'initiate' | 'wait';
  /** default name `tsvpn-<name>` cut to 15 bytes; mtu undefined = derive from the outer path */
  tun: { name: string; mtu?: number };
  /** 'udp' forces RFC 3948 UDP encapsulation */
  encap: 'auto' | 'udp';
  /** default false */
  mssClamp: boolean;
  /** NAT-T keepalive interval in seconds (RFC 3948 §4), default 20 */
  keepaliveS: number;
  /** default 'restart' */
  dpdAction: 'restart' | 'clear' | 'hold';
  /** RFC 4555 MOBIKE offered and accepted (swanctl `mobike`), default true */
  mobike: boolean;
  /** client only (`killSwitch`): nothing leaves outside the TUN but IKE and ESP to the gateway (io/kill-switch.ts); absent = off */
  killSwitch?: { allowLan: boolean };
  /** client with vips only: the names the gateway's DNS servers answer for, lower case, no trailing dot; absent = none */
  dnsDomains?: string[];
  /** default DEFAULT_RETRANSMIT */
  retransmit: RetransmitConfig;
  /** a gateway connection's `pools` (names in GatewayConfig.pools), in order; absent = none */
  pools?: string[];
}

/** An address pool of a gateway file (swanctl `pools.<name>`): virtual IPs for remote-access peers (src/ike/address-pool.ts). */
export interface PoolConfig {
  /** canonical text of `addrs`: 10.3.0.0/24 or 10.3.0.10-10.3.0.99 */
  addrs: string;
  /** the addresses as an address range (ipProtocol 0, every port) */
  range: TrafficSelector;
  /** DNS servers handed out with an address (canonical IP text), default none */
  dns: string[];
  /** Networks announced with an address (INTERNAL_IP4/6_SUBNET, canonical CIDR), default none: a client whose remote.ts leaves the choice to the gateway routes only these */
  subnets: string[];
}

/**
 * What `tsvpn up <file>` runs: a file with `connections` (swanctl.conf's shape, one daemon
 * for every peer), or a single peer.json, which is a gateway with one connection.
 */
export interface GatewayConfig {
  /** The control socket's name (/run/tsvpn/<name>.sock): peer.json's `name`, or the connections file's. */
  name: string;
  /** In file order; each has its own `name` (the key in `connections`). They share one TUN (`tun` is the same in each). */
  connections: PeerConfig[];
  /** `pools` by name (empty for a peer.json); connections name theirs in PeerConfig.pools. */
  pools: Record<string, PoolConfig>;
  /** What is allowed but unwise (src/config/file-safety.ts): secrets others can read, short PSKs. Said at start. */
  warnings?: ConfigProblem[];
}

/** A single peer.json is a gateway with one connection of the same name. */
export function asGateway(c: PeerConfig | GatewayConfig): GatewayConfig {
  return 'connections' in c ? c : { name: c.name, connections: [c], pools: {} };
}

/** One thing wrong with a peer.json or gateway file: the JSON pointer of the field and what was wanted there. */
export interface ConfigProblem {
  path: string;
  expected: string;
}

/** The address that stands for "whoever connects" (swanctl `%any`). */
export const ANY = '%any';

/** Defaults for what an operator may leave out (swanctl's where one exists). */
export const DEFAULTS = {
  port: 500, // RFC 7296 §2: IKE uses UDP port 500
  ikeRekey: '4h', // swanctl connections.<conn>.rekey_time
  dpd: '30s', // swanctl connections.<conn>.dpd_delay is 0 (off); tsvpn checks liveness by default
  childRekey: '1h', // swanctl children.<child>.rekey_time
  mode: 'tunnel' as const,
  replayWindow: 1024, // tsvpn's choice; strongSwan's charon.replay_window is 32
  start: 'initiate' as const,
  encap: 'auto' as const,
  keepalive: '20s', // strongSwan's charon.keep_alive
  dpdAction: 'restart' as const,
  mobike: true, // swanctl connections.<conn>.mobike = yes
};
