// The state one IKE SA's tasks share: SPIs, nonces, negotiated algorithms, keys, the
// IKE_SA_INIT messages that AUTH signs, the IKE SA's lifetimes and the Child SAs. Tasks
// (tasks/*.ts) read and update it and keep their own in-flight state; the IkeSa class
// (ike-sa.ts) owns it and applies what the tasks return (task.ts TaskResult).
import type { NatResult } from './nat.js';
import { DEFAULT_NONCE_LENGTH, type Endpoint, type IkeSaConfig } from './config.js';
import type { Lease } from './address-pool.js';
import type { Lifetime } from './lifetimes.js';
import type { IdPayload, Payload, Proposal, TrafficSelector } from '../wire/types.js';
import type { MsChapV2Server } from './auth/eap-mschapv2.js';
import type { HeaderFields } from '../wire/message.js';
import { IKE_MAJOR_VERSION, IKE_MINOR_VERSION } from '../wire/constants.js';
import { zero } from '../crypto/bytes.js';

import type { SkCipher } from '../crypto/sk.js';
export type { SkCipher };

export interface KeyExchangeLike {
  group: number;
  publicKey: Uint8Array;
  computeSharedSecret(peer: Uint8Array): Uint8Array;
  dispose(): void;
}

/** IKE SA keys as this SA uses them (RFC 7296 §2.14). */
export interface SaKeys {
  prfId: number;
  skD: Uint8Array;
  skPi: Uint8Array;
  skPr: Uint8Array;
  out: SkCipher; // protects what we send
  in: SkCipher; // opens what we receive
}

/** REKEYED: replaced by a newer SA (make-before-break), kept until its Delete exchange (RFC 7296 §1.3.3). */
export type ChildState = 'INSTALLING' | 'INSTALLED' | 'REKEYED' | 'DELETING' | 'DELETED' | 'FAILED';

export interface ChildSa {
  name: string;
  state: ChildState;
  spiIn: number;
  spiOut: number;
  proposal: string;
  mode: 'tunnel' | 'transport';
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  // Lifetimes and rekeying (src/ike/lifetimes.ts, tasks/child-rekey.ts); times in ms on the caller's clock
  installedAt?: number;
  rekeyAt?: number; // soft lifetime: start a rekey
  expireAt?: number; // hard lifetime: delete
  lifetimePlanned?: boolean;
  rekeys?: number; // how many rekeys led to this SA
  dhGroup?: number; // the KE group of the exchange that made it (0 = none)
  rekeying?: boolean; // our CREATE_CHILD_SA for it is queued or in flight
  ownsPolicy?: boolean; // false until `switch-outbound` made it the SA the policy uses (absent = true)
  replaces?: { spiIn: number; spiOut: number }; // the SA whose policy it takes over at switch-outbound
  replacedBy?: number; // REKEYED: our SPI of the SA that replaces it
  redundant?: boolean; // the losing SA of a rekey collision (RFC 7296 §2.8.1), to be deleted
}

export interface IkeStats {
  malformed: number; // undecodable, or payloads the exchange does not allow
  integrityFailed: number; // bad ICV or padding in SK
  unknownSpi: number;
  unprotected: number; // a message that must be encrypted arrived in the clear
  invalidMessageId: number; // request outside the window, or a response to nothing we sent
  retransmitsSent: number;
  retransmitsReceived: number; // retransmitted requests answered from the response cache
  duplicateResponses: number; // more answers to the request just answered (to its retransmissions, or the MTU probe's copies)
  internalErrors: number; // a bug: an exception that is not a typed error; the message was dropped
}

export const newStats = (): IkeStats => ({
  malformed: 0,
  integrityFailed: 0,
  unknownSpi: 0,
  unprotected: 0,
  invalidMessageId: 0,
  retransmitsSent: 0,
  retransmitsReceived: 0,
  duplicateResponses: 0,
  internalErrors: 0,
});

