#include "udp_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "errno_error.h"
#include "mmsg_io.h"

namespace tsvpn {

namespace {

constexpr size_t kGroRunBytes = 65536;      // the largest UDP datagram GRO can hand up, and more
constexpr uint32_t kGroRunSegments = 64;   // UDP_GRO_CNT_MAX (<net/udp.h>): most datagrams GRO merges
constexpr uint32_t kGroMaxSegments = 128;  // UDP_MAX_SEGMENTS (<net/udp.h>) since Linux 6.9: most a local GSO send carries

std::string BindHint(int err, uint16_t port) {
  if (err == EADDRINUSE) return "another socket is bound to this address and port";
  if (err == EADDRNOTAVAIL) return "the address is not assigned to a local interface";
  if (err == EACCES && port < 1024) return "binding a port below 1024 needs root or CAP_NET_BIND_SERVICE";
  return "";
}

}  // namespace

Napi::Function UdpSocket::Init(Napi::Env env) {
  return DefineEndpoint(env, "UdpSocket",
                        {InstanceMethod("localPort", &UdpSocket::LocalPort),
                        InstanceMethod("family", &UdpSocket::Family),
                        InstanceMethod("sendBatch", &UdpSocket::SendBatch),
                        InstanceMethod("icmpErrors", &UdpSocket::IcmpErrors),
                        InstanceMethod("gro", &UdpSocket::Gro),
                        InstanceMethod("gso", &UdpSocket::Gso)});
}

UdpSocket::UdpSocket(const Napi::CallbackInfo& info) : Endpoint(info) {
  Napi::Env env = info.Env();
  std::string address;
  if (!StringArg(info, 0, "the local address", &address)) return;
  uint32_t port, batch, slabs, maxDatagram, rcvbuf, sndbuf;
  if (!IntArg(info, 1, 0, 65535, "port", &port) || !IntArg(info, 2, 1, kMaxMsgs, "batch", &batch) ||
      !IntArg(info, 3, 2, 64, "slabs", &slabs) ||
      !IntArg(info, 4, 1, 65535, "maxDatagram", &maxDatagram) ||
      !IntArg(info, 5, 0, 1u << 30, "rcvbuf", &rcvbuf) ||
      !IntArg(info, 6, 0, 1u << 30, "sndbuf", &sndbuf)) {
    return;
  }
  label_ = (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" +
           std::to_string(port);
  what_ = "UDP socket " + label_;
  sockaddr_storage local;
  int family = address.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  socklen_t len = ParseAddress(address, static_cast<uint16_t>(port), family, &local);
  if (len == 0 || len == static_cast<socklen_t>(-1)) {
    ArgError(env, "'" + address + "' is not an IPv4 or IPv6 address").ThrowAsJavaScriptException();
    return;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ErrnoError(env, errno, "socket", "cannot create a UDP socket for " + label_)
        .ThrowAsJavaScriptException();
    return;
  }
  int one = 1;
  const char* failed = nullptr;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) failed = "SO_REUSEADDR";
  if (!failed) failed = SetBufferSizes(fd, rcvbuf, sndbuf);
  // DF: IP_MTU_DISCOVER stays at the kernel default IP_PMTUDISC_WANT, DF on every outer packet up
  // to the path MTU the kernel knows, larger ones fragmented here (docs/failure-map.md F7)
  // ICMP errors for our datagrams (path MTU, failure map F7) come back on the error queue
  if (!failed && !EnableRecvErr(fd, family)) failed = family == AF_INET ? "IP_RECVERR" : "IPV6_RECVERR";
  // runs of same-size datagrams (ESP in UDP) go as one UDP_SEGMENT message each (mmsg_io.h);
  // a kernel or route that cannot do it turns it off at the first refusal
  sender_.EnableGso();
  if (failed) {
    int err = errno;
    close(fd);
    ErrnoError(env, err, "setsockopt", std::string("cannot set ") + failed + " on " + label_)
        .ThrowAsJavaScriptException();
    return;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), len) < 0) {
    int err = errno;
    close(fd);
    ErrnoError(env, err, "bind", "cannot bind UDP " + label_, BindHint(err, port))
        .ThrowAsJavaScriptException();
    return;
  }
  sockaddr_storage bound;
  socklen_t boundLen = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &boundLen);
  port_ = family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port)
                            : ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  const bool wantGro = info.Length() > 7 && info[7].IsBoolean() && info[7].As<Napi::Boolean>().Value();
  if (wantGro) {
    // runs of datagrams from one source come up as one message (mmsg_io.h); a kernel that
    // refuses leaves one datagram per message, as without it
    if (setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof one) == 0) gro_ = true;
    else groErrno_ = errno;
  }
  fd_ = fd;
  family_ = family;
  ReaderOptions options;
  options.slabs = slabs;
  options.withAddrs = true;
  size_t stride = maxDatagram;  // fixed stride: one datagram per slot
  options.batch = batch;
  if (gro_) {
    // a slot holds a whole run (up to 64 KiB), and a batch as many runs as `batch` datagrams
    // make in runs of 64 (UDP_GRO_CNT_MAX; at least one run), so a batch into the datapath,
    // and from there into the TUN, is no larger than without GRO; a packet entry for every
    // datagram a run can carry (UDP_MAX_SEGMENTS, 128 since Linux 6.9)
    stride = kGroRunBytes;
    const uint32_t runs = std::max<uint32_t>(1, batch / kGroRunSegments);
    options.batch = std::min<uint32_t>(runs * kGroMaxSegments, kMaxMsgs);
    options.slabBytes = size_t{runs} * stride;
  } else {
    options.slabBytes = size_t{batch} * maxDatagram;
  }
  reader_ = new MmsgReader(fd_, options, stride, gro_);
  reader_->AllocateSlabs(env);
}

