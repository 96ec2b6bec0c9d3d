// What a TUN opened with IFF_VNET_HDR and TUNSETOFFLOAD (tun_open.cc) reads, made into
// ordinary IP packets: each read starts with a virtio_net_hdr (virtio spec v1.2 §5.1.6,
// <linux/virtio_net.h>); a GSO super-packet (up to 64 KB of one TCP or UDP flow) is cut into
// gso_size-sized segments, each a complete packet with its own IP length, IPv4 ID, TCP
// sequence number, flags and checksums, as the kernel's own segmentation would make them; a
// packet whose checksum the kernel left to us (NEEDS_CSUM) gets it finished. The TUN reader
// thread runs it on every read (tun_device.cc); TunDevice.cut runs it on a given buffer (tests).
// Pure arithmetic on bytes: the caller owns every buffer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tsvpn {

// sizeof(struct virtio_net_hdr): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset.
constexpr size_t kVnetHdrLength = 10;
// A read with offloads: the header and an IP packet of up to 64 KB (its 16-bit length field).
constexpr size_t kVnetReadSize = kVnetHdrLength + 65535;
// The most one read is cut into: a 64 KB super-packet at the smallest MSS Linux sends
// (net.ipv4.tcp_min_snd_mss, 48), each segment with up to 120 octets of headers (an IPv4 and
// a TCP header with 40 octets of options each). A reader's slab holds that much beside its
// batch, so any read fits an empty slab; one that would make more is dropped as malformed.
constexpr uint32_t kMaxSegments = (65535 + 47) / 48;
constexpr size_t kMaxCutBytes = 65535 + size_t{kMaxSegments - 1} * 120;

// Room a cut may fill: bytes at `out`, and `slots` entries of offsets/lengths. Offsets are
// written as `base` + the packet's place after `out` (its place in the reader's slab).
struct CutSpace {
  uint8_t* out;
  size_t room;
  uint32_t base;
  uint32_t* offsets;
  uint32_t* lengths;
  uint32_t slots;
};

enum class CutStatus {
  kOk,
  // too short for its header, a GSO type or headers we cannot cut, checksum offsets outside
  // the packet: nothing written
  kMalformed,
  // its packets do not fit the space: nothing written
  kNoRoom,
};

struct CutResult {
  CutStatus status;
  uint32_t packets;  // written at offsets/lengths[0, packets)
  size_t bytes;      // of `out` used
  bool gso;          // a super-packet, cut into `packets` segments
};

// Cuts one read (a virtio_net_hdr and the packet after it, read[0, length)) into `space`.
CutResult CutRead(const uint8_t* read, size_t length, const CutSpace& space);

}  // namespace tsvpn