export interface SaContext {
  cfg: IkeSaConfig;
  /**
   * Responder of a gateway: the connections configured for the path this SA came on, best
   * address match first; IKE_SA_INIT and IKE_AUTH narrow them down to one (select-config.ts).
   */
  candidates?: IkeSaConfig[];
  role: 'initiator' | 'responder';
  spiI: Uint8Array;
  spiR: Uint8Array;
  local: Endpoint; // current path; floats to 4500 with NAT-T (RFC 7296 §2.23)
  remote: Endpoint;
  ni?: Uint8Array;
  nr?: Uint8Array;
  ke?: KeyExchangeLike;
  chosen?: Proposal; // the IKE proposal in force
  chosenText?: string;
  keys?: SaKeys;
  initRequest?: Uint8Array; // RFC 7296 §2.15: RealMessage1, as sent/received
  initResponse?: Uint8Array; // RealMessage2
  cookie?: Uint8Array;
  cookieRetries: number;
  invalidKeRetries: number;
  nat?: NatResult; // RFC 7296 §2.23, from IKE_SA_INIT (ike/nat.ts)
  peerHashes?: number[]; // RFC 7427 §4 SIGNATURE_HASH_ALGORITHMS from the peer
  peerCertReq: boolean;
  remoteIdText?: string; // the peer's proven identity
  peerInitialContact?: boolean; // responder: IKE_AUTH carried N(INITIAL_CONTACT) (RFC 7296 §2.4)
  /** RFC 4555 §3.2: both ends sent MOBIKE_SUPPORTED in IKE_AUTH (tasks/mobike.ts). */
  mobike?: boolean;
  children: ChildSa[];
  /** Virtual IPs leased to the peer (a gateway's pools, src/ike/virtual-ip.ts), released when the SA ends. */
  leases?: Lease[];
  /** Initiator: the virtual IPs the responder gave us in CP(CFG_REPLY), its DNS servers and the subnets it announced (CIDR). */
  ownVips?: { addresses: string[]; dns: string[]; subnets: string[] };
  /** Responder: the EAP exchange of an IKE_AUTH in progress (RFC 7296 §2.16, tasks/eap-auth.ts). */
  eap?: EapResponderState;
  /** The IKE SA's soft and hard lifetimes once established (lifetimes.ts). */
  life?: Lifetime;
  now: number; // the caller's clock at the message being handled, in ms
}

/** A gateway's side of EAP in IKE_AUTH, kept from the first request until the last. */
export interface EapResponderState {
  server: MsChapV2Server;
  /** RFC 7296 §2.16: the initiator's AUTH covers the IDi of its first IKE_AUTH request. */
  idi: IdPayload;
  /** The first request's SA, TSi, TSr and CP: the Child SA and virtual IP come with the last exchange. */
  request: Payload[];
  /** The method refused the peer (F3 reported); only its end is to come. */
  rejected?: boolean;
  /** EAP succeeded: the MSK that keys both AUTH payloads, and the user it proved. */
  msk?: Uint8Array;
  user?: string;
}

/** Header fields for a message of this SA (RFC 7296 §3.1: I flag set by the original initiator). */
export function header(ctx: SaContext, exchangeType: number, messageId: number, response: boolean): HeaderFields {
  return {
    spiI: ctx.spiI,
    spiR: ctx.spiR,
    majorVersion: IKE_MAJOR_VERSION,
    minorVersion: IKE_MINOR_VERSION,
    exchangeType,
    flags: { initiator: ctx.role === 'initiator', version: false, response },
    messageId,
  };
}

/** Zero the IKE SA's key material (SK_d, SK_p*, the SK ciphers and the DH private key); tasks dispose their own. */
export function disposeKeys(ctx: SaContext): void {
  if (ctx.keys) {
    zero(ctx.keys.skD, ctx.keys.skPi, ctx.keys.skPr);
    ctx.keys.out.dispose();
    ctx.keys.in.dispose();
    ctx.keys = undefined;
  }
  ctx.ke?.dispose();
  ctx.ke = undefined;
  if (ctx.eap) {
    ctx.eap.server.dispose();
    ctx.eap.msk?.fill(0);
    ctx.eap = undefined;
  }
}

/** A fresh nonce of this SA's length (RFC 7296 §2.10). */
export const newNonce = (ctx: SaContext): Uint8Array => ctx.cfg.random(ctx.cfg.nonceLength ?? DEFAULT_NONCE_LENGTH);

/** Zero one set of IKE SA keys. */
export function disposeSaKeys(k: SaKeys): void {
  zero(k.skD, k.skPi, k.skPr);
  k.out.dispose();
  k.in.dispose();
}

/** RFC 7296 §2.8.1: nonces compare as octet strings; a shorter prefix sorts first. */
export function compareNonces(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** The lower of an exchange's two nonces (the one §2.8.1 compares). */
export const lowerNonce = (ni: Uint8Array, nr: Uint8Array): Uint8Array => (compareNonces(ni, nr) <= 0 ? ni : nr);

/** A random 4-byte ESP SPI outside the reserved 0..255 (RFC 4303 §2.1). */
export function randomEspSpi(random: (n: number) => Uint8Array): number {
  for (;;) {
    const b = random(4);
    const v = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    if (v > 255) return v;
  }
}

/** A random non-zero 8-byte IKE SPI (RFC 7296 §3.1: zero only for the unknown responder SPI). */
export function randomIkeSpi(random: (n: number) => Uint8Array): Uint8Array {
  for (;;) {
    const b = random(8);
    if (b.some((x) => x !== 0)) return b;
  }
}

