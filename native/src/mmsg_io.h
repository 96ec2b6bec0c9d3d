// What the datagram sockets (UdpSocket, RawEspSocket) share: address parsing, integer
// arguments, a recvmmsg reader with fixed-stride slots, and a sendmmsg batch sender.
#pragma once

#include <napi.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "batch_args.h"
#include "batch_reader.h"
#include "icmp_errors.h"

namespace tsvpn {

#ifndef UDP_GRO
#define UDP_GRO 104  // <linux/udp.h>, Linux 5.0
#endif

constexpr unsigned kMaxMsgs = 1024;  // UIO_MAXIOV: the kernel's cap per recvmmsg/sendmmsg

// Parses an IPv4 or IPv6 literal into a sockaddr of `family` (an IPv4 address
// for an AF_INET6 socket becomes ::ffff:a.b.c.d). 0 when it does not parse,
// -1 when it is IPv6 but the socket is IPv4.
socklen_t ParseAddress(const std::string& text, uint16_t port, int family, sockaddr_storage* out);

// Sets SO_RCVBUF / SO_SNDBUF (0 keeps the default). nullptr, or the option
// that failed with errno set.
const char* SetBufferSizes(int fd, uint32_t rcvbuf, uint32_t sndbuf);

// Reads up to `batch` datagrams per recvmmsg, slot i at offset i * stride, with
// each source address (16 bytes, IPv4 as ::ffff:a.b.c.d) and port.
// With `gro` (the socket has UDP_GRO on), a message may be a run of datagrams of one size
// from one source (the last may be shorter), its size in a UDP_GRO cmsg: the reader hands
// each datagram of the run to JS as its own packet, so JS sees what it would without GRO.
// Then the stride must hold a whole run (64 KiB) and options.batch count every datagram.
class MmsgReader : public BatchReader {
 public:
  MmsgReader(int fd, const ReaderOptions& options, size_t stride, bool gro = false);
  // ICMP errors for datagrams sent on this fd (the socket turned IP_RECVERR on).
  IcmpErrorQueue& icmpErrors() { return icmp_; }

 protected:
  int Fill(Slab& s, int* err) override;
  void DrainErrors() override { icmp_.Drain(fd_); }
  const char* ReadSyscall() const override { return "recvmmsg"; }
  // Which bytes of a received datagram JS gets: false drops it (counted in
  // rxErrors); *skip bytes at the front are left out. The default keeps all.
  virtual bool Trim(const uint8_t* data, uint32_t len, uint32_t* skip) const {
    *skip = 0;
    return true;
  }

 private:
  const size_t stride_;
  const bool gro_;
  std::vector<mmsghdr> msgs_;
  std::vector<uint64_t> control_;  // GRO: one cmsg (UDP_GRO, an int) per message, 8-byte aligned
  std::vector<iovec> iovs_;
  std::vector<sockaddr_storage> names_;
  IcmpErrorQueue icmp_;
};

// Sends a checked batch to one destination with sendmmsg; counts what it sends
// and what the kernel refuses (never throws). With UDP GSO on (a UDP socket), a run of
// datagrams that lie back to back in the buffer with the same length (the last may be
// shorter) goes as one message with UDP_SEGMENT: the kernel cuts it into those datagrams,
// so the wire is the same with one trip through the stack per run instead of per datagram.
class MmsgSender : public TxCounters {
 public:
  uint32_t Send(int fd, const BatchArgs& args, const sockaddr_storage& dst, socklen_t dstLen);
  void EnableGso() { gso_ = true; }
  // Whether runs still go with UDP_SEGMENT, and the errno that turned it off (0: never refused).
  bool GsoOn() const { return gso_; }
  int GsoErrno() const { return gsoErrno_; }

 private:
  uint32_t SendPlain(int fd, const BatchArgs& args, uint32_t from, const sockaddr_storage& dst,
                     socklen_t dstLen);
  uint32_t SendGso(int fd, const BatchArgs& args, const sockaddr_storage& dst, socklen_t dstLen);

  bool gso_ = false;
  int gsoErrno_ = 0;
  std::vector<mmsghdr> msgs_;  // grown once to the largest batch sent
  std::vector<iovec> iovs_;
  std::vector<uint32_t> first_;  // GSO: the first datagram and how many each message carries
  std::vector<uint32_t> segs_;
  std::vector<uint64_t> control_;  // GSO: one cmsg (UDP_SEGMENT) per message, 8-byte aligned
};

}  // namespace tsvpn
