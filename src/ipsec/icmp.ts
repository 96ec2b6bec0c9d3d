// "Packet too big" replies for inner packets that do not fit the tunnel (failure map row
// F7): the daemon writes them back into the TUN device so the sending host lowers its path
// MTU instead of having its packets vanish.
//   IPv4: Destination Unreachable, code 4 "fragmentation needed and DF set" (RFC 792),
//         with the next-hop MTU in the second half of the unused word (RFC 1191 §4).
//   IPv6: Packet Too Big (RFC 4443 §3.2).
// No ICMP is built for a packet that must not get one (RFC 1812 §4.3.2.7, RFC 4443 §2.4(e)):
// the functions return undefined, and the caller just drops (and counts) the packet.

import { IpProtocol, IPV4_HEADER_LENGTH, IPV6_HEADER_LENGTH } from '../wire/constants.js';
import { decodeIpPacket, DEFAULT_TTL, writeIpHeader, type IpPacketView } from '../wire/ip.js';
import { icmpv6Checksum, internetChecksum } from '../wire/checksum.js';

const ICMP_HEADER = 8;
// RFC 1812 §4.3.2.3: quote as much of the original as fits in a 576-octet ICMP datagram
const IPV4_ICMP_ERROR_MAX = 576;
// RFC 4443 §2.4(c): as much of the invoking packet as fits in the minimum IPv6 MTU
const IPV6_MIN_MTU = 1280;

// RFC 792 / RFC 1812 §4.3.2.7: the ICMPv4 error messages (never answered with an error):
// Destination Unreachable, Source Quench, Redirect, Time Exceeded, Parameter Problem
const ICMPV4_ERRORS = new Set([3, 4, 5, 11, 12]);
const ICMPV6_REDIRECT = 137; // RFC 4443 §2.4(e.2), RFC 4861 §4.5

/**
 * IPv4 "fragmentation needed and DF set" (RFC 792 type 3 code 4) for an inner packet larger
 * than `mtu`, sent from `from` to the inner packet's source. Undefined when no ICMP is due:
 * the packet fits, is not IPv4 or not well formed, has DF clear (a packet the sender lets
 * be fragmented is not "too big" for the caller, who fragments or drops it as it decides),
 * or is one RFC 1812 §4.3.2.7 forbids answering.
 */
export function fragmentationNeeded(inner: Uint8Array, mtu: number, from: Uint8Array): Uint8Array | undefined {
  if (from.length !== 4) throw new RangeError(`an IPv4 source address is 4 bytes, not ${from.length}`);
  checkMtu(mtu, 0xffff); // RFC 1191 §4: Next-Hop MTU is a 16-bit field
  const v = view(inner);
  if (!v || v.version !== 4 || v.totalLength <= mtu || !v.dontFragment) return undefined;
  if (!ipv4ErrorAllowed(v)) return undefined;
  const quote = Math.min(v.totalLength, IPV4_ICMP_ERROR_MAX - IPV4_HEADER_LENGTH - ICMP_HEADER);
  const out = new Uint8Array(IPV4_HEADER_LENGTH + ICMP_HEADER + quote);
  // RFC 791 §3.1 header with DF (an atomic datagram, so the Identification may be zero: RFC 6864 §4.1)
  writeIpHeader(out, 0, from, v.src, IpProtocol.ICMP, ICMP_HEADER + quote, DEFAULT_TTL, true);
  // RFC 792: Type 3, Code 4, Checksum, unused; RFC 1191 §4: low 16 bits = Next-Hop MTU
  const icmp = IPV4_HEADER_LENGTH;
  out[icmp] = 3;
  out[icmp + 1] = 4;
  put16(out, icmp + 6, mtu);
  // RFC 792: "Internet Header + 64 bits of Original Data Datagram" (here as much as fits)
  out.set(inner.subarray(0, quote), icmp + ICMP_HEADER);
  put16(out, icmp + 2, internetChecksum(out.subarray(icmp)));
  return out;
}

/**
 * ICMPv6 Packet Too Big (RFC 4443 §3.2) for an inner IPv6 packet larger than `mtu`, from
 * `from` to the inner packet's source. Undefined when no ICMPv6 is due: the packet fits, is
 * not IPv6 or not well formed, or RFC 4443 §2.4(e) forbids answering it. Unlike other
 * errors, Packet Too Big is sent for multicast destinations (§2.4(e.3)) and for non-first
 * fragments (the source fragmented to a path MTU that is too large and needs to learn the
 * smaller one, RFC 8201 §4).
 */
