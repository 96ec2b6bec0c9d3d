// IPv4 (RFC 791) and IPv6 (RFC 8200) packets: read-only views (what selector checks, MTU
// handling and ICMP generation need to know about an inner packet), and the one writer of
// a plain header (ICMP errors, transport-mode ESP delivered to the TUN).
//
// RFC 791 §3.1 Internet Header Format
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version|  IHL  |Type of Service|          Total Length         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |         Identification        |Flags|      Fragment Offset    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Time to Live |    Protocol   |         Header Checksum       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       Source Address                          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Destination Address                        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// RFC 8200 §3 IPv6 Header Format
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version| Traffic Class |           Flow Label                  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |         Payload Length        |  Next Header  |   Hop Limit   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                 Source Address (128 bits)                     |
// |                 Destination Address (128 bits)                |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import { IpProtocol, IPV4_HEADER_LENGTH, IPV6_HEADER_LENGTH } from './constants.js';
import { WireError } from './errors.js';
import { internetChecksum } from './checksum.js';

export interface IpPacketView {
  version: 4 | 6;
  /** Bytes before the upper-layer header: IPv4 IHL * 4, IPv6 40 + extension headers. */
  headerLength: number;
  /** Packet length according to its header (IPv4 Total Length, IPv6 40 + Payload Length). */
  totalLength: number;
  /** Upper-layer protocol (IPv6: the Next Header after the extension headers). */
  protocol: number;
  /** IPv4 Time to Live or IPv6 Hop Limit. */
  ttl: number;
  src: Uint8Array;
  dst: Uint8Array;
  /** IPv4 DF flag. IPv6 is never fragmented by routers (RFC 8200 §5), so true for IPv6. */
  dontFragment: boolean;
  moreFragments: boolean;
  /** Fragment offset in bytes (the header field is in 8-octet units). */
  fragmentOffset: number;
  /** IPv4 Identification, or the IPv6 Fragment header Identification (0 if none). */
  identification: number;
  /** Present for TCP/UDP in an unfragmented packet or a first fragment. */
  srcPort?: number;
  dstPort?: number;
  /** Present for ICMP (IPv4) and ICMPv6 (IPv6) in an unfragmented packet or first fragment. */
  icmpType?: number;
  icmpCode?: number;
}

// RFC 8200 §4: extension headers walked to reach the upper layer
const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const AH = 51; // RFC 4302 §2.2: length in 4-octet units minus 2
const DEST_OPTIONS = 60;

const u16 = (b: Uint8Array, p: number): number => (b[p] << 8) | b[p + 1];
const u32 = (b: Uint8Array, p: number): number => ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;

/** Decodes the IP header(s) of a packet; WireError on truncation or a bad version. */
export function decodeIpPacket(bytes: Uint8Array): IpPacketView {
  if (bytes.length < 1) throw new WireError('truncated', 0);
  const version = bytes[0] >> 4;
  if (version === 4) return decodeIpv4(bytes);
  if (version === 6) return decodeIpv6(bytes);
  throw new WireError('bad-version', 0);
}

function decodeIpv4(b: Uint8Array): IpPacketView {
  if (b.length < IPV4_HEADER_LENGTH) throw new WireError('truncated', b.length);
  const headerLength = (b[0] & 0x0f) * 4; // RFC 791: IHL in 32-bit words, at least 5
  if (headerLength < IPV4_HEADER_LENGTH) throw new WireError('bad-header-length', 0);
  const totalLength = u16(b, 2);
  if (totalLength < headerLength) throw new WireError('bad-length', 2);
  if (totalLength > b.length) throw new WireError('truncated', b.length);
  const flagsFrag = u16(b, 6);
  const view: IpPacketView = {
    version: 4,
    headerLength,
    totalLength,
    protocol: b[9],
    ttl: b[8],
    src: b.slice(12, 16),
    dst: b.slice(16, 20),
    dontFragment: (flagsFrag & 0x4000) !== 0, // RFC 791: flags bit 1, DF
    moreFragments: (flagsFrag & 0x2000) !== 0, // RFC 791: flags bit 2, MF
    fragmentOffset: (flagsFrag & 0x1fff) * 8, // RFC 791: in units of 8 octets
    identification: u16(b, 4),
  };
  upperLayer(view, b, headerLength, totalLength, IpProtocol.ICMP);
  return view;
}

