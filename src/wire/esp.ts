// RFC 4303 §2 ESP packet framing: the clear header and the trailer inside the ciphertext.
// Keys and ciphers live in src/ipsec; this file only lays out bytes.
//
// RFC 4303 §2.1 Top-Level Format of an ESP Packet
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ----
// |               Security Parameters Index (SPI)                 | ^Int.
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Cov-
// |                      Sequence Number                          | |ered
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ | ----
// |                    Payload Data* (variable)                   | |   ^
// ~                                                               ~ |   |
// +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Conf.
// |               |     Padding (0-255 bytes)                     | |Cov-
// +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |ered*
// |                               |  Pad Length   | Next Header   | v   v
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ------
// |         Integrity Check Value-ICV   (variable)                |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import { WireError } from './errors.js';

export const ESP_HEADER_LENGTH = 8;
export const ESP_TRAILER_MIN = 2; // Pad Length + Next Header
/** RFC 4303 §2.6: Next Header 59 ("no next header") marks a dummy packet to be dropped. */
export const ESP_NEXT_HEADER_DUMMY = 59;

/** Reads SPI and (low 32 bits of the) sequence number; the payload starts after them. */
export function decodeEspHeader(
  bytes: Uint8Array,
  offset = 0,
): { spi: number; seq: number; payloadOffset: number } {
  if (bytes.length - offset < ESP_HEADER_LENGTH) throw new WireError('truncated', offset);
  const u32 = (p: number): number =>
    ((bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3]) >>> 0;
  const spi = u32(offset);
  // RFC 4303 §2.1: SPI 0 is reserved for local use and MUST NOT be sent on the wire
  if (spi === 0) throw new WireError('bad-spi', offset);
  return { spi, seq: u32(offset + 4), payloadOffset: offset + ESP_HEADER_LENGTH };
}

/**
 * RFC 4303 §2.4: padding so that payload | padding | Pad Length | Next Header is a multiple of
 * the cipher block size, and in any case ends on a 4-byte boundary. `blockSize` is 1 for
 * stream and AEAD ciphers such as GCM (RFC 4106 §3) or ChaCha20-Poly1305 (RFC 7634 §2).
 */
export function espPadLength(payloadLength: number, blockSize: number): number {
  const align = lcm(Math.max(1, blockSize), 4);
  return (align - ((payloadLength + ESP_TRAILER_MIN) % align)) % align;
}

function lcm(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}

/**
 * Writes Padding (RFC 4303 §2.4 default contents: 1, 2, 3, ...), Pad Length and Next Header
 * at `offset`; returns the offset just past the trailer.
 */
export function writeEspTrailer(buf: Uint8Array, offset: number, padLength: number, nextHeader: number): number {
  if (padLength < 0 || padLength > 255) throw new RangeError('ESP pad length must be 0..255');
  if (offset + padLength + ESP_TRAILER_MIN > buf.length) throw new RangeError('buffer too small for ESP trailer');
  for (let i = 0; i < padLength; i++) buf[offset + i] = i + 1; // RFC 4303 §2.4: monotonic 1, 2, 3...
  buf[offset + padLength] = padLength;
  buf[offset + padLength + 1] = nextHeader;
  return offset + padLength + ESP_TRAILER_MIN;
}

/**
 * Splits decrypted ESP plaintext (payload | padding | Pad Length | Next Header) and checks
 * the padding bytes (RFC 4303 §2.4: the receiver SHOULD inspect them).
 */
export function readEspTrailer(plain: Uint8Array): { payloadLength: number; nextHeader: number } {
  if (plain.length < ESP_TRAILER_MIN) throw new WireError('truncated', 0);
  const padAt = plain.length - ESP_TRAILER_MIN;
  const padLength = plain[padAt];
  const nextHeader = plain[padAt + 1];
  if (padLength > padAt) throw new WireError('bad-padding', padAt);
  const payloadLength = padAt - padLength;
  for (let i = 0; i < padLength; i++) {
    if (plain[payloadLength + i] !== i + 1) throw new WireError('bad-padding', payloadLength + i);
  }
  return { payloadLength, nextHeader };
}
