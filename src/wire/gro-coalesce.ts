// The other half of the TUN offloads (src/io/tun-offload.ts): inner packets on their way into
// a TUN opened with IFF_VNET_HDR, each written behind a virtio_net_hdr (virtio spec v1.2
// §5.1.6), consecutive TCP segments of one flow coalesced into one GSO super-packet, as the
// kernel's own GRO would: one TUN write for a run of up to 64 KB instead of one per segment.
// A run is segments that follow each other in the batch with the same addresses, ports, ACK
// number, TTL/traffic class and TCP options, each starting where the last ended, all but the
// last of the first one's size, only ACK (and PSH on the last) set. Anything else is written
// alone behind a zero header. Pure arithmetic on bytes: the buffers are the caller's or its own.

import { foldChecksum, internetChecksum } from './checksum.js';
import { IPV4_HEADER_LENGTH, IPV6_HEADER_LENGTH } from './constants.js';
import { GSO_TCPV4, GSO_TCPV6, pseudoHeaderSum, put16, VIRTIO_NET_HDR_LENGTH, VNET_F_NEEDS_CSUM } from './gso-segment.js';

const PROTO_TCP = 6;
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
  /** Super-packets written (runs of two or more segments). */
  superPackets: number;
  /** Segments that went into them. */
  coalesced: number;
}

/**
 * One batch of inner packets made into TUN writes: each output packet is a virtio_net_hdr and
 * an IP packet, in `slab` (reused, grown when a batch needs more) at offsets/lengths[0, count).
 */
export class GroCoalescer {
  slab = new Uint8Array(256 * 1024);
  offsets = new Uint32Array(256);
  lengths = new Uint32Array(256);
  count = 0;
  readonly stats: GroStats = { superPackets: 0, coalesced: 0 };
  private at = 0;
  // the run being built: its first packet's view, header length, segment size, next sequence number, segments
  private first: Uint8Array | undefined;
  private hl = 0;
  private size = 0;
  private next = 0;
  private segs = 0;
  private runStart = 0;
  private last: Uint8Array | undefined;

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
    const hl = tcpHeaderEnd(p);
    const f = this.first;
    if (f && hl === this.hl && this.last !== undefined) {
      const ip = f[0] >> 4 === 4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
      const payload = p.length - hl;
      const lastPayload = this.last.length - hl;
      const total = this.at - this.runStart - VIRTIO_NET_HDR_LENGTH + payload;
      if (
        p[0] >> 4 === f[0] >> 4 &&
        lastPayload === this.size && // the run has not ended with a short segment
        (this.last[ip + 13] & TCP_PSH) === 0 && // nor with a push
        payload <= this.size &&
        seqOf(p, ip) === this.next &&
        total <= IP_MAX &&
        sameHeaders(f, p, hl)
      ) {
        this.slab.set(p.subarray(hl), this.at);
        this.at += payload;
        this.next = (this.next + payload) >>> 0;
        this.segs++;
        this.last = p;
        return;
      }
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
    this.hl = hl;
    this.size = p.length - hl;
    this.next = (seqOf(p, ip) + this.size) >>> 0;
    this.segs = 1;
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

  /** The header of a coalesced run in place: vnet GSO header, IP lengths, PSH of the last, pseudo-header sum for NEEDS_CSUM. */
  private superHeader(f: Uint8Array): void {
    const s = this.slab;
    const h = this.runStart;
    const p = h + VIRTIO_NET_HDR_LENGTH;
    const len = this.at - p;
    const v4 = f[0] >> 4 === 4;
    const ip = v4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
    // virtio spec §5.1.6.2: NEEDS_CSUM at the TCP checksum, GSO by the segment size
    s[h] = VNET_F_NEEDS_CSUM;
    s[h + 1] = v4 ? GSO_TCPV4 : GSO_TCPV6;
    putLe16(s, h + 2, this.hl);
    putLe16(s, h + 4, this.size);
    putLe16(s, h + 6, ip);
    putLe16(s, h + 8, 16);
    if (v4) {
      put16(s, p + 2, len); // RFC 791 Total Length
      put16(s, p + 10, 0);
      put16(s, p + 10, internetChecksum(s, p, p + IPV4_HEADER_LENGTH));
    } else {
      put16(s, p + 4, len - IPV6_HEADER_LENGTH); // RFC 8200 §3 Payload Length
    }
    s[p + ip + 13] |= this.last![ip + 13] & TCP_PSH;
    // NEEDS_CSUM: the field holds the pseudo-header sum (RFC 9293 §3.1), folded, not complemented
    put16(s, p + ip + 16, foldChecksum(pseudoHeaderSum(s, p, v4, PROTO_TCP, len - ip)));
    this.stats.superPackets++;
    this.stats.coalesced += this.segs;
  }
}

/** virtio_net_hdr fields are in the host's order for a TUN: little-endian (gso-segment.ts readVnetHdr). */
function putLe16(b: Uint8Array, p: number, v: number): void {
  b[p] = v & 0xff;
  b[p + 1] = v >>> 8;
}
