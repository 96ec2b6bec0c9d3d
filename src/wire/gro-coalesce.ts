// The other half of the TUN offloads (src/io/tun-offload.ts): inner packets on their way into
// a TUN opened with IFF_VNET_HDR, each written behind a virtio_net_hdr (virtio spec v1.2
// §5.1.6), consecutive packets of one flow coalesced into one GSO super-packet, as the
// kernel's own GRO would: one TUN write for a run of up to 64 KB instead of one per packet.
// TCP: a run is segments that follow each other in the batch with the same addresses, ports, ACK
// number, TTL/traffic class and TCP options, each starting where the last ended, all but the
// last of the first one's size, only ACK (and PSH on the last) set.
// UDP (only where the kernel took USO): datagrams that follow each other with the same
// addresses, ports, TTL/traffic class, flow label and DF, all but the last of the first one's
// size, at most 64 (UDP_MAX_SEGMENTS), written as one GSO_UDP_L4 super-packet that the kernel
// cuts back into the same datagrams (IPv4 without DF only with consecutive IDs, as the kernel
// numbers the pieces). Their checksums are not checked here: the AEAD already vouched for the
// bytes, and the kernel computes each datagram's checksum anew, as it does for the TCP runs.
// Anything else is written alone behind a zero header. Pure arithmetic on bytes: the buffers
// are the caller's or its own.

import { foldChecksum, internetChecksum } from './checksum.js';
import { IPV4_HEADER_LENGTH, IPV6_HEADER_LENGTH } from './constants.js';
import { GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, pseudoHeaderSum, put16, VIRTIO_NET_HDR_LENGTH, VNET_F_NEEDS_CSUM } from './vnet-hdr.js';

const PROTO_TCP = 6;
const PROTO_UDP = 17;
const UDP_HEADER_LENGTH = 8; // RFC 768
const UDP_MAX_SEGMENTS = 64; // <linux/udp.h>: the most a UDP GSO packet may carry (64 before Linux 6.9)
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;
const IP_MAX = 65535;

/** Where a coalescable TCP segment's headers end (IP + TCP with options), or 0 for any other packet. */
function tcpHeaderEnd(p: Uint8Array): number {
  if (p.length < IPV4_HEADER_LENGTH + 20) return 0;
  const v = p[0] >> 4;
  let ip: number;
  if (v === 4) {
    // no IP options, not a fragment, and the length the packet says it has
    if (p[0] !== 0x45 || p[9] !== PROTO_TCP || (p[6] & 0x3f) !== 0 || p[7] !== 0) return 0;
    if (((p[2] << 8) | p[3]) !== p.length) return 0;
    ip = IPV4_HEADER_LENGTH;
  } else if (v === 6) {
    if (p.length < IPV6_HEADER_LENGTH + 20 || p[6] !== PROTO_TCP || ((p[4] << 8) | p[5]) !== p.length - IPV6_HEADER_LENGTH) return 0;
    ip = IPV6_HEADER_LENGTH;
  } else return 0;
  const flags = p[ip + 13];
  if ((flags & ~TCP_PSH) !== TCP_ACK) return 0; // SYN, FIN, RST, URG, ECE, CWR: alone
  const end = ip + (p[ip + 12] >> 4) * 4;
  return end >= ip + 20 && end < p.length ? end : 0; // with a payload, or nothing to coalesce
}

/** Where a coalescable UDP datagram's headers end (IP + UDP), or 0 for any other packet. */
function udpHeaderEnd(p: Uint8Array): number {
  const v = p[0] >> 4;
  let ip: number;
  if (v === 4) {
    // no IP options, not a fragment, and the length the packet says it has
    if (p.length < IPV4_HEADER_LENGTH + UDP_HEADER_LENGTH || p[0] !== 0x45 || p[9] !== PROTO_UDP || (p[6] & 0x3f) !== 0 || p[7] !== 0) return 0;
    if (((p[2] << 8) | p[3]) !== p.length) return 0;
    ip = IPV4_HEADER_LENGTH;
  } else if (v === 6) {
    if (p.length < IPV6_HEADER_LENGTH + UDP_HEADER_LENGTH || p[6] !== PROTO_UDP || ((p[4] << 8) | p[5]) !== p.length - IPV6_HEADER_LENGTH) return 0;
    ip = IPV6_HEADER_LENGTH;
  } else return 0;
  if (((p[ip + 4] << 8) | p[ip + 5]) !== p.length - ip) return 0; // RFC 768 Length: the whole datagram
  const end = ip + UDP_HEADER_LENGTH;
  return end < p.length ? end : 0; // with a payload, or nothing to coalesce
}

