#include "mmsg_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <algorithm>

#include "errno_error.h"

namespace tsvpn {

namespace {

// ICMP errors reported on the socket; they concern one earlier datagram, not the reader.
bool IsTransient(int err) {
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EHOSTDOWN ||
         err == ENETDOWN || err == EMSGSIZE || err == EINTR;
}

}  // namespace

socklen_t ParseAddress(const std::string& text, uint16_t port, int family, sockaddr_storage* out) {
  memset(out, 0, sizeof *out);
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    if (family == AF_INET6) {
      auto* sa = reinterpret_cast<sockaddr_in6*>(out);
      sa->sin6_family = AF_INET6;
      sa->sin6_port = htons(port);
      sa->sin6_addr.s6_addr[10] = 0xff;
      sa->sin6_addr.s6_addr[11] = 0xff;
      memcpy(&sa->sin6_addr.s6_addr[12], &v4, 4);
      return sizeof(sockaddr_in6);
    }
    auto* sa = reinterpret_cast<sockaddr_in*>(out);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    sa->sin_addr = v4;
    return sizeof(sockaddr_in);
  }
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (family == AF_INET) return static_cast<socklen_t>(-1);
    auto* sa = reinterpret_cast<sockaddr_in6*>(out);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    sa->sin6_addr = v6;
    return sizeof(sockaddr_in6);
  }
  return 0;
}

const char* SetBufferSizes(int fd, uint32_t rcvbuf, uint32_t sndbuf) {
  int r = static_cast<int>(rcvbuf), s = static_cast<int>(sndbuf);
  // The *FORCE variants pass net.core.[rw]mem_max with CAP_NET_ADMIN; without it the plain
  // option applies, capped by the sysctl.
  if (r > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &r, sizeof r) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r, sizeof r) < 0) {
    return "SO_RCVBUF";
  }
  if (s > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &s, sizeof s) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s, sizeof s) < 0) {
    return "SO_SNDBUF";
  }
  return nullptr;
}

namespace {
constexpr size_t kGroCtlWords = CMSG_SPACE(sizeof(int)) / sizeof(uint64_t) + 1;

// The segment size of a UDP_GRO run (0: one datagram).
uint32_t GroSize(const msghdr& h) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int size;
      memcpy(&size, CMSG_DATA(c), sizeof size);
      return size > 0 ? static_cast<uint32_t>(size) : 0;
    }
  }
  return 0;
}
}  // namespace

MmsgReader::MmsgReader(int fd, const ReaderOptions& options, size_t stride, bool gro)
    : BatchReader(fd, options),
      stride_(stride),
      gro_(gro),
      msgs_(options.batch),
      control_(gro ? options.batch * kGroCtlWords : 0),
      iovs_(options.batch),
      names_(options.batch) {}

int MmsgReader::Fill(Slab& s, int* err) {
  const unsigned want = std::min<size_t>({options_.batch, s.size / stride_, kMaxMsgs});
  for (unsigned i = 0; i < want; i++) {
    iovs_[i] = {s.data + i * stride_, stride_};
    memset(&msgs_[i], 0, sizeof msgs_[i]);
    msgs_[i].msg_hdr.msg_name = &names_[i];
    msgs_[i].msg_hdr.msg_namelen = sizeof names_[i];
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    if (gro_) {
      msgs_[i].msg_hdr.msg_control = &control_[i * kGroCtlWords];
      msgs_[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(int));
    }
  }
  int r = recvmmsg(fd_, msgs_.data(), want, MSG_DONTWAIT, nullptr);
  if (r < 0) {
    *err = errno;
    if (IsTransient(*err)) {
      if (*err != EINTR) rxErrors_.fetch_add(1, std::memory_order_relaxed);
      if (*err != EINTR) icmp_.Drain(fd_);  // the error's record is queued (IP_RECVERR)
      *err = EINTR;  // read again
    }
    return -1;
  }
  uint32_t n = 0;
  uint64_t bytes = 0;
  for (int i = 0; i < r; i++) {
    const uint32_t len = msgs_[i].msg_len;
    if (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) {
      rxErrors_.fetch_add(1, std::memory_order_relaxed);  // too large: dropped
      continue;
    }
    // a GRO run is cut back into its datagrams: all of `size` octets, the last may be shorter
    const uint32_t size = gro_ ? GroSize(msgs_[i].msg_hdr) : 0;
    const uint32_t step = size > 0 && size < len ? size : len;
    const uint32_t pieces = step == 0 ? 1 : (len + step - 1) / step;  // an empty datagram is one packet
    for (uint32_t k = 0; k < pieces; k++) {
      const uint32_t at = k * step;
      const uint32_t piece = std::min(step, len - at);
      uint8_t* data = s.data + i * stride_ + at;
      uint32_t skip = 0;
      if (n == options_.batch || !Trim(data, piece, &skip)) {
        rxErrors_.fetch_add(1, std::memory_order_relaxed);  // malformed, or no slot left: dropped
        continue;
      }
      s.offsets[n] = static_cast<uint32_t>(i * stride_ + at + skip);
      s.lengths[n] = piece - skip;
      uint8_t* a = s.addrs + n * 16;
      if (names_[i].ss_family == AF_INET) {
        auto* sa = reinterpret_cast<const sockaddr_in*>(&names_[i]);
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &sa->sin_addr, 4);
        s.ports[n] = ntohs(sa->sin_port);
      } else {
        auto* sa = reinterpret_cast<const sockaddr_in6*>(&names_[i]);
        memcpy(a, &sa->sin6_addr, 16);
        s.ports[n] = ntohs(sa->sin6_port);
      }
      bytes += piece - skip;
      n++;
    }
  }
  rxPackets_.fetch_add(n, std::memory_order_relaxed);
  rxBytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (n == 0) *err = r == 0 ? EAGAIN : EINTR;
  return n == 0 ? -1 : static_cast<int>(n);
}

