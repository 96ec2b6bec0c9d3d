// How many bytes ESP adds to an inner packet, and so the largest inner packet (the TUN MTU)
// whose ESP packet still fits the outer path MTU. Pure arithmetic: the daemon reads the
// outer MTU (src/io/routes.ts outerMtu) and the transform sizes (src/ipsec/esp-transform.ts
// ivLength / icvLength / blockSize) and asks here.
//
// Outer packet, tunnel mode (RFC 4303 §3.1.2, UDP per RFC 3948 §2.1 when encapsulated):
//   outer IP (20 | 40) | UDP (8)? | SPI (4) | Seq (4) | IV | inner packet | padding | PadLen (1) | NextHdr (1) | ICV
// Transport mode (RFC 4303 §3.1.1): the inner packet's own IP header stays in front and
// only its upper-layer part is inside ESP:
//   inner IP header | UDP (8)? | SPI | Seq | IV | upper layer | padding | PadLen | NextHdr | ICV

import { ESP_HEADER_LENGTH, ESP_TRAILER_MIN, espPadLength } from '../wire/esp.js';
import { IPV4_HEADER_LENGTH, IPV6_HEADER_LENGTH, UDP_HEADER_LENGTH } from '../wire/constants.js';


export interface EspSizes {
  ivLength: number;
  icvLength: number;
  /** The transform's block size (16 for AES-CBC; 4 or 1 for AEAD and stream ciphers). */
  blockSize: number;
  /** RFC 3948: ESP inside UDP (NAT-T, or forced with `encap: "udp"`). */
  encap: boolean;
  outerFamily: 4 | 6;
  mode: 'tunnel' | 'transport';
}

/**
 * The bytes ESP adds to an inner packet, split in two parts:
 *   fixed     everything except the payload and the padding: the outer IP header (tunnel
 *             mode only; in transport mode the inner header is reused), UDP when
 *             encapsulated, SPI, Sequence Number, IV, Pad Length, Next Header and ICV.
 *   blockSize the alignment that payload | padding | Pad Length | Next Header is padded to:
 *             the cipher's block size, and at least 4 octets (RFC 4303 §2.4).
 * An ESP payload of p bytes makes an outer packet of fixed + p + espPadLength(p, blockSize)
 * bytes (plus the kept IP header in transport mode).
 */
export function espOverhead(o: EspSizes): { fixed: number; blockSize: number } {
  checkSizes(o);
  const outerIp = o.mode === 'tunnel' ? (o.outerFamily === 4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH) : 0;
  const udp = o.encap ? UDP_HEADER_LENGTH : 0;
  const fixed = outerIp + udp + ESP_HEADER_LENGTH + o.ivLength + ESP_TRAILER_MIN + o.icvLength;
  return { fixed, blockSize: lcm(Math.max(1, o.blockSize), 4) };
}

/**
 * The largest inner packet whose ESP packet fits in `outerMtu` bytes; 0 when not even an
 * empty payload fits. Every inner packet of this size or smaller fits (the padding never
 * shrinks as the payload grows), and with the usual header one byte more does not.
 *
 * Transport mode pads the upper-layer part only, so the answer depends on the inner header
 * length modulo the alignment. IPv4 headers are multiples of 4 octets (RFC 791 §3.1 IHL),
 * IPv6 extension headers of 8 (RFC 8200 §4.3-4.6), so the minimum over the header lengths
 * h, h+step, ... within one alignment covers every inner packet, options included. The caller
 * keeps IPv6 links at 1280 or more (RFC 8200 §5); this function only does the arithmetic.
 */
export function innerMtu(outerMtu: number, o: EspSizes): number {
  if (!Number.isInteger(outerMtu) || outerMtu < 0) throw new RangeError(`outer MTU must be a non-negative integer, got ${outerMtu}`);
  const { fixed, blockSize } = espOverhead(o);
  if (o.mode === 'tunnel') return Math.max(0, largestPayload(outerMtu - fixed, blockSize));
  const minHeader = o.outerFamily === 4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
  const step = o.outerFamily === 4 ? 4 : 8;
  let best = Number.POSITIVE_INFINITY;
  for (let h = minHeader; h < minHeader + blockSize; h += step) {
    const p = largestPayload(outerMtu - fixed - h, blockSize);
    best = Math.min(best, p < 0 ? 0 : h + p);
  }
  return best;
}

/**
 * Largest p with p + espPadLength(p, align) <= room, where room counts the payload, the
 * padding and the 2 trailer octets less those 2 (they are in `fixed`). The padded block
 * p + pad + 2 is a multiple of align (RFC 4303 §2.4), so the best block is the largest
 * multiple of align within room + 2; -1 or less when nothing fits.
 */
function largestPayload(room: number, align: number): number {
  const block = Math.floor((room + ESP_TRAILER_MIN) / align) * align;
  const p = block - ESP_TRAILER_MIN;
  // espPadLength is the datapath's own rule; it must agree that p needs no more room
  return p >= 0 && p + espPadLength(p, align) <= room ? p : -1;
}

function checkSizes(o: EspSizes): void {
  for (const [name, v] of [['ivLength', o.ivLength], ['icvLength', o.icvLength], ['blockSize', o.blockSize]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`ESP ${name} must be an integer 0..255, got ${v}`);
  }
}

function lcm(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}