const idOf = (p: Uint8Array): number => (p[4] << 8) | p[5];

/** Same flow and IP header apart from length, ID and checksums. */
function sameUdpHeaders(a: Uint8Array, b: Uint8Array): boolean {
  let ip: number;
  if (a[0] >> 4 === 4) {
    if (a[1] !== b[1] || a[6] !== b[6] || a[8] !== b[8]) return false; // TOS, DF, TTL
    for (let i = 12; i < 20; i++) if (a[i] !== b[i]) return false;
    ip = IPV4_HEADER_LENGTH;
  } else {
    for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return false; // version, traffic class, flow label
    for (let i = 7; i < 40; i++) if (a[i] !== b[i]) return false; // hop limit, addresses
    ip = IPV6_HEADER_LENGTH;
  }
  for (let i = ip; i < ip + 4; i++) if (a[i] !== b[i]) return false; // ports
  return true;
}

const seqOf = (p: Uint8Array, t: number): number => ((p[t + 4] << 24) | (p[t + 5] << 16) | (p[t + 6] << 8) | p[t + 7]) >>> 0;

/** Same flow and headers apart from length, ID, sequence number, PSH and checksums. */
function sameHeaders(a: Uint8Array, b: Uint8Array, hl: number): boolean {
  const v4 = a[0] >> 4 === 4;
  const ip = v4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
  if (v4) {
    if (a[1] !== b[1] || a[6] !== b[6] || a[8] !== b[8]) return false; // TOS, DF, TTL
    for (let i = 12; i < 20; i++) if (a[i] !== b[i]) return false;
  } else {
    for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return false; // version, traffic class, flow label
    for (let i = 7; i < 40; i++) if (a[i] !== b[i]) return false; // hop limit, addresses
  }
  for (let i = ip; i < ip + 4; i++) if (a[i] !== b[i]) return false; // ports
  for (let i = ip + 8; i < ip + 12; i++) if (a[i] !== b[i]) return false; // ACK number
  if (a[ip + 12] !== b[ip + 12] || a[ip + 14] !== b[ip + 14] || a[ip + 15] !== b[ip + 15]) return false; // data offset, window
  for (let i = ip + 20; i < hl; i++) if (a[i] !== b[i]) return false; // options (timestamps)
  return true;
}

export interface GroStats {
  /** Super-packets written (runs of two or more packets). */
  superPackets: number;
  /** Packets that went into them. */
  coalesced: number;
}

/**
 * One batch of inner packets made into TUN writes: each output packet is a virtio_net_hdr and
 * an IP packet, in `slab` (reused, grown when a batch needs more) at offsets/lengths[0, count).
 * UDP datagrams are coalesced only with `udp` (the TUN took USO); TCP segments always.
 */
export class GroCoalescer {
  slab = new Uint8Array(256 * 1024);
  offsets = new Uint32Array(256);
  lengths = new Uint32Array(256);
  count = 0;
  readonly stats: GroStats = { superPackets: 0, coalesced: 0 };
  private readonly udp: boolean;
  private at = 0;
  // the run being built: its first packet's view, protocol, header length, segment size, next
  // TCP sequence number, packets
  private first: Uint8Array | undefined;
  private proto = 0;
  private hl = 0;
  private size = 0;
  private next = 0;
  private segs = 0;
  private runStart = 0;
  private last: Uint8Array | undefined;

  constructor(o: { udp?: boolean } = {}) {
    this.udp = o.udp ?? false;
  }

  coalesce(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): this {
    this.count = 0;
    this.at = 0;
    this.first = undefined;
    let bytes = 0;
    for (let i = 0; i < count; i++) bytes += lengths[i] + VIRTIO_NET_HDR_LENGTH;
    if (this.slab.length < bytes) this.slab = new Uint8Array(bytes * 2);
    if (this.offsets.length < count) {
      this.offsets = new Uint32Array(count * 2);
      this.lengths = new Uint32Array(count * 2);
    }
    for (let i = 0; i < count; i++) this.add(buf.subarray(offsets[i], offsets[i] + lengths[i]));
    this.flush();
    return this;
  }

