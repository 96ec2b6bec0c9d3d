#include "udp_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "batch_args.h"
#include "batch_reader.h"
#include "errno_error.h"

namespace tsvpn {

namespace {

constexpr unsigned kMaxMsgs = 1024;  // UIO_MAXIOV: the kernel's cap per recvmmsg/sendmmsg

// Parses an IPv4 or IPv6 literal into a sockaddr of `family` (an IPv4 address
// for an AF_INET6 socket becomes ::ffff:a.b.c.d). 0 when it does not parse,
// -1 when it is IPv6 but the socket is IPv4.
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

// ICMP errors reported on the socket; they concern one earlier datagram, not the reader.
bool IsTransient(int err) {
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EHOSTDOWN ||
         err == ENETDOWN || err == EMSGSIZE || err == EINTR;
}

class UdpReader : public BatchReader {
 public:
  UdpReader(int fd, const ReaderOptions& options, size_t stride)
      : BatchReader(fd, options),
        stride_(stride),
        msgs_(options.batch),
        iovs_(options.batch),
        names_(options.batch) {}

 protected:
  int Fill(Slab& s, int* err) override {
    const unsigned want = std::min<size_t>({options_.batch, s.size / stride_, kMaxMsgs});
    for (unsigned i = 0; i < want; i++) {
      iovs_[i] = {s.data + i * stride_, stride_};
      memset(&msgs_[i], 0, sizeof msgs_[i]);
      msgs_[i].msg_hdr.msg_name = &names_[i];
      msgs_[i].msg_hdr.msg_namelen = sizeof names_[i];
      msgs_[i].msg_hdr.msg_iov = &iovs_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
    }
    int r = recvmmsg(fd_, msgs_.data(), want, MSG_DONTWAIT, nullptr);
    if (r < 0) {
      *err = errno;
      if (IsTransient(*err)) {
        if (*err != EINTR) rxErrors_.fetch_add(1, std::memory_order_relaxed);
        *err = EINTR;  // read again
      }
      return -1;
    }
    uint32_t n = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < r; i++) {
      if (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) {
        rxErrors_.fetch_add(1, std::memory_order_relaxed);  // larger than maxDatagram: dropped
        continue;
      }
      s.offsets[n] = static_cast<uint32_t>(i * stride_);
      s.lengths[n] = msgs_[i].msg_len;
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
      bytes += msgs_[i].msg_len;
      n++;
    }
    rxPackets_.fetch_add(n, std::memory_order_relaxed);
    rxBytes_.fetch_add(bytes, std::memory_order_relaxed);
    if (n == 0) *err = r == 0 ? EAGAIN : EINTR;
    return n == 0 ? -1 : static_cast<int>(n);
  }
  const char* ReadSyscall() const override { return "recvmmsg"; }

 private:
  const size_t stride_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<sockaddr_storage> names_;
};

bool IntArg(const Napi::CallbackInfo& info, size_t i, double lo, double hi, const char* what,
            uint32_t* out) {
  double v = info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -1;
  if (!(v >= lo && v <= hi) || v != static_cast<double>(static_cast<uint32_t>(v))) {
    ArgError(info.Env(), std::string(what) + " must be an integer from " +
                             std::to_string(uint64_t(lo)) + " to " + std::to_string(uint64_t(hi)),
             true)
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

std::string BindHint(int err, uint16_t port) {
  if (err == EADDRINUSE) return "another socket is bound to this address and port";
  if (err == EADDRNOTAVAIL) return "the address is not assigned to a local interface";
  if (err == EACCES && port < 1024) return "binding a port below 1024 needs root or CAP_NET_BIND_SERVICE";
  return "";
}

}  // namespace

Napi::Function UdpSocket::Init(Napi::Env env) {
  return DefineClass(env, "UdpSocket",
                     {InstanceMethod("localPort", &UdpSocket::LocalPort),
                      InstanceMethod("family", &UdpSocket::Family),
                      InstanceMethod("slabs", &UdpSocket::Slabs),
                      InstanceMethod("start", &UdpSocket::Start),
                      InstanceMethod("sendBatch", &UdpSocket::SendBatch),
                      InstanceMethod("stats", &UdpSocket::Stats),
                      InstanceMethod("ref", &UdpSocket::Ref),
                      InstanceMethod("unref", &UdpSocket::Unref),
                      InstanceMethod("close", &UdpSocket::Close)});
}

UdpSocket::UdpSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpSocket>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ArgError(env, "the local address must be a string").ThrowAsJavaScriptException();
    return;
  }
  const std::string address = info[0].As<Napi::String>().Utf8Value();
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
  int r = static_cast<int>(rcvbuf), s = static_cast<int>(sndbuf);
  // The *FORCE variants pass net.core.[rw]mem_max with CAP_NET_ADMIN; without it the plain
  // option applies, capped by the sysctl.
  if (!failed && r > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &r, sizeof r) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r, sizeof r) < 0) {
    failed = "SO_RCVBUF";
  }
  if (!failed && s > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &s, sizeof s) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s, sizeof s) < 0) {
    failed = "SO_SNDBUF";
  }
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
  fd_ = fd;
  family_ = family;
  ReaderOptions options;
  options.slabs = slabs;
  options.batch = batch;
  options.slabBytes = size_t{batch} * maxDatagram;  // fixed stride: one datagram per slot
  options.withAddrs = true;
  reader_ = new UdpReader(fd_, options, maxDatagram);
  reader_->AllocateSlabs(env);
}

