// What a TUN opened with IFF_VNET_HDR and TUNSETOFFLOAD hands over (src/io/tun-offload.ts),
// made into ordinary IP packets: each read starts with a virtio_net_hdr (virtio spec v1.2
// §5.1.6, <linux/virtio_net.h>); a GSO super-packet (up to 64 KB of one TCP or UDP flow) is
// cut into gso_size-sized segments, each a complete packet with its own IP length, IPv4 ID,
// TCP sequence number, flags and checksums, as the kernel's own segmentation would make them;
// a packet whose checksum the kernel left to us (NEEDS_CSUM) gets it finished. Pure arithmetic
// on bytes: the caller owns every buffer.

import { foldChecksum, internetChecksum, onesComplementSum } from './checksum.js';
import { IPV4_HEADER_LENGTH, IPV6_HEADER_LENGTH, UDP_HEADER_LENGTH } from './constants.js';

/** sizeof(struct virtio_net_hdr): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset. */
export const VIRTIO_NET_HDR_LENGTH = 10;
/** virtio spec §5.1.6: csum_start / csum_offset name a checksum still to be completed. */
export const VNET_F_NEEDS_CSUM = 1;
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_TCPV6 = 4;
/** USO (Linux 6.2+, TUN_F_USO4/6): UDP segmentation by gso_size, each segment its own datagram. */
export const GSO_UDP_L4 = 5;
/** Flag bit of gso_type: the TCP super-packet carries CWR (RFC 3168 §6.1.2). */
export const GSO_ECN = 0x80;

