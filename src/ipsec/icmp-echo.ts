// ICMP echo request and reply (RFC 792 type 8 / 0; RFC 4443 §4.1 / §4.2 types 128 / 129)
// for `tsvpn diagnose`'s probe through the tunnel: the daemon seals a request as if it came
// from the TUN and recognises the reply among the packets ESP delivered, before they reach
// the TUN. Pure byte work; no I/O.
import { IpProtocol, IPV4_HEADER_LENGTH, IPV6_HEADER_LENGTH } from '../wire/constants.js';
import { icmpv6Checksum, internetChecksum } from '../wire/checksum.js';
import { writeIpHeader } from '../wire/ip.js';
import type { TrafficSelector } from '../wire/types.js';

const ICMP_HEADER = 8;
const ECHO_REQUEST_V4 = 8; // RFC 792
const ECHO_REPLY_V4 = 0;
const ECHO_REQUEST_V6 = 128; // RFC 4443 §4.1
const ECHO_REPLY_V6 = 129; // RFC 4443 §4.2

/** The smallest echo request of a family: IP header + ICMP header. */
export const minEchoSize = (family: 4 | 6): number => (family === 4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH) + ICMP_HEADER;

/**
 * An echo request of `size` bytes in all (IP header included) from `src` to `dst`, with DF
 * set on IPv4 (RFC 791 §3.1: a probe of the path MTU must not be fragmented; IPv6 routers
 * never fragment), identifier `id` and sequence `seq`.
 */
export function echoRequest(src: Uint8Array, dst: Uint8Array, size: number, id: number, seq: number): Uint8Array {
  const v6 = src.length === 16;
  const family = v6 ? 6 : 4;
  if (dst.length !== src.length) throw new RangeError('source and destination must be of one family');
  if (!Number.isInteger(size) || size < minEchoSize(family) || size > 0xffff) throw new RangeError(`an IPv${family} echo request is ${minEchoSize(family)} to 65535 bytes, not ${size}`);
  const out = new Uint8Array(size);
  const h = v6 ? IPV6_HEADER_LENGTH : IPV4_HEADER_LENGTH;
  writeIpHeader(out, 0, src, dst, v6 ? IpProtocol.ICMPV6 : IpProtocol.ICMP, size - h, 64, true);
  out[h] = v6 ? ECHO_REQUEST_V6 : ECHO_REQUEST_V4;
  put16(out, h + 4, id); // RFC 792: Identifier, Sequence Number
  put16(out, h + 6, seq);
  for (let i = h + ICMP_HEADER; i < size; i++) out[i] = i & 0xff; // a recognisable pattern
  put16(out, h + 2, v6 ? icmpv6Checksum(out) : internetChecksum(out.subarray(h)));
  return out;
}

/** The sequence number of an echo reply with identifier `id` (either family), or undefined for any other packet. */
export function echoReplySeq(p: Uint8Array, id: number): number | undefined {
  if (p.length < 1) return undefined;
  const version = p[0] >> 4;
  let h: number;
  if (version === 4) {
    h = (p[0] & 0x0f) * 4;
    if (p.length < h + ICMP_HEADER || p[9] !== IpProtocol.ICMP || p[h] !== ECHO_REPLY_V4) return undefined;
    if ((p[6] & 0x1f) !== 0 || p[7] !== 0) return undefined; // a fragment other than the first one
  } else if (version === 6) {
    h = IPV6_HEADER_LENGTH; // no extension headers: our requests carry none, so neither do the replies
    if (p.length < h + ICMP_HEADER || p[6] !== IpProtocol.ICMPV6 || p[h] !== ECHO_REPLY_V6) return undefined;
  } else return undefined;
  if (((p[h + 4] << 8) | p[h + 5]) !== id) return undefined;
  return (p[h + 6] << 8) | p[h + 7];
}

/**
 * The address a probe of this selector goes to: its first host (the address after the
 * network address when the range holds more than two), as `ping 10.2.0.1` would for 10.2.0.0/24.
 */
export function probeHost(ts: Pick<TrafficSelector, 'startAddr' | 'endAddr'>): Uint8Array {
  const a = new Uint8Array(ts.startAddr);
  const span = difference(ts.endAddr, ts.startAddr);
  if (span < 2) return a;
  for (let i = a.length - 1; i >= 0; i--) {
    if (a[i] < 255) {
      a[i]++;
      break;
    }
    a[i] = 0;
  }
  return a;
}

/** end - start, saturated at 2 (all we need to know). */
function difference(end: Uint8Array, start: Uint8Array): number {
  let d = 0;
  for (let i = 0; i < end.length; i++) {
    d = d * 256 + end[i] - start[i];
    if (d >= 2) return 2;
    if (d < 0) return 0;
  }
  return d;
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
