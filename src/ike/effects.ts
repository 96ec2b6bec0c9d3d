// What an IKE SA asks its caller to do. The state machine never touches a socket, a timer or
// the kernel: it returns these and the daemon applies them (DESIGN.md "No I/O in the protocol").
import type { Endpoint } from './config.js';
import type { NatResult } from './nat.js';

/** Keys for one direction of a Child SA (RFC 7296 §2.17). `integ` is empty for AEAD. */
export interface ChildKeys {
  encr: Uint8Array; // includes the salt for GCM (RFC 4106 §8.1) and ChaCha20-Poly1305 (RFC 7634 §2)
  integ: Uint8Array;
}

export interface ChildSaInfo {
  name: string;
  /** The connection (IkeSaConfig.name) whose IKE SA made it. */
  conn: string;
  spiIn: number; // our SPI: the peer puts it in ESP packets it sends to us
  spiOut: number; // the peer's SPI: we put it in ESP packets we send
  proposal: string; // formatted ESP proposal, e.g. "aes256gcm16-esn"
  encr: { id: number; keyLength?: number };
  integ: number;
  esn: boolean;
  keysIn: ChildKeys;
  keysOut: ChildKeys;
  mode: 'tunnel' | 'transport';
  localTs: string[];
  remoteTs: string[];
  replayWindow?: number;
  local: Endpoint; // outer addresses
  remote: Endpoint;
  encap: boolean; // RFC 3948 UDP encapsulation (NAT detected)
}

/**
 * The keys that protect one IKE SA's messages (RFC 7296 §2.14), for a decryption table: only
 * with IkeSaConfig.exportKeys. The caller writes them where the operator asked and zeroes them.
 */
export interface ExportedIkeKeys {
  spiI: Uint8Array;
  spiR: Uint8Array;
  encr: { id: number; keyLength?: number };
  integ: number; // 0 (NONE) for AEAD
  skEi: Uint8Array;
  skEr: Uint8Array;
  skAi: Uint8Array; // empty for AEAD
  skAr: Uint8Array;
}

export interface PolicyInfo {
  name: string;
  localTs: string[];
  remoteTs: string[];
  spiOut: number;
  spiIn: number;
  mode: 'tunnel' | 'transport';
}

export interface NewPolicyInfo extends PolicyInfo {
  /**
   * Take the traffic at once (the entry goes first). True when we initiated the exchange that
   * made this Child SA (the peer has its inbound SA already) or the peer said it holds no other
   * SAs (INITIAL_CONTACT). False for a Child SA the peer is making while another SA of the same
   * name is in use (its reauthentication, RFC 7296 §2.8.3): until our IKE_AUTH response reaches
   * the peer it has no inbound SA for it, so the entry waits behind the old one until the peer
   * sends on the new SA (the daemon sees it: PolicyOrder.peerSendsOn in src/daemon/policy-order.ts) or deletes the old one.
   */
  active: boolean;
}

/** Failure-map rows (DESIGN.md) the IKE layer can name. */
export type FailureRow = 'F1' | 'F2' | 'F3' | 'F4' | 'F6' | 'F8';

/** What showed that the peer's NAT mapping changed (failure map F8). */
export type MoveNoticedBy = 'esp' | 'ike' | 'mobike'; // mobike: the peer's UPDATE_SA_ADDRESSES (RFC 4555 §3.5)

/** NAT-T keepalives (RFC 3948 §4) as this end runs them: `off` (interval 0), `on`, or not sent because we are not behind a NAT. */
export interface KeepaliveState {
  intervalS: number;
  state: 'on' | 'off' | 'not-needed';
}

/** Evidence of failure-map row F8 (the NAT in front of the peer changed its mapping). */
export interface NatMoveEvidence {
  peer: { from: string; to: string }; // address:port before and after
  noticedBy: MoveNoticedBy;
  nat: NatResult; // the NAT-D results of IKE_SA_INIT (RFC 7296 §2.23)
  keepalive: KeepaliveState;
}

