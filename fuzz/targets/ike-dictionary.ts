// Tokens for the IKE mutators: payload, exchange and notify types, version and flag octets,
// transform IDs and common lengths (RFC 7296 §3), as they appear on the wire.
import { ExchangeType, NotifyType, PayloadType } from '../../src/wire/constants.js';

const u8 = (v: number) => Uint8Array.of(v & 0xff);
const u16 = (v: number) => Uint8Array.of((v >>> 8) & 0xff, v & 0xff);

export const ikeDictionary: Uint8Array[] = [
  ...Object.values(PayloadType).map(u8),
  ...Object.values(ExchangeType).map(u8),
  ...Object.values(NotifyType).map(u16),
  u8(0x20), // RFC 7296 §3.1: version 2.0
  u8(0x08), // I flag
  u8(0x20), // R flag
  u8(0x80), // critical bit
  u16(0x800e), // key length attribute (TV)
  u16(4), // generic payload header alone
  u16(8),
  u16(16), // minimum nonce
  u16(256),
  u16(0xffff),
  Uint8Array.of(0, 0, 0, 0),
  Uint8Array.of(0xff, 0xff, 0xff, 0xff),
  Uint8Array.of(7, 0, 0, 0x10), // TS_IPV4_ADDR_RANGE, any protocol, length 16
  Uint8Array.of(8, 0, 0, 0x28), // TS_IPV6_ADDR_RANGE, length 40
];
