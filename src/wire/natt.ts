// RFC 3948 UDP encapsulation on port 4500: telling keepalives, IKE and ESP apart.
//
// RFC 3948 §2.2 Non-ESP Marker (IKE follows)     RFC 3948 §2.3 NAT-Keepalive
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+      +-+-+-+-+-+-+-+-+
// |        Non-ESP Marker (0x00000000)   |      |     0xFF      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+      +-+-+-+-+-+-+-+-+
// |        IKE header + payloads ...     |
// RFC 3948 §2.1: otherwise the datagram is ESP and starts with a non-zero SPI.

import { ESP_HEADER_LENGTH } from './esp.js';
import { IKE_HEADER_LENGTH } from './message.js';

/** RFC 3948 §2.2: four zero bytes prepended to IKE messages on port 4500. */
export const NON_ESP_MARKER: Uint8Array = new Uint8Array(4);
/** RFC 3948 §2.3: the one-byte NAT-keepalive payload. */
export const NAT_KEEPALIVE: Uint8Array = Uint8Array.of(0xff);


export type NatTKind = 'keepalive' | 'ike' | 'esp' | 'invalid';

/** Classifies a UDP datagram received on port 4500. For 'ike', the message starts at byte 4. */
export function classifyNatT(datagram: Uint8Array): NatTKind {
  // RFC 3948 §2.3: a single 0xFF octet; receivers ignore it
  if (datagram.length === 1) return datagram[0] === 0xff ? 'keepalive' : 'invalid';
  if (datagram.length < 4) return 'invalid';
  const firstWord = datagram[0] | datagram[1] | datagram[2] | datagram[3];
  if (firstWord === 0) {
    // RFC 3948 §2.2: Non-ESP Marker, then an IKE message of at least its header
    return datagram.length >= 4 + IKE_HEADER_LENGTH ? 'ike' : 'invalid';
  }
  // RFC 3948 §2.1: ESP with a non-zero SPI (checked above), at least SPI + sequence number
  return datagram.length >= ESP_HEADER_LENGTH ? 'esp' : 'invalid';
}
