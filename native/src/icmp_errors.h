// ICMP errors the kernel reports for datagrams a socket sent (IP_RECVERR / IPV6_RECVERR, ip(7),
// ipv6(7)): "fragmentation needed" with the next-hop MTU (RFC 1191 §4), Packet Too Big
// (RFC 4443 §3.2), unreachables. The reader thread drains the socket's error queue into a
// bounded list; JS takes the list (icmpErrors()) when it polls. Failure map F7 (path MTU) and
// F1 (port unreachable) read these.
#pragma once

#include <napi.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <mutex>
#include <vector>

namespace tsvpn {

struct IcmpErrorRecord {
  uint8_t dst[16];       // where the datagram that caused it went (IPv4 as ::ffff:a.b.c.d)
  uint8_t offender[16];  // who sent the ICMP (the router or the peer); zero when unknown
  uint32_t info;         // ee_info: the reported MTU for frag-needed / Packet Too Big
  uint8_t type;
  uint8_t code;
  uint8_t origin;        // SO_EE_ORIGIN_*: 1 local, 2 ICMP, 3 ICMPv6
  int32_t err;           // ee_errno (EMSGSIZE, ECONNREFUSED, ...)
};

// Turns on IP_RECVERR (AF_INET) or IPV6_RECVERR (AF_INET6). False with errno set on failure.
bool EnableRecvErr(int fd, int family);

class IcmpErrorQueue {
 public:
  static constexpr size_t kMax = 256;  // records kept until JS takes them; more are counted, not kept

  // Reader thread: reads the socket's error queue until it is empty.
  void Drain(int fd);
  // JS thread: [{ dst, offender, type, code, origin, info, errno }] and clears the list;
  // `dropped` (records over kMax since the last call) is set on the array when there were any.
  Napi::Array Take(Napi::Env env);

 private:
  std::mutex mu_;
  std::vector<IcmpErrorRecord> records_;
  uint64_t dropped_ = 0;
};

}  // namespace tsvpn