uint32_t MmsgSender::Send(int fd, const BatchArgs& args, const sockaddr_storage& dst,
                          socklen_t dstLen) {
  return gso_ ? SendGso(fd, args, dst, dstLen) : SendPlain(fd, args, 0, dst, dstLen);
}

uint32_t MmsgSender::SendPlain(int fd, const BatchArgs& args, uint32_t from,
                               const sockaddr_storage& dst, socklen_t dstLen) {
  if (msgs_.size() < args.count) {
    msgs_.resize(args.count);
    iovs_.resize(args.count);
  }
  for (uint32_t i = from; i < args.count; i++) {
    iovs_[i] = {const_cast<uint8_t*>(args.data + args.offsets[i]), args.lengths[i]};
    memset(&msgs_[i], 0, sizeof msgs_[i]);
    msgs_[i].msg_hdr.msg_name = const_cast<sockaddr_storage*>(&dst);
    msgs_[i].msg_hdr.msg_namelen = dstLen;
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
  uint32_t sent = 0;
  uint32_t i = from;
  while (i < args.count) {
    int r = sendmmsg(fd, &msgs_[i], std::min(args.count - i, kMaxMsgs), 0);
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        txErrors += args.count - i;  // the send buffer is full: drop the rest of the batch
        break;
      }
      txErrors++;  // this datagram failed (EMSGSIZE, unreachable, ...): skip it
      i++;
      continue;
    }
    for (int j = 0; j < r; j++) txBytes += msgs_[i + j].msg_len;
    txPackets += static_cast<uint32_t>(r);
    sent += static_cast<uint32_t>(r);
    i += static_cast<uint32_t>(r);
  }
  return sent;
}

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // <linux/udp.h>, Linux 4.18
#endif

namespace {
constexpr uint32_t kGsoMaxSegments = 64;      // UDP_MAX_SEGMENTS was 64 before Linux 6.9
constexpr uint32_t kGsoMaxBytes = 65507 - 8;  // one UDP payload over IPv4, less room for a tail
}  // namespace

uint32_t MmsgSender::SendGso(int fd, const BatchArgs& args, const sockaddr_storage& dst,
                             socklen_t dstLen) {
  if (msgs_.size() < args.count) {
    msgs_.resize(args.count);
    iovs_.resize(args.count);
    first_.resize(args.count);
    segs_.resize(args.count);
    control_.resize(args.count * (CMSG_SPACE(sizeof(uint16_t)) / sizeof(uint64_t) + 1));
  }
  const size_t ctlWords = CMSG_SPACE(sizeof(uint16_t)) / sizeof(uint64_t) + 1;
  // group the datagrams into runs: back to back, one length, the last of a run may be shorter
  uint32_t m = 0;
  for (uint32_t i = 0; i < args.count;) {
    const uint32_t size = args.lengths[i];
    uint32_t j = i + 1;
    uint32_t total = size;
    while (j < args.count && j - i < kGsoMaxSegments && args.offsets[j] == args.offsets[j - 1] + args.lengths[j - 1] &&
           args.lengths[j] <= size && total + args.lengths[j] <= kGsoMaxBytes) {
      total += args.lengths[j];
      j++;
      if (args.lengths[j - 1] < size) break;  // a shorter one ends the run
    }
    first_[m] = i;
    segs_[m] = j - i;
    iovs_[m] = {const_cast<uint8_t*>(args.data + args.offsets[i]), total};
    memset(&msgs_[m], 0, sizeof msgs_[m]);
    msgs_[m].msg_hdr.msg_name = const_cast<sockaddr_storage*>(&dst);
    msgs_[m].msg_hdr.msg_namelen = dstLen;
    msgs_[m].msg_hdr.msg_iov = &iovs_[m];
    msgs_[m].msg_hdr.msg_iovlen = 1;
    if (j - i > 1) {
      uint64_t* ctl = &control_[m * ctlWords];
      msgs_[m].msg_hdr.msg_control = ctl;
      msgs_[m].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
      cmsghdr* c = CMSG_FIRSTHDR(&msgs_[m].msg_hdr);
      c->cmsg_level = IPPROTO_UDP;  // SOL_UDP
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const uint16_t gsoSize = static_cast<uint16_t>(size);
      memcpy(CMSG_DATA(c), &gsoSize, sizeof gsoSize);
    }
    m++;
    i = j;
  }
  uint32_t sent = 0;
  uint32_t k = 0;
  while (k < m) {
    int r = sendmmsg(fd, &msgs_[k], std::min(m - k, kMaxMsgs), 0);
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        txErrors += args.count - first_[k];  // the send buffer is full: drop the rest of the batch
        break;
      }
      if (segs_[k] > 1) {
        // the kernel or the route will not segment (EIO: no checksum offload on the way out,
        // EINVAL: a segment over the path MTU, ...): this batch's rest one datagram per message,
        // and no GSO from now on where the socket cannot do it at all
        if (err != EINVAL) {
          gso_ = false;
          gsoErrno_ = err;
        }
        return sent + SendPlain(fd, args, first_[k], dst, dstLen);
      }
      txErrors++;  // this datagram failed (EMSGSIZE, unreachable, ...): skip it
      k++;
      continue;
    }
    for (int j = 0; j < r; j++) {
      txBytes += msgs_[k + j].msg_len;
      txPackets += segs_[k + j];
      sent += segs_[k + j];
      if (segs_[k + j] > 1) txGso++;
    }
    k += static_cast<uint32_t>(r);
  }
  return sent;
}

}  // namespace tsvpn
