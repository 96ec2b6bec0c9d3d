// Typed records for IKEv2 messages (RFC 7296 §3). Decoders in this folder return these;
// encoders take them. Byte fields are Uint8Array; numbers are host integers.
// Every payload record carries `kind` (the discriminant) and `critical` (§2.5 bit).

export interface IkeHeader {
  spiI: Uint8Array; // 8 bytes, RFC 7296 §3.1
  spiR: Uint8Array; // 8 bytes, zero in the first IKE_SA_INIT request
  nextPayload: number;
  majorVersion: number;
  minorVersion: number;
  exchangeType: number;
  flags: { initiator: boolean; version: boolean; response: boolean };
  messageId: number;
  length: number; // total message length; filled in by the encoder
}

export interface Transform {
  type: number; // TransformType
  id: number;
  keyLength?: number; // RFC 7296 §3.3.5 Key Length attribute, in bits
  /** Attributes other than Key Length, kept so a proposal can be refused for them (§3.3.6). */
  otherAttributes?: TransformAttribute[];
}

/** RFC 7296 §3.3.5 data attribute: TV form (`tv`, 2-byte value) or TLV form. */
export interface TransformAttribute {
  type: number;
  tv: boolean;
  value: Uint8Array;
}

export interface Proposal {
  number: number; // 1-based, §3.3.1
  protocol: number; // ProtocolId
  spi: Uint8Array; // empty in IKE_SA_INIT, 4 bytes for ESP/AH, 8 for an IKE rekey
  transforms: Transform[];
}

export interface TrafficSelector {
  tsType: number; // TsType: 7 (IPv4) or 8 (IPv6)
  ipProtocol: number; // 0 = any
  startPort: number;
  endPort: number;
  startAddr: Uint8Array; // 4 or 16 bytes
  endAddr: Uint8Array;
}

export interface CfgAttribute {
  type: number;
  value: Uint8Array;
}

interface Base {
  critical: boolean;
}

export interface SaPayload extends Base { kind: 'SA'; proposals: Proposal[] }
export interface KePayload extends Base { kind: 'KE'; group: number; data: Uint8Array }
export interface IdPayload extends Base { kind: 'IDi' | 'IDr'; idType: number; data: Uint8Array }
export interface CertPayload extends Base { kind: 'CERT'; encoding: number; data: Uint8Array }
export interface CertReqPayload extends Base { kind: 'CERTREQ'; encoding: number; data: Uint8Array }
export interface AuthPayload extends Base { kind: 'AUTH'; method: number; data: Uint8Array }
export interface NoncePayload extends Base { kind: 'NONCE'; data: Uint8Array }
export interface NotifyPayload extends Base {
  kind: 'N';
  protocol: number; // ProtocolId, 0 when no SPI
  spi: Uint8Array;
  notifyType: number;
  data: Uint8Array;
}
export interface DeletePayload extends Base { kind: 'D'; protocol: number; spiSize: number; spis: Uint8Array[] }
export interface VendorPayload extends Base { kind: 'V'; data: Uint8Array }
export interface TsPayload extends Base { kind: 'TSi' | 'TSr'; selectors: TrafficSelector[] }
export interface CpPayload extends Base { kind: 'CP'; cfgType: number; attributes: CfgAttribute[] }
export interface EapPayload extends Base { kind: 'EAP'; data: Uint8Array } // opaque, RFC 7296 §3.16
/**
 * RFC 7296 §3.14 Encrypted payload, still sealed. `firstInner` is the payload type of the
 * first inner payload (the generic header's Next Payload); `body` is IV | ciphertext | ICV;
 * `aad` is the message from its first byte through the end of the SK generic header
 * (RFC 5282 §5.1 associated data; for ENCR+INTEG the ICV covers aad | body-without-ICV).
 */
export interface SkPayload extends Base { kind: 'SK'; firstInner: number; body: Uint8Array; aad: Uint8Array }
/** A payload type this implementation does not know, kept so it can be skipped or refused (§2.5). */
export interface UnknownPayload extends Base { kind: 'UNKNOWN'; payloadType: number; data: Uint8Array }

export type Payload =
  | SaPayload
  | KePayload
  | IdPayload
  | CertPayload
  | CertReqPayload
  | AuthPayload
  | NoncePayload
  | NotifyPayload
  | DeletePayload
  | VendorPayload
  | TsPayload
  | CpPayload
  | EapPayload
  | SkPayload
  | UnknownPayload;

export type PayloadKind = Payload['kind'];

export interface IkeMessage {
  header: IkeHeader;
  payloads: Payload[];
}