/** The next hop's ARP/NDP entry towards the peer, added to F1 by the daemon (src/io/routes.ts nextHopNeighbour), or why it could not be read. */
export type NeighbourEvidence = { hop: string; dev: string; state: string[] } | { error: string };

/** Evidence of F1 before the last retransmit: no answer yet (`pending`), the final F1 follows if none comes. */
export interface NoAnswerYetEvidence {
  pending: true;
  retransmits: number;
  to: Endpoint;
  from: Endpoint;
  exchange: string;
  nextRetransmitInS: number;
  neighbour?: NeighbourEvidence;
}

/** Evidence of failure-map row F6 (data stops at rekey). Times are seconds from the event. */
export interface RekeyEvidence {
  scope: 'child' | 'ike';
  child?: string; // Child SA name (scope 'child')
  result: 'refused' | 'no-response' | 'invalid-response' | 'expired';
  notify?: string; // the error notify the peer sent, e.g. NO_PROPOSAL_CHOSEN
  lifetimes: { rekeyS?: number; lifeS?: number; expiresInS?: number };
  pfsGroup: string | null; // the KE group the rekey used (null: no PFS / none configured)
  ours?: string[]; // proposals we offered
  oldSpis: string[];
  newSpis: string[];
}

export type AuthCheck =
  | 'id-mismatch'
  | 'psk-mismatch'
  | 'signature'
  | 'certificate-chain'
  | 'ca'
  | 'validity'
  | 'eku'
  | 'peer-rejected' // the peer sent AUTHENTICATION_FAILED
  | 'eap'; // RFC 7296 §2.16: the EAP method failed (wrong password, unknown user) or its MSK-keyed AUTH did not match

/** Evidence of a peer declared dead by liveness checks (failure map F1: no answer; src/ike/connection.ts). */
export interface DeadPeerEvidence {
  dpdRequestsUnanswered: number;
  peer: string; // address:port the checks went to
  lastPacketAgoS: number; // since anything authenticated (IKE or ESP) came from the peer
  dpdAction: 'restart' | 'clear' | 'hold';
}

export type FailureEvent = FailureByRow & {
  /**
   * Set by the dispatcher on failures of a responder SA that never authenticated its peer (one
   * it made for a new IKE_SA_INIT): anyone can cause these, so they are not the connection's
   * failure (counted and logged rate-limited, src/daemon/event-log.ts). `from`: the peer's address.
   */
  unauthenticated?: { from: Endpoint };
};

type FailureByRow =
  | { type: 'failure'; row: 'F1'; message: string; evidence: { retransmits: number; to: Endpoint; from: Endpoint; exchange: string; neighbour?: NeighbourEvidence } }
  | { type: 'failure'; row: 'F1'; message: string; evidence: DeadPeerEvidence }
  | { type: 'failure'; row: 'F1'; message: string; evidence: NoAnswerYetEvidence }
  | {
      type: 'failure';
      row: 'F2';
      message: string;
      evidence: { scope: 'ike' | 'child'; ours: string[]; theirs: string[]; notify?: string; mode?: 'transport' /* we sent USE_TRANSPORT_MODE */ };
    }
  | {
      type: 'failure';
      row: 'F3';
      message: string;
      evidence: { check: AuthCheck; expectedId?: string; receivedId?: string; detail?: string; notify?: string; sent?: SentAuthentication; eap?: EapEvidence };
    }
  | {
      type: 'failure';
      row: 'F4';
      message: string;
      evidence: { child: string; localTs: string[]; remoteTs: string[]; peerTsi?: string[]; peerTsr?: string[]; narrowedLocal?: string[]; narrowedRemote?: string[]; notify?: string; detail?: string };
    }
  | { type: 'failure'; row: 'F6'; message: string; evidence: RekeyEvidence }
  | { type: 'failure'; row: 'F8'; message: string; evidence: NatMoveEvidence };

