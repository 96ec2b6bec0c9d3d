#include "icmp_errors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <string.h>

namespace tsvpn {

namespace {

// 16-byte form of a sockaddr (IPv4 as ::ffff:a.b.c.d); zero for anything else.
void ToBytes16(const sockaddr* sa, uint8_t out[16]) {
  memset(out, 0, 16);
  if (sa->sa_family == AF_INET) {
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    memcpy(out, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
  }
}

Napi::Value Address(Napi::Env env, const uint8_t a[16]) {
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char text[INET6_ADDRSTRLEN];
  bool zero = true;
  for (int i = 0; i < 16; i++) zero = zero && a[i] == 0;
  if (zero) return env.Null();
  if (memcmp(a, kMapped, 12) == 0) {
    inet_ntop(AF_INET, a + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, a, text, sizeof text);
  }
  return Napi::String::New(env, text);
}

}  // namespace

bool EnableRecvErr(int fd, int family) {
  int one = 1;
  if (family == AF_INET) return setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof one) == 0;
  return setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof one) == 0;
}

void IcmpErrorQueue::Drain(int fd) {
  for (int n = 0; n < 1024; n++) {  // bounded: a flood cannot hold the reader here
    uint8_t data[64];               // the offending datagram's start; not kept
    alignas(cmsghdr) uint8_t control[512];
    sockaddr_storage name;
    iovec iov = {data, sizeof data};
    msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &name;
    msg.msg_namelen = sizeof name;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;  // EAGAIN: empty
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      const bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR;
      const bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR;
      if (!v4 && !v6) continue;
      const auto* ee = reinterpret_cast<const sock_extended_err*>(CMSG_DATA(c));
      IcmpErrorRecord r;
      memset(&r, 0, sizeof r);
      if (msg.msg_namelen > 0) ToBytes16(reinterpret_cast<const sockaddr*>(&name), r.dst);
      if (ee->ee_origin == SO_EE_ORIGIN_ICMP || ee->ee_origin == SO_EE_ORIGIN_ICMP6) {
        ToBytes16(SO_EE_OFFENDER(ee), r.offender);
      }
      r.info = ee->ee_info;
      r.type = ee->ee_type;
      r.code = ee->ee_code;
      r.origin = ee->ee_origin;
      r.err = static_cast<int32_t>(ee->ee_errno);
      std::lock_guard<std::mutex> lock(mu_);
      if (records_.size() < kMax) {
        records_.push_back(r);
      } else {
        dropped_++;
      }
    }
  }
}

Napi::Array IcmpErrorQueue::Take(Napi::Env env) {
  std::vector<IcmpErrorRecord> taken;
  uint64_t dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    taken.swap(records_);
    dropped = dropped_;
    dropped_ = 0;
  }
  Napi::Array out = Napi::Array::New(env, taken.size());
  for (size_t i = 0; i < taken.size(); i++) {
    const IcmpErrorRecord& r = taken[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("dst", Address(env, r.dst));
    o.Set("offender", Address(env, r.offender));
    o.Set("type", Napi::Number::New(env, r.type));
    o.Set("code", Napi::Number::New(env, r.code));
    o.Set("origin", Napi::Number::New(env, r.origin));
    o.Set("info", Napi::Number::New(env, r.info));
    o.Set("errno", Napi::Number::New(env, r.err));
    out.Set(static_cast<uint32_t>(i), o);
  }
  if (dropped > 0) out.Set("dropped", Napi::Number::New(env, static_cast<double>(dropped)));
  return out;
}

}  // namespace tsvpn
