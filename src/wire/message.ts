// RFC 7296 §3.1 IKE header and whole messages.
//
// RFC 7296 §3.1 IKE Header
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       IKE SA Initiator's SPI                  |
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       IKE SA Responder's SPI                  |
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                          Message ID                           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                            Length                             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// Flags: |X|X|R|V|I|X|X|X|

import { IKE_MAJOR_VERSION, PayloadType } from './constants.js';
import { WireError } from './errors.js';
import { Reader } from './reader.js';
import { Builder } from './builder.js';
import { GENERIC_HEADER_LENGTH, walkChain, writeChain } from './chain.js';
import type { IkeHeader, IkeMessage, Payload } from './types.js';

export { decodePayloads, encodePayloads, payloadTypeOf } from './chain.js';

export const IKE_HEADER_LENGTH = 28;
const FLAG_RESPONSE = 0x20; // RFC 7296 §3.1: R, bit 2
const FLAG_VERSION = 0x10; // RFC 7296 §3.1: V, bit 3
const FLAG_INITIATOR = 0x08; // RFC 7296 §3.1: I, bit 4

/** The header fields a caller supplies; the encoder fills in length and next payload. */
export type HeaderFields = Omit<IkeHeader, 'length' | 'nextPayload'>;

/** Decodes the 28-byte header of a whole IKE datagram (RFC 7296 §3.1). */
export function decodeHeader(bytes: Uint8Array): IkeHeader {
  const r = new Reader(bytes);
  const spiI = r.bytesCopy(8);
  const spiR = r.bytesCopy(8);
  const nextPayload = r.u8();
  const version = r.u8();
  const majorVersion = version >> 4;
  const minorVersion = version & 0x0f;
  // RFC 7296 §3.1: a major version above 2 is answered with INVALID_MAJOR_VERSION (§2.5)
  if (majorVersion !== IKE_MAJOR_VERSION) throw new WireError('bad-major-version', 17);
  const exchangeType = r.u8();
  const flagByte = r.u8(); // RFC 7296 §3.1: the X bits are ignored on receipt
  const messageId = r.u32();
  const length = r.u32();
  // RFC 7296 §3.1: Length is the total message (header + payloads) in octets
  if (length !== bytes.length) throw new WireError('length-mismatch', 24);
  return {
    spiI,
    spiR,
    nextPayload,
    majorVersion,
    minorVersion,
    exchangeType,
    flags: {
      initiator: (flagByte & FLAG_INITIATOR) !== 0,
      version: (flagByte & FLAG_VERSION) !== 0,
      response: (flagByte & FLAG_RESPONSE) !== 0,
    },
    messageId,
    length,
  };
}

/** Decodes a whole IKE datagram; an SK payload stays sealed (RFC 7296 §3.14). */
export function decodeMessage(bytes: Uint8Array): IkeMessage {
  const header = decodeHeader(bytes);
  const tail = bytes.subarray(IKE_HEADER_LENGTH);
  const payloads = walkChain(header.nextPayload, tail, IKE_HEADER_LENGTH, bytes);
  return { header, payloads };
}

function writeHeader(b: Builder, h: HeaderFields, nextPayload: number): number {
  b.bytes(h.spiI.subarray(0, 8)).zeros(8 - Math.min(8, h.spiI.length));
  b.bytes(h.spiR.subarray(0, 8)).zeros(8 - Math.min(8, h.spiR.length));
  const nextAt = b.length;
  b.u8(nextPayload);
  b.u8(((h.majorVersion & 0x0f) << 4) | (h.minorVersion & 0x0f));
  b.u8(h.exchangeType);
  b.u8(
    (h.flags.response ? FLAG_RESPONSE : 0) |
      (h.flags.version ? FLAG_VERSION : 0) |
      (h.flags.initiator ? FLAG_INITIATOR : 0),
  );
  b.u32(h.messageId);
  b.u32(0); // Length, patched by the caller
  return nextAt;
}

/** Encodes a whole message without an SK payload (e.g. IKE_SA_INIT). */
export function encodeMessage(header: HeaderFields, payloads: Payload[]): Uint8Array {
  const b = new Builder(512);
  const nextAt = writeHeader(b, header, PayloadType.NONE);
  b.patch8(nextAt, writeChain(b, payloads));
  b.patch32(24, b.length);
  return b.finish();
}

/**
 * The header and SK generic header of a protected message (RFC 7296 §3.14): exactly the
 * associated data for sealing (RFC 5282 §5.1). The caller appends IV | ciphertext | ICV,
 * `bodyLength` bytes in all.
 */
export function encodeSkPrefix(header: HeaderFields, firstInner: number, bodyLength: number): Uint8Array {
  const b = new Builder(IKE_HEADER_LENGTH + GENERIC_HEADER_LENGTH);
  writeHeader(b, header, PayloadType.SK);
  b.patch32(24, IKE_HEADER_LENGTH + GENERIC_HEADER_LENGTH + bodyLength);
  b.u8(firstInner).u8(0).u16(GENERIC_HEADER_LENGTH + bodyLength);
  return b.finish();
}