/** F3 `eap`: the EAP method, the user, and how it ended (never the password). */
export interface EapEvidence {
  method: 'EAP-MSCHAPv2';
  user?: string;
  result: string;
}

/** F3 when the peer refused us: what we showed it (RFC 7296 §2.15), to compare with what it expects. */
export interface SentAuthentication {
  /** Our IDi or IDr, as configured. */
  id: string;
  /** The IDr we asked the responder for (initiator, when the remote ID is a literal one). */
  askedIdr?: string;
  auth: 'psk' | 'pubkey' | 'eap-mschapv2';
  /** Our EAP identity (the user name), with eap-mschapv2. */
  eapId?: string;
  /** Our certificate's subject, subjectAltNames and end (pubkey). */
  cert?: { subject: string; altNames?: string; notAfter: string };
}

/** REKEYED: an old IKE SA whose Child SAs moved to its successor; it waits for the peer's Delete (RFC 7296 §2.18). */
export type IkeState = 'CREATED' | 'CONNECTING' | 'ESTABLISHED' | 'REKEYED' | 'DELETING' | 'DELETED' | 'FAILED';

export type IkeEvent =
  | { type: 'ike-state'; from: IkeState; to: IkeState }
  | { type: 'ike-established'; spiI: string; spiR: string; proposal: string; localId: string; remoteId: string; nat: NatResult; initialContact?: boolean /* the peer sent N(INITIAL_CONTACT) in IKE_AUTH (RFC 7296 §2.4) */ }
  /** reauth_time has come: the daemon authenticates a new IKE SA, then deletes this one (RFC 7296 §2.8.3). */
  | { type: 'reauth-due'; spiI: string; spiR: string }
  | { type: 'virtual-ip'; addresses: string[]; pools: string[]; identity: string } // leased to the peer in IKE_AUTH (src/ike/virtual-ip.ts)
  | { type: 'virtual-ip-received'; addresses: string[]; dns: string[]; subnets: string[] } // the responder gave us these in IKE_AUTH (before the Child SA's effects)
  | { type: 'config-selected'; name: string; why: string } // a responder chose among several connections (src/ike/select-config.ts)
  | { type: 'eap'; method: 'EAP-MSCHAPv2'; user: string; result: 'success' } // EAP in IKE_AUTH succeeded (RFC 7296 §2.16, src/ike/tasks/eap-auth.ts)
  | { type: 'ike-deleted'; reason: 'local' | 'peer' | 'dead-peer' | 'half-open-timeout' | 'failed' | 'rekeyed' | 'expired' }
  /**
   * `narrowed`: the selectors are a subset of what was proposed (RFC 7296 §2.9); `proposed` (the
   * initiator's own selectors, when the peer narrowed them) says from what. Accepted, like strongSwan.
   */
  | { type: 'child-installed'; name: string; spiIn: string; spiOut: string; proposal: string; localTs: string[]; remoteTs: string[]; narrowed: boolean; proposed?: { localTs: string[]; remoteTs: string[] } }
  | { type: 'child-deleted'; name: string; spiIn: string; spiOut: string; reason: 'local' | 'peer' | 'ike-deleted' | 'rekeyed' | 'redundant' | 'expired' }
  | { type: 'child-rekeyed'; name: string; oldSpiIn: string; oldSpiOut: string; newSpiIn: string; newSpiOut: string; pfsGroup: string | null }
  | { type: 'ike-rekeyed'; oldSpi: string; newSpi: string; spiI: string; spiR: string } // SPIs in hex: ours old/new, and the new SA's pair
  | { type: 'rekey-collision'; scope: 'child' | 'ike'; won: boolean } // RFC 7296 §2.8.1: both ends rekeyed at once
  | { type: 'retransmit'; exchange: string; messageId: number; attempt: number; to: Endpoint }
  /**
   * The peer, behind a NAT, now sends from `to` (its NAT mapping changed), seen on an
   * authenticated IKE message or ESP packet (`via`): IKE and the Child SAs' ESP follow it (RFC 7296 §2.23).
   */
  | { type: 'peer-moved'; from: Endpoint; to: Endpoint; via: MoveNoticedBy; nat: NatResult }
  /** Our own address moved from `from` to `to` and the peer acknowledged it (RFC 4555 §3.5); `nat`: NAT-D of the new path (§3.9). */
  | { type: 'local-moved'; from: Endpoint; to: Endpoint; remote: Endpoint; nat: NatResult }
  /** The peer answered our liveness check, or did not after `requests` tries to `to` (RFC 7296 §2.4). */
  | { type: 'liveness'; ok: boolean; requests?: number; to?: Endpoint }
  /** A path MTU probe (tasks/mtu-probe.ts) was answered: the IKE message lengths sent, and the last one sent before the answer. */
  | { type: 'mtu-probe'; sent: number[]; answered: number }
  | { type: 'invalid-ke'; requested: number } // the peer asked for another DH group (RFC 7296 §1.2)
  | { type: 'cookie-requested' } // the responder demanded a COOKIE (RFC 7296 §2.6)
  | { type: 'notify'; exchange: string; notify: string } // an error notify that needs no row
  | FailureEvent;