  private add(p: Uint8Array): void {
    let hl = tcpHeaderEnd(p);
    let proto = PROTO_TCP;
    if (hl === 0 && this.udp) {
      hl = udpHeaderEnd(p);
      proto = PROTO_UDP;
    }
    const f = this.first;
    if (f && hl !== 0 && hl === this.hl && proto === this.proto && p[0] >> 4 === f[0] >> 4 && this.continues(f, p, hl)) {
      this.slab.set(p.subarray(hl), this.at);
      this.at += p.length - hl;
      this.next = (this.next + p.length - hl) >>> 0;
      this.segs++;
      this.last = p;
      return;
    }
    this.flush();
    // start a new entry: a zero header and the packet; it may begin a run
    const s = this.slab;
    s.fill(0, this.at, this.at + VIRTIO_NET_HDR_LENGTH);
    this.runStart = this.at;
    s.set(p, this.at + VIRTIO_NET_HDR_LENGTH);
    this.at += VIRTIO_NET_HDR_LENGTH + p.length;
    if (hl === 0) {
      this.close();
      return;
    }
    const ip = p[0] >> 4 === 4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
    this.first = p;
    this.last = p;
    this.proto = proto;
    this.hl = hl;
    this.size = p.length - hl;
    this.next = proto === PROTO_TCP ? (seqOf(p, ip) + this.size) >>> 0 : 0;
    this.segs = 1;
  }

  /** Whether p (same protocol, IP version and header length as the run) extends the run. */
  private continues(f: Uint8Array, p: Uint8Array, hl: number): boolean {
    const last = this.last!;
    const ip = f[0] >> 4 === 4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
    const payload = p.length - hl;
    if (last.length - hl !== this.size || payload > this.size) return false; // the run ended with a short one, or p is longer
    if (this.at - this.runStart - VIRTIO_NET_HDR_LENGTH + payload > IP_MAX) return false;
    if (this.proto === PROTO_TCP) {
      return (last[ip + 13] & TCP_PSH) === 0 && seqOf(p, ip) === this.next && sameHeaders(f, p, hl); // not after a push
    }
    if (this.segs >= UDP_MAX_SEGMENTS || !sameUdpHeaders(f, p)) return false;
    // RFC 6864 §4.1: the ID of an atomic datagram (DF) carries nothing; others keep theirs
    return ip !== IPV4_HEADER_LENGTH || (f[6] & 0x40) !== 0 || idOf(p) === ((idOf(f) + this.segs) & 0xffff);
  }

  /** Ends the run being built: a run of two or more becomes one GSO super-packet. */
  private flush(): void {
    const f = this.first;
    if (!f) return;
    this.first = undefined;
    if (this.segs > 1) this.superHeader(f);
    this.close();
  }

  private close(): void {
    this.offsets[this.count] = this.runStart;
    this.lengths[this.count] = this.at - this.runStart;
    this.count++;
  }

  /** The header of a coalesced run in place: vnet GSO header, IP (and UDP) lengths, PSH of the last, pseudo-header sum for NEEDS_CSUM. */
  private superHeader(f: Uint8Array): void {
    const s = this.slab;
    const h = this.runStart;
    const p = h + VIRTIO_NET_HDR_LENGTH;
    const len = this.at - p;
    const v4 = f[0] >> 4 === 4;
    const ip = v4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
    const tcp = this.proto === PROTO_TCP;
    // virtio spec §5.1.6.2: NEEDS_CSUM at the TCP/UDP checksum, GSO by the segment size
    s[h] = VNET_F_NEEDS_CSUM;
    s[h + 1] = tcp ? (v4 ? GSO_TCPV4 : GSO_TCPV6) : GSO_UDP_L4;
    putLe16(s, h + 2, this.hl);
    putLe16(s, h + 4, this.size);
    putLe16(s, h + 6, ip);
    putLe16(s, h + 8, tcp ? 16 : 6);
    if (v4) {
      put16(s, p + 2, len); // RFC 791 Total Length
      put16(s, p + 10, 0);
      put16(s, p + 10, internetChecksum(s, p, p + IPV4_HEADER_LENGTH));
    } else {
      put16(s, p + 4, len - IPV6_HEADER_LENGTH); // RFC 8200 §3 Payload Length
    }
    if (tcp) {
      s[p + ip + 13] |= this.last![ip + 13] & TCP_PSH;
      // NEEDS_CSUM: the field holds the pseudo-header sum (RFC 9293 §3.1), folded, not complemented
      put16(s, p + ip + 16, foldChecksum(pseudoHeaderSum(s, p, v4, PROTO_TCP, len - ip)));
    } else {
      put16(s, p + ip + 4, len - ip); // RFC 768 Length: the kernel sets each piece's own
      put16(s, p + ip + 6, foldChecksum(pseudoHeaderSum(s, p, v4, PROTO_UDP, len - ip)));
    }
    this.stats.superPackets++;
    this.stats.coalesced += this.segs;
  }
}

/** virtio_net_hdr fields are in the host's order for a TUN: little-endian (as native/src/gso_segment.cc reads them). */
function putLe16(b: Uint8Array, p: number, v: number): void {
  b[p] = v & 0xff;
  b[p + 1] = v >>> 8;
}
