// The virtio_net_hdr (virtio spec v1.2 §5.1.6, <linux/virtio_net.h>) that every read and
// write of a TUN opened with IFF_VNET_HDR and TUNSETOFFLOAD carries: its length, flags and GSO
// types, and the pseudo-header sum a super-packet's NEEDS_CSUM field holds. The TUN reader
// thread cuts the super-packets the kernel hands over (native/src/gso_segment.cc); the ones
// tsvpn writes are built by src/wire/gro-coalesce.ts. Pure arithmetic on bytes.

import { onesComplementSum } from './checksum.js';

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

/**
 * The unfolded sum of the TCP/UDP pseudo-header (RFC 9293 §3.1, RFC 768; RFC 8200 §8.1) of the
 * IP packet at b[ip]: source, destination, protocol and the `l4Length` octets from the L4 header on.
 */
export function pseudoHeaderSum(b: Uint8Array, ip: number, v4: boolean, proto: number, l4Length: number): number {
  return v4 ? onesComplementSum(b, proto + l4Length, ip + 12, ip + 20) : onesComplementSum(b, proto + l4Length, ip + 8, ip + 40);
}

/** A big-endian 16-bit field. */
export function put16(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 8;
  b[p + 1] = v & 0xff;
}
