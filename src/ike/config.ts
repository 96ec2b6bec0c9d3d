// The resolved configuration one IKE SA needs. Everything here is already parsed (proposal
// strings -> Proposal records, selector strings -> TrafficSelector records); the JSON file
// and its schema live in the daemon. Field names follow swanctl.conf where one exists
// (connections.<conn>.local_addrs/remote_addrs, proposals, local.id, remote.id, local.auth,
// children.<child>.esp_proposals/local_ts/remote_ts/mode) and strongswan.conf for timers.
import type { KeyObject } from 'node:crypto';
import type { Proposal, TrafficSelector } from '../wire/types.js';
import type { KeyExchange } from '../crypto/ke/types.js';
import type { AddressPool } from './address-pool.js';
import type { Crl } from './auth/crl.js';

/** An IP address (dotted quad or IPv6 text) and a UDP port. */
export interface Endpoint {
  addr: string;
  port: number;
}

/** swanctl `local.auth`: what we prove ourselves with. Secrets: never logged, zeroed by `disposeConfig`. */
export type LocalAuth =
  | { method: 'psk'; psk: Uint8Array }
  | { method: 'pubkey'; key: KeyObject; certChain: Uint8Array[] /* DER, leaf first */ };

/** swanctl `remote.auth`: what we require from the peer. */
export type RemoteAuth = { method: 'psk' } | { method: 'pubkey'; trustAnchors: Uint8Array[] /* DER */; crls?: Crl[] /* remote.crls */ };

/** swanctl `children.<name>`. */
export interface ChildConfig {
  name: string;
  espProposals: Proposal[]; // `esp_proposals`, protocol ESP, SPI filled in per exchange
  localTs: TrafficSelector[]; // `local_ts`
  remoteTs: TrafficSelector[]; // `remote_ts`
  mode: 'tunnel' | 'transport'; // `mode`
  replayWindow?: number; // `replay_window`, packets
  // Lifetimes (src/ike/lifetimes.ts), swanctl.conf names; absent = strongSwan's defaults
  rekeyTime?: number; // `rekey_time`, seconds (default 3600; 0 = never rekey)
  lifeTime?: number; // `life_time`, seconds (default rekeyTime * 1.1); the SA is deleted then
  randTime?: number; // `rand_time`, seconds of jitter subtracted from rekeyTime (default lifeTime - rekeyTime)
  rekeyBytes?: number; // `rekey_bytes` (see IkeSa.childUsage)
  rekeyPackets?: number; // `rekey_packets`
}

/**
 * strongswan.conf `charon.retransmit_timeout`, `retransmit_base`, `retransmit_tries`:
 * retransmit n (0-based) waits timeout * base^n seconds; after `tries` retransmits and one
 * more wait the exchange has failed (RFC 7296 §2.1 leaves the policy to the implementation).
 */
export interface RetransmitConfig {
  timeout: number; // seconds
  base: number;
  tries: number;
}

// strongSwan's defaults (conf/options/charon.opt: retransmit_timeout 4.0, base 1.8, tries 5)
export const DEFAULT_RETRANSMIT: RetransmitConfig = { timeout: 4, base: 1.8, tries: 5 };
// strongSwan's `charon.half_open_timeout` default: a responder drops a half-open SA after 30 s
export const DEFAULT_HALF_OPEN_TIMEOUT_S = 30;
// Implementation choice within RFC 7296 §2.10 (at least 16 octets and half the PRF key size)
export const DEFAULT_NONCE_LENGTH = 32;
// Implementation choices: how often an initiator follows a COOKIE (RFC 7296 §2.6) or an
// INVALID_KE_PAYLOAD (§1.2) before it gives up
export const MAX_COOKIE_RETRIES = 3;
export const MAX_INVALID_KE_RETRIES = 3;