UdpSocket::~UdpSocket() {
  CloseNow();
  if (reader_ != nullptr) reader_->Dispose();
}

void UdpSocket::CloseNow() {
  if (reader_ != nullptr) reader_->Stop();  // joins the thread before the fd goes away
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

bool UdpSocket::CheckOpen(Napi::Env env) {
  if (fd_ >= 0) return true;
  Napi::Error error = Napi::Error::New(env, "UDP socket " + label_ + " is closed");
  error.Set("code", Napi::String::New(env, "ERR_CLOSED"));
  error.ThrowAsJavaScriptException();
  return false;
}

Napi::Value UdpSocket::LocalPort(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), port_);
}

Napi::Value UdpSocket::Family(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), family_ == AF_INET6 ? 6 : 4);
}

Napi::Value UdpSocket::Slabs(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return reader_->SlabObjects(info.Env());
}

Napi::Value UdpSocket::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    ArgError(env, "start(cb) needs a function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  reader_->Start(env, info[0].As<Napi::Function>());
  return env.Undefined();
}

// sendBatch(buf, offsets, lengths, count, address, port): datagrams sent.
Napi::Value UdpSocket::SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  BatchArgs args;
  if (!ParseBatchArgs(info, 0, &args)) return env.Undefined();
  uint32_t port;
  if (info.Length() < 5 || !info[4].IsString()) {
    ArgError(env, "the destination address must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!IntArg(info, 5, 1, 65535, "the destination port", &port)) return env.Undefined();
  const std::string address = info[4].As<Napi::String>().Utf8Value();
  sockaddr_storage dst;
  socklen_t dstLen = ParseAddress(address, static_cast<uint16_t>(port), family_, &dst);
  if (dstLen == 0 || dstLen == static_cast<socklen_t>(-1)) {
    ArgError(env, dstLen == 0 ? "'" + address + "' is not an IPv4 or IPv6 address"
                              : "cannot send to IPv6 " + address + " from IPv4 socket " + label_)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (sendMsgs_.size() < args.count) {
    sendMsgs_.resize(args.count);
    sendIovs_.resize(args.count);
  }
  for (uint32_t i = 0; i < args.count; i++) {
    sendIovs_[i] = {const_cast<uint8_t*>(args.data + args.offsets[i]), args.lengths[i]};
    memset(&sendMsgs_[i], 0, sizeof sendMsgs_[i]);
    sendMsgs_[i].msg_hdr.msg_name = &dst;
    sendMsgs_[i].msg_hdr.msg_namelen = dstLen;
    sendMsgs_[i].msg_hdr.msg_iov = &sendIovs_[i];
    sendMsgs_[i].msg_hdr.msg_iovlen = 1;
  }
  uint32_t sent = 0;
  uint32_t i = 0;
  while (i < args.count) {
    int r = sendmmsg(fd_, &sendMsgs_[i], std::min(args.count - i, kMaxMsgs), 0);
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        txErrors_ += args.count - i;  // the send buffer is full: drop the rest of the batch
        break;
      }
      txErrors_++;  // this datagram failed (EMSGSIZE, unreachable, ...): skip it
      i++;
      continue;
    }
    for (int j = 0; j < r; j++) txBytes_ += sendMsgs_[i + j].msg_len;
    txPackets_ += static_cast<uint32_t>(r);
    sent += static_cast<uint32_t>(r);
    i += static_cast<uint32_t>(r);
  }
  return Napi::Number::New(env, sent);
}

Napi::Value UdpSocket::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  const bool r = reader_ != nullptr;
  out.Set("rxPackets", Napi::Number::New(env, r ? double(reader_->rxPackets()) : 0));
  out.Set("rxBytes", Napi::Number::New(env, r ? double(reader_->rxBytes()) : 0));
  out.Set("rxBatches", Napi::Number::New(env, r ? double(reader_->rxBatches()) : 0));
  out.Set("rxErrors", Napi::Number::New(env, r ? double(reader_->rxErrors()) : 0));
  out.Set("txPackets", Napi::Number::New(env, double(txPackets_)));
  out.Set("txBytes", Napi::Number::New(env, double(txBytes_)));
  out.Set("txErrors", Napi::Number::New(env, double(txErrors_)));
  return out;
}

Napi::Value UdpSocket::Ref(const Napi::CallbackInfo& info) {
  if (reader_ != nullptr) reader_->Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value UdpSocket::Unref(const Napi::CallbackInfo& info) {
  if (reader_ != nullptr) reader_->Unref(info.Env());
  return info.Env().Undefined();
}

Napi::Value UdpSocket::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

}  // namespace tsvpn
