// The flat payloads: KE, IDi/IDr, CERT, CERTREQ, AUTH, Nonce, Vendor ID, EAP (RFC 7296 §3.4–3.9,
// §3.12, §3.16). Each body is a few fixed fields followed by opaque data.

import { IdType } from '../constants.js';
import { WireError } from '../errors.js';
import type { Reader } from '../reader.js';
import type { Builder } from '../builder.js';

// RFC 7296 §3.4 Key Exchange payload body
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   Diffie-Hellman Group Num    |           RESERVED            |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                       Key Exchange Data                       ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// (the data length for the group is checked by the crypto layer: INVALID_SYNTAX, §3.4)
export function decodeKe(r: Reader): { group: number; data: Uint8Array } {
  const group = r.u16();
  r.skip(2);
  return { group, data: r.rest() };
}
export function encodeKe(b: Builder, group: number, data: Uint8Array): void {
  b.u16(group).zeros(2).bytes(data);
}

// RFC 7296 §3.5 Identification payload body (IDi, IDr)
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   ID Type     |                 RESERVED                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                   Identification Data                         ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const ID_ADDR_BYTES: Record<number, number> = {
  [IdType.ID_IPV4_ADDR]: 4, // RFC 7296 §3.5: a single four (4) octet IPv4 address
  [IdType.ID_IPV6_ADDR]: 16, // RFC 7296 §3.5: a single sixteen (16) octet IPv6 address
};
export function decodeId(r: Reader): { idType: number; data: Uint8Array } {
  const idType = r.u8();
  r.skip(3);
  const dataAt = r.offset;
  const data = r.rest();
  const want = ID_ADDR_BYTES[idType];
  if (want !== undefined && data.length !== want) throw new WireError('bad-id-length', dataAt);
  return { idType, data };
}
export function encodeId(b: Builder, idType: number, data: Uint8Array): void {
  b.u8(idType).zeros(3).bytes(data);
}

// RFC 7296 §3.6 Certificate payload body, and §3.7 Certificate Request payload body
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Cert Encoding |                                               |
// +-+-+-+-+-+-+-+-+                                               |
// ~             Certificate Data / Certification Authority        ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
export function decodeCert(r: Reader): { encoding: number; data: Uint8Array } {
  const encoding = r.u8();
  return { encoding, data: r.rest() };
}
export function encodeCert(b: Builder, encoding: number, data: Uint8Array): void {
  b.u8(encoding).bytes(data);
}

// RFC 7296 §3.8 Authentication payload body
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Auth Method   |                RESERVED                       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                      Authentication Data                      ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
export function decodeAuth(r: Reader): { method: number; data: Uint8Array } {
  const method = r.u8();
  r.skip(3);
  return { method, data: r.rest() };
}
export function encodeAuth(b: Builder, method: number, data: Uint8Array): void {
  b.u8(method).zeros(3).bytes(data);
}

// RFC 7296 §3.9 Nonce payload body: Nonce Data only
// RFC 7296 §2.10: "Nonces used in IKEv2 MUST be randomly chosen, MUST be at least 128 bits
// in size" and §3.9: "The size of the Nonce Data MUST be between 16 and 256 octets"
export const NONCE_MIN = 16;
export const NONCE_MAX = 256;
export function decodeNonce(r: Reader): Uint8Array {
  const at = r.offset;
  const data = r.rest();
  if (data.length < NONCE_MIN || data.length > NONCE_MAX) throw new WireError('bad-nonce-length', at);
  return data;
}

/** Vendor ID (§3.12), EAP (§3.16, kept opaque), unknown payloads: the body as is. */
export function decodeOpaque(r: Reader): Uint8Array {
  return r.rest();
}
