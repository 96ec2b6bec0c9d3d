#include "raw_socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

#include "errno_error.h"

namespace tsvpn {

namespace {

constexpr int kProtoEsp = 50;        // IANA protocol number of ESP (RFC 4303 §2)
constexpr uint32_t kMaxIpv4Header = 60;  // RFC 791 §3.1: IHL is at most 15 32-bit words

// An IPv4 raw socket receives the IP header with the packet (raw(7)); JS gets what follows
// it. IPv6 raw sockets never include the header, so their reader keeps every byte.
class RawEsp4Reader : public MmsgReader {
 public:
  using MmsgReader::MmsgReader;

 protected:
  bool Trim(const uint8_t* p, uint32_t len, uint32_t* skip) const override {
    if (len < 20 || (p[0] >> 4) != 4) return false;
    const uint32_t ihl = uint32_t{p[0] & 0x0fu} * 4;  // RFC 791 §3.1: header length in words
    if (ihl < 20 || ihl > len || p[9] != kProtoEsp) return false;
    *skip = ihl;
    return true;
  }
};

// 4 or 6 for an address literal, 0 when it is neither.
int AddressFamily(const std::string& text, sockaddr_storage* out) {
  socklen_t len = ParseAddress(text, 0, AF_INET, out);
  if (len == sizeof(sockaddr_in)) return AF_INET;
  if (len == static_cast<socklen_t>(-1) && ParseAddress(text, 0, AF_INET6, out) > 0) return AF_INET6;
  return 0;
}

socklen_t AddrLen(int family) {
  return family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

std::string OpenHint(int err) {
  if (err == EPERM || err == EACCES) return "opening a raw ESP socket needs root or CAP_NET_RAW";
  if (err == EAFNOSUPPORT) return "this kernel has no support for the address family";
  return "";
}

std::string BindHint(int err) {
  if (err == EADDRNOTAVAIL) return "the address is not assigned to a local interface";
  return "";
}

}  // namespace

Napi::Function RawEspSocket::Init(Napi::Env env) {
  return DefineEndpoint(env, "RawEspSocket",
                        {InstanceMethod("family", &RawEspSocket::Family),
                        InstanceMethod("sendBatch", &RawEspSocket::SendBatch),
                        InstanceMethod("icmpErrors", &RawEspSocket::IcmpErrors)});
}

RawEspSocket::RawEspSocket(const Napi::CallbackInfo& info) : Endpoint(info) {
  Napi::Env env = info.Env();
  std::string address;
  if (!StringArg(info, 0, "the local address", &address)) return;
  uint32_t batch, slabs, maxPacket, rcvbuf, sndbuf;
  if (!IntArg(info, 1, 1, kMaxMsgs, "batch", &batch) || !IntArg(info, 2, 2, 64, "slabs", &slabs) ||
      !IntArg(info, 3, 1, 65535, "maxPacket", &maxPacket) ||
      !IntArg(info, 4, 0, 1u << 30, "rcvbuf", &rcvbuf) ||
      !IntArg(info, 5, 0, 1u << 30, "sndbuf", &sndbuf)) {
    return;
  }
  sockaddr_storage local;
  const int family = AddressFamily(address, &local);
  if (family == 0) {
    ArgError(env, "'" + address + "' is not an IPv4 or IPv6 address").ThrowAsJavaScriptException();
    return;
  }
  label_ = address;
  what_ = "raw ESP socket on " + label_;
  // No IP_HDRINCL: the kernel writes the outer header (raw(7)), protocol 50 from socket().
  int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, kProtoEsp);
  if (fd < 0) {
    int err = errno;
    ErrnoError(env, err, "socket", "cannot open a raw ESP socket on " + label_, OpenHint(err))
        .ThrowAsJavaScriptException();
    return;
  }
  const char* failed = SetBufferSizes(fd, rcvbuf, sndbuf);
  // DF: IP_MTU_DISCOVER stays at the kernel default IP_PMTUDISC_WANT, DF on every outer packet up
  // to the path MTU the kernel knows, larger ones fragmented here (docs/failure-map.md F7)
  // ICMP errors for our ESP packets (path MTU, failure map F7) come back on the error queue
  if (!failed && !EnableRecvErr(fd, family)) failed = family == AF_INET ? "IP_RECVERR" : "IPV6_RECVERR";
  if (failed) {
    int err = errno;
    close(fd);
    ErrnoError(env, err, "setsockopt", std::string("cannot set ") + failed + " on raw ESP " + label_)
        .ThrowAsJavaScriptException();
    return;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), AddrLen(family)) < 0) {
    int err = errno;
    close(fd);
    ErrnoError(env, err, "bind", "cannot bind raw ESP socket to " + label_, BindHint(err))
        .ThrowAsJavaScriptException();
    return;
  }
  fd_ = fd;
  family_ = family;
  ReaderOptions options;
  options.slabs = slabs;
  options.batch = batch;
  options.withAddrs = true;
  if (family == AF_INET) {
    const size_t stride = size_t{maxPacket} + kMaxIpv4Header;  // room for the received header
    options.slabBytes = size_t{batch} * stride;
    reader_ = new RawEsp4Reader(fd_, options, stride);
  } else {
    options.slabBytes = size_t{batch} * maxPacket;
    reader_ = new MmsgReader(fd_, options, maxPacket);
  }
  reader_->AllocateSlabs(env);
}

Napi::Value RawEspSocket::Family(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), family_ == AF_INET6 ? 6 : 4);
}

// sendBatch(buf, offsets, lengths, count, address): ESP packets sent, each with an outer
// IP header (protocol 50) that the kernel adds.
Napi::Value RawEspSocket::SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  BatchArgs args;
  if (!ParseBatchArgs(info, 0, &args)) return env.Undefined();
  std::string address;
  if (!StringArg(info, 4, "the destination address", &address)) return env.Undefined();
  sockaddr_storage dst;
  const int family = AddressFamily(address, &dst);
  if (family != family_) {
    ArgError(env, family == 0 ? "'" + address + "' is not an IPv4 or IPv6 address"
                              : "cannot send to " + std::string(family == AF_INET ? "IPv4 " : "IPv6 ") +
                                    address + " from raw ESP socket on " + label_)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, sender_.Send(fd_, args, dst, AddrLen(family)));
}

}  // namespace tsvpn

namespace tsvpn {

// icmpErrors(): the ICMP errors reported for what this socket sent since the last call.
Napi::Value RawEspSocket::IcmpErrors(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return static_cast<MmsgReader*>(reader_)->icmpErrors().Take(info.Env());
}

}  // namespace tsvpn