export function packetTooBig(inner: Uint8Array, mtu: number, from: Uint8Array): Uint8Array | undefined {
  if (from.length !== 16) throw new RangeError(`an IPv6 source address is 16 bytes, not ${from.length}`);
  checkMtu(mtu, 0xffff_ffff); // RFC 4443 §3.2: MTU is a 32-bit field
  const v = view(inner);
  if (!v || v.version !== 6 || v.totalLength <= mtu) return undefined;
  if (!ipv6ErrorAllowed(v)) return undefined;
  const quote = Math.min(v.totalLength, IPV6_MIN_MTU - IPV6_HEADER_LENGTH - ICMP_HEADER);
  const icmpLength = ICMP_HEADER + quote;
  const out = new Uint8Array(IPV6_HEADER_LENGTH + icmpLength);
  writeIpHeader(out, 0, from, v.src, IpProtocol.ICMPV6, icmpLength); // RFC 8200 §3
  // RFC 4443 §3.2: Type 2, Code 0, Checksum, MTU (32 bits), as much of the invoking packet as fits
  const icmp = IPV6_HEADER_LENGTH;
  out[icmp] = 2;
  put16(out, icmp + 4, Math.floor(mtu / 0x10000));
  put16(out, icmp + 6, mtu & 0xffff);
  out.set(inner.subarray(0, quote), icmp + ICMP_HEADER);
  put16(out, icmp + 2, icmpv6Checksum(out));
  return out;
}

/**
 * The reply due for a too-big inner packet of either version: fragmentationNeeded with
 * `from4` for IPv4, packetTooBig with `from6` for IPv6; undefined when no ICMP is due or
 * there is no source address of that family to send it from.
 */
export function tooBigReply(
  inner: Uint8Array,
  mtu: number,
  from4: Uint8Array | undefined,
  from6: Uint8Array | undefined,
): Uint8Array | undefined {
  const version = inner.length > 0 ? inner[0] >> 4 : 0;
  if (version === 4) return from4 ? fragmentationNeeded(inner, mtu, from4) : undefined;
  if (version === 6) return from6 ? packetTooBig(inner, mtu, from6) : undefined;
  return undefined;
}

function view(inner: Uint8Array): IpPacketView | undefined {
  try {
    return decodeIpPacket(inner);
  } catch {
    return undefined; // malformed: the caller counts it; no ICMP about garbage
  }
}

// RFC 1812 §4.3.2.7: no ICMP error for an ICMP error message, a fragment other than the
// first, a datagram sent to a broadcast or multicast address, or one whose source does not
// name a single host (zero, loopback, broadcast, multicast or Class E address)
function ipv4ErrorAllowed(v: IpPacketView): boolean {
  if (v.fragmentOffset !== 0) return false;
  if (v.protocol === IpProtocol.ICMP && (v.icmpType === undefined || ICMPV4_ERRORS.has(v.icmpType))) return false;
  const s = v.src[0];
  if (s === 0 || s === 127 || s >= 224) return false; // 0/8, 127/8 (RFC 1122 §3.2.1.3), 224/4 and 240/4
  if (v.dst[0] >= 224) return false; // multicast 224/4, and 240/4 including 255.255.255.255
  return true;
}

// RFC 4443 §2.4(e): no ICMPv6 error for an ICMPv6 error message (types 0-127, §2.1) or a
// Redirect, or a packet whose source does not identify a single node (unspecified,
// multicast; loopback ::1 never leaves a node, RFC 4291 §2.5.3)
function ipv6ErrorAllowed(v: IpPacketView): boolean {
  if (v.protocol === IpProtocol.ICMPV6 && v.fragmentOffset === 0) {
    if (v.icmpType === undefined || v.icmpType < 128 || v.icmpType === ICMPV6_REDIRECT) return false;
  }
  if (v.src[0] === 0xff) return false; // ff00::/8 multicast (RFC 4291 §2.7)
  let zeroPrefix = true;
  for (let i = 0; i < 15; i++) if (v.src[i] !== 0) zeroPrefix = false;
  if (zeroPrefix && (v.src[15] === 0 || v.src[15] === 1)) return false; // :: and ::1
  return true;
}

function checkMtu(mtu: number, max: number): void {
  if (!Number.isInteger(mtu) || mtu < 0 || mtu > max) throw new RangeError(`MTU must be an integer 0..${max}, got ${mtu}`);
}

function put16(b: Uint8Array, p: number, v: number): void {
  b[p] = (v >> 8) & 0xff;
  b[p + 1] = v & 0xff;
}
