#include "gso_segment.h"

#include <cstring>

#include "checksum.h"

namespace tsvpn {

namespace {

constexpr uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM: csum_start/csum_offset name a checksum to finish
constexpr uint8_t kGsoNone = 0;
constexpr uint8_t kGsoTcpV4 = 1;
constexpr uint8_t kGsoTcpV6 = 4;
constexpr uint8_t kGsoUdpL4 = 5;  // USO (Linux 6.2+, TUN_F_USO4/6)
constexpr uint8_t kGsoEcn = 0x80;  // flag of gso_type: the TCP super-packet carries CWR (RFC 3168 §6.1.2)

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpCwr = 0x80;
constexpr size_t kIpv4HeaderLength = 20;
constexpr size_t kIpv6HeaderLength = 40;
constexpr size_t kTcpHeaderLength = 20;
constexpr size_t kUdpHeaderLength = 8;

// The header's 16-bit fields are in the host's byte order for a TUN (tun_is_little_endian():
// little-endian unless TUNSETVNETBE). hdr_len is not read: the kernel only hints it, the
// headers themselves say how long they are.
struct VnetHdr {
  uint8_t flags;
  uint8_t gsoType;
  uint16_t gsoSize;
  uint16_t csumStart;
  uint16_t csumOffset;
};

uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void PutBe16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

VnetHdr ReadHdr(const uint8_t* b) {
  return {b[0], b[1], Le16(b + 4), Le16(b + 6), Le16(b + 8)};
}

// Where a super-packet's headers end and how many segments it makes.
struct Plan {
  bool v4;
  bool tcp;
  size_t l4;           // offset of the TCP/UDP header (csum_start)
  size_t headerLength; // IP header (with any IPv6 extension headers) plus TCP/UDP header: in every segment
  uint32_t segments;
  size_t bytes;        // the segments back to back
};

// False when `pkt` is not a TCPv4, TCPv6 or UDP (USO) super-packet with consistent headers.
bool PlanCut(const VnetHdr& h, const uint8_t* pkt, size_t len, Plan* plan) {
  const uint8_t type = h.gsoType & ~kGsoEcn;
  if (h.gsoSize == 0 || len < kIpv4HeaderLength) return false;
  const bool v4 = pkt[0] >> 4 == 4;
  if (!v4 && pkt[0] >> 4 != 6) return false;
  if ((type == kGsoTcpV4 && !v4) || (type == kGsoTcpV6 && v4)) return false;
  if (type != kGsoTcpV4 && type != kGsoTcpV6 && type != kGsoUdpL4) return false;
  // the kernel sets csum_start to the transport header for every GSO packet
  const size_t l4 = h.csumStart;
  const size_t ipHeader = v4 ? static_cast<size_t>(pkt[0] & 0x0f) * 4 : kIpv6HeaderLength;
  if (v4 ? l4 != ipHeader || ipHeader < kIpv4HeaderLength : l4 < ipHeader) return false;
  const bool tcp = type != kGsoUdpL4;
  const uint8_t proto = tcp ? kProtoTcp : kProtoUdp;
  if (v4 && pkt[9] != proto) return false;
  if (!v4 && l4 == kIpv6HeaderLength && pkt[6] != proto) return false;
  if (len < l4 + (tcp ? kTcpHeaderLength : kUdpHeaderLength)) return false;
  // RFC 9293 §3.1: Data Offset, the TCP header's length in 32-bit words
  const size_t headerLength = l4 + (tcp ? static_cast<size_t>(pkt[l4 + 12] >> 4) * 4 : kUdpHeaderLength);
  if (headerLength > len || (tcp && headerLength < l4 + kTcpHeaderLength)) return false;
  const size_t payload = len - headerLength;
  const size_t segments = payload == 0 ? 1 : (payload + h.gsoSize - 1) / h.gsoSize;
  *plan = {v4, tcp, l4, headerLength, static_cast<uint32_t>(segments),
           len + (segments - 1) * headerLength};
  return true;
}

// Writes the planned segments of `pkt` to space.out back to back.
void WriteSegments(const VnetHdr& h, const Plan& plan, const uint8_t* pkt, size_t len,
                   const CutSpace& space) {
  const size_t hl = plan.headerLength;
  const size_t l4 = plan.l4;
  const size_t mss = h.gsoSize;
  const uint16_t id = Be16(pkt + 4);
  const uint32_t seq = Be32(pkt + l4 + 4);
  const uint8_t flags = pkt[l4 + 13];
  const size_t ihl = static_cast<size_t>(pkt[0] & 0x0f) * 4;
  // RFC 9293 §3.1, RFC 768, RFC 8200 §8.1: the pseudo-header's addresses and protocol, the
  // same in every segment
  const uint64_t pseudo = (plan.v4 ? SumBytes(pkt + 12, 8, 0) : SumBytes(pkt + 8, 32, 0)) +
                          Field16(plan.tcp ? kProtoTcp : kProtoUdp);
  size_t o = 0;
  for (uint32_t i = 0; i < plan.segments; i++) {
    const size_t from = hl + i * mss;
    const size_t size = len - from < mss ? len - from : mss;
    const size_t segLength = hl + size;
    uint8_t* s = space.out + o;
    memcpy(s, pkt, hl);
    memcpy(s + hl, pkt + from, size);
    if (plan.v4) {
      PutBe16(s + 2, segLength);  // RFC 791: Total Length
      PutBe16(s + 4, (id + i) & 0xffffu);  // a new Identification per segment, as the kernel's TSO does
      s[10] = s[11] = 0;
      StoreChecksum(s + 10, Fold(SumBytes(s, ihl, 0)));  // RFC 791: Header Checksum
    } else {
      PutBe16(s + 4, segLength - kIpv6HeaderLength);  // RFC 8200 §3: Payload Length
    }
    uint8_t* t = s + l4;
    const size_t l4Length = segLength - l4;
    if (plan.tcp) {
      PutBe32(t + 4, seq + static_cast<uint32_t>(i * mss));  // RFC 9293 §3.4: each segment's first octet
      uint8_t f = flags;
      if (i + 1 < plan.segments) f &= ~(kTcpFin | kTcpPsh);  // only the last segment ends or pushes
      if (i > 0) f &= ~kTcpCwr;  // RFC 3168 §6.1.2: CWR on the first segment only
      t[13] = f;
      t[16] = t[17] = 0;
      StoreChecksum(t + 16, Fold(SumBytes(t, l4Length, pseudo + Field16(l4Length))));
    } else {
      PutBe16(t + 4, l4Length);  // RFC 768: Length
      t[6] = t[7] = 0;
      StoreChecksum(t + 6, Fold(SumBytes(t, l4Length, pseudo + Field16(l4Length))), true);
    }
    space.offsets[i] = space.base + static_cast<uint32_t>(o);
    space.lengths[i] = static_cast<uint32_t>(segLength);
    o += segLength;
  }
}

// virtio spec §5.1.6.2: NEEDS_CSUM: the field at csum_start + csum_offset holds the
// pseudo-header sum; the checksum is the complement of the sum from csum_start to the end.
bool ChecksumInside(const VnetHdr& h, size_t len) {
  return h.csumStart < len && size_t{h.csumStart} + h.csumOffset + 2 <= len;
}

void FinishChecksum(const VnetHdr& h, uint8_t* pkt, size_t len) {
  // csum_start is where the TCP/UDP header begins, an even offset from the pseudo-header's view
  const uint16_t folded = Fold(SumBytes(pkt + h.csumStart, len - h.csumStart, 0));
  const bool udp = h.csumOffset == 6 && (pkt[0] >> 4 == 4 ? pkt[9] == kProtoUdp
                                         : h.csumStart == kIpv6HeaderLength && pkt[6] == kProtoUdp);
  StoreChecksum(pkt + h.csumStart + h.csumOffset, folded, udp);  // RFC 768: 0 goes as all ones
}

constexpr CutResult kMalformed{CutStatus::kMalformed, 0, 0, false};
constexpr CutResult kNoRoom{CutStatus::kNoRoom, 0, 0, false};

}  // namespace

CutResult CutRead(const uint8_t* read, size_t length, const CutSpace& space) {
  if (length <= kVnetHdrLength) return kMalformed;
  const VnetHdr h = ReadHdr(read);
  const uint8_t* pkt = read + kVnetHdrLength;
  const size_t len = length - kVnetHdrLength;
  if (h.gsoType == kGsoNone) {
    const bool needsCsum = (h.flags & kNeedsCsum) != 0;
    if (needsCsum && !ChecksumInside(h, len)) return kMalformed;
    if (space.slots < 1 || space.room < len) return kNoRoom;
    memcpy(space.out, pkt, len);
    if (needsCsum) FinishChecksum(h, space.out, len);
    space.offsets[0] = space.base;
    space.lengths[0] = static_cast<uint32_t>(len);
    return {CutStatus::kOk, 1, len, false};
  }
  Plan plan;
  if (!PlanCut(h, pkt, len, &plan)) return kMalformed;
  if (space.slots < plan.segments || space.room < plan.bytes) return kNoRoom;
  WriteSegments(h, plan, pkt, len, space);
  return {CutStatus::kOk, plan.segments, plan.bytes, true};
}

}  // namespace tsvpn
