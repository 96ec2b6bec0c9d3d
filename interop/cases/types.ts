// One interop case is data: what each side is configured with and what both sides must
// show afterwards. interop/lab/run-case.ts turns a case + tsvpn's role into a result.
// Algorithm names in expectations are strongSwan's as `swanctl --list-sas` prints them.

import type { KeyType } from '../lab/pki.js';

/** tsvpn's role in the IKE SA. */
export type Role = 'initiator' | 'responder';
/**
 * Identity type both sides use (RFC 7296 §3.5 ID_FQDN, ID_IPV4_ADDR, ID_IPV6_ADDR,
 * ID_RFC822_ADDR, ID_DER_ASN1_DN); 'ipv4' and 'ipv6' are the outer address, so they need an
 * outer path of that family.
 */
export type IdKind = 'fqdn' | 'ipv4' | 'ipv6' | 'email' | 'dn';
/** Failure-map rows (DESIGN.md) a case can expect on tsvpn's side. */
export type Row = 'F1' | 'F2' | 'F3' | 'F4';

export interface AlgExpect {
  encr: string; // e.g. AES_GCM_16, CHACHA20_POLY1305, AES_CBC
  keysize?: number; // e.g. 256 (absent for ChaCha20-Poly1305)
  integ?: string; // e.g. HMAC_SHA2_256_128
  prf?: string; // IKE only, e.g. PRF_HMAC_SHA2_256
  dh?: string; // IKE group, or the Child SA's PFS group
}

export type ByRole<T> = { initiator: T; responder: T };

/** The expectation for `role` (a plain value applies to both roles). */
export function forRole<T extends object>(v: T | ByRole<T> | undefined, role: Role): T | undefined {
  if (v && 'initiator' in v && 'responder' in v) return (v as ByRole<T>)[role];
  return v as T | undefined;
}

export interface TsSpec {
  tsvpnLocal: string[];
  tsvpnRemote: string[];
  ssLocal: string[];
  ssRemote: string[];
  /** What strongSwan's Child SA must show after narrowing (its local/remote view). */
  expectSsLocal: string[];
  expectSsRemote: string[];
}

export interface InteropCase {
  /** Row name in the table / test name, e.g. "psk aes256gcm16-prfsha256-x25519". */
  name: string;
  /** Which roles tsvpn plays in this case (each is one run). */
  roles: Role[];
  /** PSK, or certificates of this key type made with pki at run time. */
  auth: 'psk' | KeyType;
  /** Identity type of both sides (default fqdn). */
  ids?: IdKind;
  ike: { tsvpn: string[]; strongswan?: string[] /* default: the same */ };
  esp: { tsvpn: string[]; strongswan?: string[] };
  /** strongSwan's view of the IKE SA's algorithms (per role when the responder's preference decides). */
  expectIke?: AlgExpect | ByRole<AlgExpect>;
  /** strongSwan's view of the Child SA's algorithms. */
  expectEsp?: AlgExpect | ByRole<AlgExpect>;
  /**
   * After the first checks the Child SA is rekeyed (RFC 7296 §1.3.3) by strongSwan
   * (`swanctl --rekey`) or by tsvpn (child.rekey = 10s); expectEsp is checked on the new SA.
   */
  rekey?: 'strongswan' | 'tsvpn';
  /** Selectors (default: the two inner /32 hosts). */
  ts?: TsSpec;
  mode?: 'tunnel' | 'transport';
  /**
   * Who sits behind the masquerading router (default: nobody, one veth). 'direct-ipv6': one
   * veth with IPv6 outer addresses (2001:db8:100::1 tsvpn, ::2 strongSwan), IKE and ESP over
   * IPv6, the inner addresses and selectors stay IPv4.
   */
  topology?: 'direct' | 'direct-ipv6' | 'tsvpn-behind-nat' | 'strongswan-behind-nat';
  /** What traffic to send (default ping both ways + TCP on port 5201). */
  traffic?: { ping: boolean; tcpPort: number; bytes?: number };
  /** Check NAT-T keepalives from tsvpn at the router (tsvpn-behind-nat). */
  keepalive?: boolean;
  /**
   * After the first checks the IKE SA is rekeyed (RFC 7296 §2.18) by strongSwan
   * (`swanctl --rekey --ike`) or by tsvpn (ike.rekey = 10s); the Child SA must move over.
   */
  ikeRekey?: 'strongswan' | 'tsvpn';
  /**
   * After the first checks the IKE SA is reauthenticated (RFC 7296 §2.8.3), make-before-break:
   * by strongSwan (swanctl.conf reauth_time = 10s, rekey_time = 0, strongswan.conf
   * charon.make_before_break = yes) or by tsvpn (peer.json ike.reauth = 10s). A new IKE SA with a
   * new Child SA must replace the old ones on both sides, with ping running throughout.
   */
  reauth?: 'strongswan' | 'tsvpn';
  /**
   * Rekey timers instead of the defaults. tsvpn: peer.json ike.rekey / child.rekey (else 10s
   * where `ikeRekey`/`rekey` is 'tsvpn', otherwise 4h / 1h). strongSwan: swanctl.conf rekey_time
   * and rand_time, plus over_time and reauth_time for the IKE SA and life_time for the Child SA
   * (else its defaults, or the reauthentication timers where `reauth` is 'strongswan').
   */
  timers?: {
    tsvpn?: { ike?: string; child?: string };
    strongswan?: { ike?: { rekey: string; rand?: string; over?: string; reauth?: string }; child?: { rekey: string; rand?: string; life?: string } };
  };
  /** tsvpn as a gateway: remote.addr and remote.id are %any (responder only, examples/responder-any.json). */
  tsvpnRemoteAny?: boolean;
  /** Something broken on purpose. */
  fault?: 'wrong-psk' | 'wrong-id' | 'no-peer';
  /** tsvpn must report this failure-map row; each pattern must match its lastFailure (JSON). */
  expectFailure?: { row: Row | Row[]; evidence: Partial<Record<Role, RegExp[]>> };
  /** After the checks: take the tunnel down this way and check both sides. */
  teardown?: 'tsvpn-down' | 'swanctl-terminate';
  /** Why a case runs in fewer roles, or a known strongSwan limitation (shown in the README). */
  note?: string;
}