const PROTO_TCP = 6;
const PROTO_UDP = 17;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/** One virtio_net_hdr, read into a caller-owned record (no allocation per packet). */
export interface VnetHdr {
  flags: number;
  gsoType: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export const newVnetHdr = (): VnetHdr => ({ flags: 0, gsoType: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });

/**
 * Reads the header at b[off, off + 10) into `h`. Its 16-bit fields are in the host's byte order
 * for a TUN (tun_is_little_endian(): little-endian unless TUNSETVNETBE): little-endian here.
 * hdr_len is not read: the kernel only hints it, the headers themselves say how long they are.
 */
export function readVnetHdr(b: Uint8Array, off: number, h: VnetHdr): VnetHdr {
  h.flags = b[off];
  h.gsoType = b[off + 1];
  h.gsoSize = b[off + 4] | (b[off + 5] << 8);
  h.csumStart = b[off + 6] | (b[off + 7] << 8);
  h.csumOffset = b[off + 8] | (b[off + 9] << 8);
  return h;
}

/** Where a super-packet's headers end and how many segments it makes; undefined when malformed or not one we cut. */
export interface GsoPlan {
  /** IP header (with any IPv6 extension headers) plus TCP or UDP header: copied into every segment. */
  headerLength: number;
  /** Offset of the TCP/UDP header (csum_start). */
  l4: number;
  segments: number;
}

/**
 * The plan for cutting `pkt` (the IP packet after the virtio_net_hdr `h`), or undefined when it
 * is not a TCPv4, TCPv6 or UDP (USO) super-packet with consistent headers.
 */
export function gsoPlan(h: VnetHdr, pkt: Uint8Array): GsoPlan | undefined {
  const type = h.gsoType & ~GSO_ECN;
  if (h.gsoSize === 0 || pkt.length < IPV4_HEADER_LENGTH) return undefined;
  const v4 = pkt[0] >> 4 === 4;
  if (!v4 && pkt[0] >> 4 !== 6) return undefined;
  if (type === GSO_TCPV4 && !v4) return undefined;
  if (type === GSO_TCPV6 && v4) return undefined;
  if (type !== GSO_TCPV4 && type !== GSO_TCPV6 && type !== GSO_UDP_L4) return undefined;
  // the kernel sets csum_start to the transport header for every GSO packet
  const l4 = h.csumStart;
  const ipHeader = v4 ? (pkt[0] & 0x0f) * 4 : IPV6_HEADER_LENGTH;
  if (v4 ? l4 !== ipHeader || ipHeader < IPV4_HEADER_LENGTH : l4 < ipHeader) return undefined;
  const tcp = type !== GSO_UDP_L4;
  if (v4 && pkt[9] !== (tcp ? PROTO_TCP : PROTO_UDP)) return undefined;
  if (!v4 && l4 === IPV6_HEADER_LENGTH && pkt[6] !== (tcp ? PROTO_TCP : PROTO_UDP)) return undefined;
  if (pkt.length < l4 + (tcp ? 20 : UDP_HEADER_LENGTH)) return undefined;
  const headerLength = l4 + (tcp ? (pkt[l4 + 12] >> 4) * 4 : UDP_HEADER_LENGTH); // RFC 9293 §3.1 Data Offset
  if (headerLength > pkt.length || (tcp && headerLength < l4 + 20)) return undefined;
  const payload = pkt.length - headerLength;
  return { headerLength, l4, segments: Math.max(1, Math.ceil(payload / h.gsoSize)) };
}

/** Octets the segments of a planned packet take in all. */
export function segmentedLength(plan: GsoPlan, pkt: Uint8Array): number {
  return pkt.length + (plan.segments - 1) * plan.headerLength;
}

/**
 * Writes the segments of `pkt` to out[at, ...) back to back, their offsets and lengths at
 * offsets[first + i] / lengths[first + i]. The caller sized `out` with segmentedLength and the
 * arrays with plan.segments. Returns the offset after the last segment.
 */
export function writeSegments(
  h: VnetHdr,
  plan: GsoPlan,
  pkt: Uint8Array,
  out: Uint8Array,
  at: number,
  offsets: Uint32Array,
  lengths: Uint32Array,
  first: number,
): number {
  const { headerLength: hl, l4, segments } = plan;
  const v4 = pkt[0] >> 4 === 4;
  const tcp = (h.gsoType & ~GSO_ECN) !== GSO_UDP_L4;
  const mss = h.gsoSize;
  const id = (pkt[4] << 8) | pkt[5];
  const seq = ((pkt[l4 + 4] << 24) | (pkt[l4 + 5] << 16) | (pkt[l4 + 6] << 8) | pkt[l4 + 7]) >>> 0;
  let o = at;
  for (let i = 0; i < segments; i++) {
    const from = hl + i * mss;
    const size = Math.min(mss, pkt.length - from);
    const len = hl + size;
    out.set(pkt.subarray(0, hl), o);
    out.set(pkt.subarray(from, from + size), o + hl);
    if (v4) {
      put16(out, o + 2, len); // RFC 791: Total Length
      put16(out, o + 4, (id + i) & 0xffff); // a new Identification per segment, as the kernel's TSO does
      put16(out, o + 10, 0);
      const ihl = (pkt[0] & 0x0f) * 4;
      put16(out, o + 10, internetChecksum(out, o, o + ihl));
    } else {
      put16(out, o + 4, len - IPV6_HEADER_LENGTH); // RFC 8200 §3: Payload Length
    }
    const t = o + l4;
    if (tcp) {
      put32(out, t + 4, (seq + i * mss) >>> 0); // RFC 9293 §3.4: each segment's first octet
      let flags = pkt[l4 + 13];
      if (i < segments - 1) flags &= ~(TCP_FIN | TCP_PSH); // only the last segment ends or pushes
      if (i > 0) flags &= ~TCP_CWR; // RFC 3168 §6.1.2: CWR on the first segment only
      out[t + 13] = flags;
      put16(out, t + 16, 0);
      put16(out, t + 16, l4Checksum(out, o, t, o + len, v4, PROTO_TCP));
    } else {
      put16(out, t + 4, len - l4); // RFC 768: Length
      put16(out, t + 6, 0);
      put16(out, t + 6, l4Checksum(out, o, t, o + len, v4, PROTO_UDP) || 0xffff); // RFC 768: 0 is sent as all ones
    }
    offsets[first + i] = o;
    lengths[first + i] = len;
    o += len;
  }
  return o;
}

/**
 * virtio spec §5.1.6.2: NEEDS_CSUM: the field at csum_start + csum_offset holds the pseudo-header
 * sum; the checksum is the complement of the sum from csum_start to the end. Finished in place.
 * False (nothing written) when the offsets lie outside the packet.
 */
export function finishChecksum(h: VnetHdr, pkt: Uint8Array): boolean {
  const at = h.csumStart + h.csumOffset;
  if (at + 2 > pkt.length || h.csumStart >= pkt.length) return false;
  let c = foldChecksum(onesComplementSum(pkt, 0, h.csumStart, pkt.length)) ^ 0xffff;
  const udp = h.csumOffset === 6 && (pkt[0] >> 4 === 4 ? pkt[9] === PROTO_UDP : h.csumStart === IPV6_HEADER_LENGTH && pkt[6] === PROTO_UDP);
  if (c === 0 && udp) c = 0xffff; // RFC 768
  put16(pkt, at, c);
  return true;
}

/**
 * The unfolded sum of the TCP/UDP pseudo-header (RFC 9293 §3.1, RFC 768; RFC 8200 §8.1) of the
 * IP packet at b[ip]: source, destination, protocol and the `l4Length` octets from the L4 header on.
 */
export function pseudoHeaderSum(b: Uint8Array, ip: number, v4: boolean, proto: number, l4Length: number): number {
  return v4 ? onesComplementSum(b, proto + l4Length, ip + 12, ip + 20) : onesComplementSum(b, proto + l4Length, ip + 8, ip + 40);
}

/** TCP/UDP checksum over the pseudo-header and b[t, end). */
function l4Checksum(b: Uint8Array, ip: number, t: number, end: number, v4: boolean, proto: number): number {
  return foldChecksum(onesComplementSum(b, pseudoHeaderSum(b, ip, v4, proto, end - t), t, end)) ^ 0xffff;
}

/** A big-endian 16-bit field. */
export function put16(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 8;
  b[p + 1] = v & 0xff;
}

function put32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}