function decodeIpv6(b: Uint8Array): IpPacketView {
  if (b.length < IPV6_HEADER_LENGTH) throw new WireError('truncated', b.length);
  const payloadLength = u16(b, 4);
  // RFC 8200 §3: zero Payload Length means a jumbogram (RFC 2675), which tunnels never carry
  if (payloadLength === 0 && b[6] === HOP_BY_HOP) throw new WireError('bad-length', 4, 'jumbogram');
  const totalLength = IPV6_HEADER_LENGTH + payloadLength;
  if (totalLength > b.length) throw new WireError('truncated', b.length);
  const view: IpPacketView = {
    version: 6,
    headerLength: IPV6_HEADER_LENGTH,
    totalLength,
    protocol: b[6],
    ttl: b[7],
    src: b.slice(8, 24),
    dst: b.slice(24, 40),
    dontFragment: true,
    moreFragments: false,
    fragmentOffset: 0,
    identification: 0,
  };
  let next = b[6];
  let off = IPV6_HEADER_LENGTH;
  // RFC 8200 §4.1: walk the extension headers in order to the upper-layer header
  for (;;) {
    if (next === HOP_BY_HOP || next === ROUTING || next === DEST_OPTIONS || next === AH) {
      if (off + 2 > totalLength) throw new WireError('truncated', off);
      // RFC 8200 §4.3/4.4/4.6: Hdr Ext Len in 8-octet units, not counting the first 8;
      // RFC 4302 §2.2: AH Payload Len in 4-octet units, minus 2
      const len = next === AH ? (b[off + 1] + 2) * 4 : (b[off + 1] + 1) * 8;
      if (off + len > totalLength) throw new WireError('truncated', off);
      next = b[off];
      off += len;
    } else if (next === FRAGMENT) {
      // RFC 8200 §4.5: Next Header, Reserved, Fragment Offset (13) | Res (2) | M (1), Identification
      if (off + 8 > totalLength) throw new WireError('truncated', off);
      const word = u16(b, off + 2);
      view.fragmentOffset = (word >> 3) * 8;
      view.moreFragments = (word & 1) !== 0;
      view.identification = u32(b, off + 4);
      next = b[off];
      off += 8;
      if (view.fragmentOffset !== 0) break; // the rest is the middle of the upper layer
    } else {
      break;
    }
  }
  view.protocol = next;
  view.headerLength = off;
  upperLayer(view, b, off, totalLength, IpProtocol.ICMPV6);
  return view;
}

/** Ports or ICMP type/code, read only from an unfragmented packet or a first fragment. */
function upperLayer(view: IpPacketView, b: Uint8Array, off: number, end: number, icmp: number): void {
  if (view.fragmentOffset !== 0) return;
  const available = end - off;
  const isTransport = view.protocol === IpProtocol.TCP || view.protocol === IpProtocol.UDP;
  const need = isTransport ? 4 : view.protocol === icmp ? 2 : 0;
  if (need === 0) return;
  if (available < need) {
    // a whole packet must hold its upper-layer header; a tiny first fragment may not
    if (!view.moreFragments) throw new WireError('truncated', end);
    return;
  }
  if (isTransport) {
    view.srcPort = u16(b, off); // RFC 9293 §3.1 / RFC 768: source port, then destination port
    view.dstPort = u16(b, off + 2);
  } else {
    view.icmpType = b[off]; // RFC 792 / RFC 4443 §2.1: Type, Code
    view.icmpCode = b[off + 1];
  }
}

/** RFC 1700 / IANA: the recommended default IPv4 TTL and IPv6 Hop Limit. */
export const DEFAULT_TTL = 64;

/**
 * Write an IPv4 (RFC 791 §3.1, IHL 5, no options) or IPv6 (RFC 8200 §3, no extension
 * headers) header for `payloadLength` bytes at `buf[off]`, the family chosen by `src`'s
 * length; returns the header's length. Traffic class / TOS, flow label and Identification
 * are zero: the datagram is atomic (RFC 6864 §4.1). `dontFragment` sets the IPv4 DF flag
 * (IPv6 has none). No allocation.
 */
export function writeIpHeader(buf: Uint8Array, off: number, src: Uint8Array, dst: Uint8Array, protocol: number, payloadLength: number, ttl = DEFAULT_TTL, dontFragment = false): number {
  if (src.length === 16) {
    buf[off] = 0x60; // version 6, traffic class 0, flow label 0
    buf[off + 1] = 0;
    buf[off + 2] = 0;
    buf[off + 3] = 0;
    buf[off + 4] = payloadLength >>> 8;
    buf[off + 5] = payloadLength & 0xff;
    buf[off + 6] = protocol; // Next Header
    buf[off + 7] = ttl; // Hop Limit
    buf.set(src, off + 8);
    buf.set(dst, off + 24);
    return IPV6_HEADER_LENGTH;
  }
  const total = IPV4_HEADER_LENGTH + payloadLength;
  buf[off] = 0x45; // version 4, IHL 5
  buf[off + 1] = 0; // TOS
  buf[off + 2] = total >>> 8;
  buf[off + 3] = total & 0xff;
  buf[off + 4] = 0; // Identification
  buf[off + 5] = 0;
  buf[off + 6] = dontFragment ? 0x40 : 0; // flags (DF is bit 1), fragment offset 0
  buf[off + 7] = 0;
  buf[off + 8] = ttl;
  buf[off + 9] = protocol;
  buf[off + 10] = 0; // checksum, below
  buf[off + 11] = 0;
  buf.set(src, off + 12);
  buf.set(dst, off + 16);
  const ck = internetChecksum(buf, off, off + IPV4_HEADER_LENGTH); // RFC 791 §3.1: over the header alone
  buf[off + 10] = ck >>> 8;
  buf[off + 11] = ck & 0xff;
  return IPV4_HEADER_LENGTH;
}