export interface IkeSaConfig {
  name: string; // connection name, for events
  local: Endpoint; // `local_addrs` + `local_port`
  remote: Endpoint; // `remote_addrs` + `remote_port`
  proposals: Proposal[]; // IKE proposals, protocol IKE
  localId: string; // `local.id`, text form (parseIdentity)
  remoteId?: string; // `remote.id`; absent or '%any' accepts any identity the peer proves
  /** `remote_addrs = %any`: the connection serves any peer address (`remote` is the one this SA talks to). */
  remoteAddrAny?: boolean;
  localAuth: LocalAuth;
  remoteAuth: RemoteAuth;
  children: ChildConfig[];
  retransmit: RetransmitConfig;
  /** Injectable randomness (SPIs, nonces, IVs, cookies): tests pass a seeded generator. */
  random: (n: number) => Uint8Array;
  /** Key exchange factory; default createKeyExchange. Tests inject one to replay captured exchanges. */
  keyExchange?: (group: number) => KeyExchange;
  /** Nonce length in bytes, RFC 7296 §2.10: at least 16 and at least half the PRF key size. */
  nonceLength?: number;
  /** Clock for certificate validity checks, in ms since the epoch (the SA never reads the clock). */
  wallClock?: () => number;
  /** Send N(INITIAL_CONTACT) in IKE_AUTH (RFC 7296 §2.4). */
  initialContact?: boolean;
  /** RFC 4555: send N(MOBIKE_SUPPORTED) in IKE_AUTH and accept UPDATE_SA_ADDRESSES (swanctl `mobike`). */
  mobike?: boolean;
  /** IKE SA `rekey_time` in seconds (default 4 h; 0 = never rekey), see src/ike/lifetimes.ts. */
  rekeyTime?: number;
  /** IKE SA hard lifetime in seconds (default rekeyTime * 1.1); the IKE SA is deleted then. */
  lifeTime?: number;
  /** Jitter subtracted from rekeyTime, seconds (default lifeTime - rekeyTime). */
  randTime?: number;
  /**
   * `reauth_time` in seconds (0 or absent = never): a new IKE SA is authenticated afresh before
   * this one is deleted (RFC 7296 §2.8.3; strongSwan make_before_break). The IKE SA only says
   * when (event `reauth-due`); the daemon creates the new SA. IKE SA rekeys keep the deadline.
   */
  reauthTime?: number;
  /**
   * `tsvpn up --save-keys`: each time this SA derives IKE SA keys (IKE_SA_INIT, IKE SA rekey) it
   * returns an `export-keys` effect with copies of SK_e* and SK_a*, for Wireshark (docs/wireshark.md).
   * Off by default: without it the keys never leave the SK ciphers.
   */
  exportKeys?: boolean;
  /**
   * A gateway's address pools for this connection (swanctl `pools`), shared by all its SAs: a
   * peer that asks for a virtual IP in IKE_AUTH gets one (src/ike/virtual-ip.ts).
   */
  pools?: AddressPool[];
  /** swanctl `vips = 0.0.0.0` / `::`: ask the responder for a virtual IP of each family in IKE_AUTH (RFC 7296 §2.19). */
  requestVips?: (4 | 6)[];
}

/** The defaults an operator does not have to write. */
export function withDefaults(
  c: Omit<IkeSaConfig, 'retransmit' | 'children'> & Partial<Pick<IkeSaConfig, 'retransmit' | 'children'>>,
): IkeSaConfig {
  return { ...c, retransmit: c.retransmit ?? DEFAULT_RETRANSMIT, children: c.children ?? [] };
}

/** True when `remoteId` lets any proven identity through (swanctl `%any`). */
export function acceptsAnyId(c: IkeSaConfig): boolean {
  return c.remoteId === undefined || c.remoteId === '%any' || c.remoteId === '';
}

/** Zero the secrets this configuration holds (the PSK). KeyObjects cannot be zeroed from JS. */
export function disposeConfig(c: IkeSaConfig): void {
  if (c.localAuth.method === 'psk') c.localAuth.psk.fill(0);
}
