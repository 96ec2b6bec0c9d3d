// TCP MSS clamping: lower the Maximum Segment Size option of SYN and SYN-ACK segments that
// cross the tunnel, so both TCP ends pick segments that fit the tunnel MTU without relying
// on ICMP (failure map row F7, "large packets vanish"). Same job as Linux's TCPMSS target.
//
// RFC 9293 §3.1 TCP header (the parts read here)
//  0                   1                   2                   3
// |          Source Port          |       Destination Port        |
// |                        Sequence Number                        |
// |                    Acknowledgment Number                      |
// |  Data |       |C|E|U|A|P|R|S|F|                               |
// | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
// |           Checksum            |         Urgent Pointer        |
// |                           [Options]                           |
// RFC 9293 §3.2 MSS option: Kind 2, Length 4, then the 16-bit MSS.

import { decodeIpPacket } from '../wire/ip.js';
import { updateChecksum } from '../wire/checksum.js';

const TCP = 6;
const TCP_MIN_HEADER = 20;
const SYN = 0x02;
const OPT_END = 0; // RFC 9293 §3.2: End of Option List
const OPT_NOP = 1; // RFC 9293 §3.2: No-Operation
const OPT_MSS = 2; // RFC 9293 §3.2: Maximum Segment Size, length 4

/**
 * If `packet` is a TCP SYN (or SYN-ACK) carrying an MSS option larger than `mss`, lower it to
 * `mss` in place and fix the TCP checksum incrementally; returns true when it changed the
 * packet. Anything else (not TCP, fragments, no MSS option, a truncated or malformed
 * packet) is left untouched and gives false; packet contents never make it throw. A SYN
 * without the option is left alone too: the default MSS it implies (536 for IPv4, 1220 for
 * IPv6, RFC 9293 §3.7.1) is below any tunnel's, and the packet cannot grow in place.
 */
export function clampMss(packet: Uint8Array, mss: number): boolean {
  if (!Number.isInteger(mss) || mss < 0 || mss > 0xffff) throw new RangeError(`MSS must be an integer 0..65535, got ${mss}`);
  const seg = tcpSegment(packet);
  if (!seg) return false;
  const { tcp, end } = seg;
  if ((packet[tcp + 13] & SYN) === 0) return false;
  const headerLength = (packet[tcp + 12] >> 4) * 4; // RFC 9293 §3.1: Data Offset in 32-bit words
  if (headerLength < TCP_MIN_HEADER || tcp + headerLength > end) return false;
  const optEnd = tcp + headerLength;
  // Walk the options once to check they are well formed before changing anything.
  const at: number[] = [];
  for (let i = tcp + TCP_MIN_HEADER; i < optEnd; ) {
    const kind = packet[i];
    if (kind === OPT_END) break;
    if (kind === OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= optEnd) return false;
    const len = packet[i + 1];
    if (len < 2 || i + len > optEnd) return false; // RFC 9293 §3.2: length counts kind and length
    if (kind === OPT_MSS) {
      if (len !== 4) return false;
      at.push(i + 2);
    }
    i += len;
  }
  let changed = false;
  for (const p of at) {
    const old = (packet[p] << 8) | packet[p + 1];
    if (old <= mss) continue;
    packet[p] = mss >> 8;
    packet[p + 1] = mss & 0xff;
    // The checksum sums 16-bit words from the start of the TCP header. An MSS value at an odd
    // offset straddles two words, where it counts byte-swapped (RFC 1071 §2(B): the sum is
    // byte-order independent), so the update uses the swapped old and new values.
    const odd = ((p - tcp) & 1) === 1;
    updateChecksum(packet, tcp + 16, odd ? swap(old) : old, odd ? swap(mss) : mss);
    changed = true;
  }
  return changed;
}

/** Where the TCP header starts and the segment ends, for an unfragmented TCP packet. */
function tcpSegment(b: Uint8Array): { tcp: number; end: number } | undefined {
  if (b.length < 1) return undefined;
  const version = b[0] >> 4;
  if (version === 4) {
    // RFC 791 §3.1: fast path without allocation for the common case
    if (b.length < 20 || b[9] !== TCP) return undefined;
    const ihl = (b[0] & 0x0f) * 4;
    const total = (b[2] << 8) | b[3];
    if ((((b[6] << 8) | b[7]) & 0x3fff) !== 0) return undefined; // MF set or offset: a fragment
    if (ihl < 20 || total > b.length || ihl + TCP_MIN_HEADER > total) return undefined;
    return { tcp: ihl, end: total };
  }
  if (version !== 6 || b.length < 40) return undefined;
  const total = 40 + ((b[4] << 8) | b[5]);
  if (b[6] === TCP) {
    // RFC 8200 §3: no extension headers, TCP follows the fixed header
    if (total > b.length || 40 + TCP_MIN_HEADER > total) return undefined;
    return { tcp: 40, end: total };
  }
  // Extension headers (RFC 8200 §4): let the wire decoder walk them
  try {
    const v = decodeIpPacket(b);
    if (v.protocol !== TCP || v.fragmentOffset !== 0 || v.moreFragments) return undefined;
    if (v.headerLength + TCP_MIN_HEADER > v.totalLength) return undefined;
    return { tcp: v.headerLength, end: v.totalLength };
  } catch {
    return undefined;
  }
}

function swap(v: number): number {
  return ((v & 0xff) << 8) | (v >> 8);
}