Napi::Value UdpSocket::LocalPort(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), port_);
}

Napi::Value UdpSocket::Family(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), family_ == AF_INET6 ? 6 : 4);
}

// sendBatch(buf, offsets, lengths, count, address, port): datagrams sent.
Napi::Value UdpSocket::SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  BatchArgs args;
  if (!ParseBatchArgs(info, 0, &args)) return env.Undefined();
  uint32_t port;
  std::string address;
  if (!StringArg(info, 4, "the destination address", &address)) return env.Undefined();
  if (!IntArg(info, 5, 1, 65535, "the destination port", &port)) return env.Undefined();
  sockaddr_storage dst;
  socklen_t dstLen = ParseAddress(address, static_cast<uint16_t>(port), family_, &dst);
  if (dstLen == 0 || dstLen == static_cast<socklen_t>(-1)) {
    ArgError(env, dstLen == 0 ? "'" + address + "' is not an IPv4 or IPv6 address"
                              : "cannot send to IPv6 " + address + " from IPv4 socket " + label_)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint32_t sent = sender_.Send(fd_, args, dst, dstLen);
  return Napi::Number::New(env, sent);
}

}  // namespace tsvpn

namespace tsvpn {

// gro(): { on, errno }: whether UDP_GRO is on; errno why the kernel refused it (0 if not asked).
Napi::Value UdpSocket::Gro(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("on", Napi::Boolean::New(info.Env(), gro_));
  o.Set("errno", Napi::Number::New(info.Env(), groErrno_));
  return o;
}

// icmpErrors(): the ICMP errors reported for what this socket sent since the last call.
Napi::Value UdpSocket::IcmpErrors(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return static_cast<MmsgReader*>(reader_)->icmpErrors().Take(info.Env());
}

// gso(): { on, errno }: whether runs of ESP datagrams still go as one UDP_SEGMENT message; errno
// of the refusal that turned it off (mmsg_io.cc SendGso; 0 while it works).
Napi::Value UdpSocket::Gso(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("on", Napi::Boolean::New(info.Env(), sender_.GsoOn()));
  o.Set("errno", Napi::Number::New(info.Env(), sender_.GsoErrno()));
  return o;
}

}  // namespace tsvpn
