// What an IKE SA asks its caller to do. The state machine never touches a socket, a timer or
// the kernel: it returns these and the daemon applies them (DESIGN.md "No I/O in the protocol").
import type { Endpoint } from './config.js';

/** Keys for one direction of a Child SA (RFC 7296 §2.17). `integ` is empty for AEAD. */
export interface ChildKeys {
  encr: Uint8Array; // includes the salt for GCM (RFC 4106 §8.1) and ChaCha20-Poly1305 (RFC 7634 §2)
  integ: Uint8Array;
}

export interface ChildSaInfo {
  name: string;
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

export interface PolicyInfo {
  name: string;
  localTs: string[];
  remoteTs: string[];
  spiOut: number;
  spiIn: number;
  mode: 'tunnel' | 'transport';
}

/** Failure-map rows (DESIGN.md) the IKE layer can name. */
export type FailureRow = 'F1' | 'F2' | 'F3' | 'F4';

export type AuthCheck =
  | 'id-mismatch'
  | 'psk-mismatch'
  | 'signature'
  | 'certificate-chain'
  | 'ca'
  | 'validity'
  | 'eku'
  | 'peer-rejected'; // the peer sent AUTHENTICATION_FAILED

export type FailureEvent =
  | { type: 'failure'; row: 'F1'; message: string; evidence: { retransmits: number; to: Endpoint; from: Endpoint; exchange: string } }
  | {
      type: 'failure';
      row: 'F2';
      message: string;
      evidence: { scope: 'ike' | 'child'; ours: string[]; theirs: string[]; notify?: string };
    }
  | {
      type: 'failure';
      row: 'F3';
      message: string;
      evidence: { check: AuthCheck; expectedId?: string; receivedId?: string; detail?: string; notify?: string };
    }
  | {
      type: 'failure';
      row: 'F4';
      message: string;
      evidence: { child: string; localTs: string[]; remoteTs: string[]; peerTsi?: string[]; peerTsr?: string[]; narrowedLocal?: string[]; narrowedRemote?: string[]; notify?: string };
    };

export type IkeState = 'CREATED' | 'CONNECTING' | 'ESTABLISHED' | 'DELETING' | 'DELETED' | 'FAILED';

export type IkeEvent =
  | { type: 'ike-state'; from: IkeState; to: IkeState }
  | { type: 'ike-established'; spiI: string; spiR: string; proposal: string; localId: string; remoteId: string; nat: { local: boolean; remote: boolean } }
  | { type: 'ike-deleted'; reason: 'local' | 'peer' | 'dead-peer' | 'half-open-timeout' | 'failed' }
  | { type: 'child-installed'; name: string; spiIn: string; spiOut: string; proposal: string; localTs: string[]; remoteTs: string[]; narrowed: boolean }
  | { type: 'child-deleted'; name: string; spiIn: string; spiOut: string; reason: 'local' | 'peer' | 'ike-deleted' }
  | { type: 'retransmit'; exchange: string; messageId: number; attempt: number; to: Endpoint }
  | { type: 'liveness'; ok: boolean }
  | { type: 'invalid-ke'; requested: number } // the peer asked for another DH group (RFC 7296 §1.2)
  | { type: 'cookie-requested' } // the responder demanded a COOKIE (RFC 7296 §2.6)
  | { type: 'notify'; exchange: string; notify: string } // an error notify that needs no row
  | FailureEvent;

export type Effect =
  | { type: 'send'; bytes: Uint8Array; to: Endpoint; from: Endpoint } // on port 4500 the io layer adds the non-ESP marker (RFC 3948 §2.2)
  | { type: 'install-sa'; child: ChildSaInfo }
  | { type: 'remove-sa'; name: string; spiIn: number; spiOut: number }
  | { type: 'install-policy'; policy: PolicyInfo }
  | { type: 'remove-policy'; policy: PolicyInfo }
  | { type: 'event'; event: IkeEvent };

export const event = (e: IkeEvent): Effect => ({ type: 'event', event: e });

/** Hex of an SPI for events and status. */
export function spiHex(spi: Uint8Array | number): string {
  if (typeof spi === 'number') return spi.toString(16).padStart(8, '0');
  return Array.from(spi, (b) => b.toString(16).padStart(2, '0')).join('');
}