/**
 * Make-before-break rekeying of a Child SA (RFC 7296 §1.3.3, §2.8), in this order:
 *  1. `install-sa` of the new SA with `rekeys` naming the old one: add its inbound SA (and its
 *     outbound SA), but leave the policy and routes on the old SA. Both inbound SAs now accept.
 *  2. `switch-outbound` from the old SA to the new one: move the policy (SPD entry, routes)
 *     to the new SA; traffic leaves on the new SPI from here on. The rekey initiator emits it
 *     right after (1); the responder only when the old SA's Delete arrives, because the
 *     initiator cannot decrypt the new SPI before it has our response.
 *  3. `remove-sa` of the old SA (no `remove-policy`: the policy moved in step 2), after the Delete
 *     exchange for it: on the Delete response (initiator) or the Delete request (responder).
 *     Until then the old inbound SA keeps accepting packets already in flight.
 * A redundant SA of a collision (§2.8.1) is installed (1) and later removed (3) without (2).
 * `remove-policy` is only emitted for the SA that currently owns the policy. If the peer deleted
 * the old SA (remove-policy + remove-sa) before its rekey answer reached us, the new SA gets an
 * `install-policy` instead of (2).
 * The IKE layer finds Child SAs by either SPI; for byte, packet and sequence-number limits the
 * daemon calls IkeSa.childUsage() (or rekeyChild()); time limits run from pollTimeout/handleTimeout.
 */
export interface SwitchOutbound {
  type: 'switch-outbound';
  name: string;
  spiIn: number; // the new SA
  spiOut: number;
  from: { spiIn: number; spiOut: number }; // the SA that owned the policy until now
}

export type Effect =
  | { type: 'send'; bytes: Uint8Array; to: Endpoint; from: Endpoint } // on port 4500 the io layer adds the non-ESP marker (RFC 3948 §2.2)
  | { type: 'install-sa'; child: ChildSaInfo; rekeys?: { spiIn: number; spiOut: number } }
  | SwitchOutbound
  | { type: 'remove-sa'; name: string; spiIn: number; spiOut: number }
  | { type: 'install-policy'; policy: NewPolicyInfo }
  | { type: 'remove-policy'; policy: PolicyInfo }
  | { type: 'export-keys'; keys: ExportedIkeKeys } // only with IkeSaConfig.exportKeys; the daemon writes and zeroes them
  | { type: 'event'; event: IkeEvent; conn?: string /* the connection (IkeSaConfig.name) of the SA it came from; the dispatcher sets it */ };

export const event = (e: IkeEvent): Effect => ({ type: 'event', event: e });
