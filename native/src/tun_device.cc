#include "tun_device.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "batch_args.h"
#include "batch_reader.h"
#include "errno_error.h"
#include "gso_segment.h"
#include "tun_open.h"

namespace tsvpn {

// Reads whole packets back to back into a slab. A TUN read returns one IP packet; the device
// MTU bounds its size, so each read asks for `mtu` bytes.
class TunReader : public BatchReader {
 public:
  TunReader(int fd, const ReaderOptions& options, size_t mtu) : BatchReader(fd, options), mtu_(mtu) {}

 protected:
  int Fill(Slab& s, int* err) override {
    size_t pos = 0;
    uint32_t n = 0;
    uint64_t bytes = 0;
    while (n < options_.batch && s.size - pos >= mtu_) {
      ssize_t r = read(fd_, s.data + pos, mtu_);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (n > 0) break;  // deliver what we have; a lasting error recurs next time
        *err = errno;
        return -1;
      }
      if (r == 0) break;
      s.offsets[n] = static_cast<uint32_t>(pos);
      s.lengths[n] = static_cast<uint32_t>(r);
      pos += static_cast<size_t>(r);
      bytes += static_cast<uint64_t>(r);
      n++;
    }
    rxPackets_.fetch_add(n, std::memory_order_relaxed);
    rxBytes_.fetch_add(bytes, std::memory_order_relaxed);
    if (n == 0) *err = EAGAIN;
    return static_cast<int>(n);
  }
  const char* ReadSyscall() const override { return "read"; }
  std::string FailureHint(int err) const override {
    // tun_chr_read_iter(): EBADFD once the interface is detached from the fd.
    return err == EBADFD ? "the TUN device was deleted (e.g. `ip link del`)" : "";
  }

 private:
  const size_t mtu_;
};

// With offloads (IFF_VNET_HDR), TunReader's failure reporting with its own Fill: each read is a virtio_net_hdr and a packet of up to 64 KB,
// read into a buffer of the thread's own and cut into the slab as packets of at most the MTU
// (gso_segment.cc), so JS gets plain IP packets as without offloads. Counts reads in
// rxPackets/rxBytes as they came from the kernel. A read whose packets do not fit what is
// left of the slab waits for the next slab; one that does not fit an empty slab is malformed.
class VnetTunReader : public TunReader {
 public:
  // options.slots: room for a batch and for the most one read is cut into (kMaxSegments)
  VnetTunReader(int fd, const ReaderOptions& options, size_t mtu)
      : TunReader(fd, options, mtu), read_(kVnetReadSize) {}

  uint64_t superPackets() const { return superPackets_.load(std::memory_order_relaxed); }
  uint64_t segments() const { return segments_.load(std::memory_order_relaxed); }
  uint64_t malformed() const { return malformed_.load(std::memory_order_relaxed); }

 protected:
  int Fill(Slab& s, int* err) override {
    size_t pos = 0;
    uint32_t n = 0;  // packets in the slab
    uint32_t taken = 0;  // reads cut (or dropped) into this slab
    uint32_t reads = 0;  // reads from the kernel
    uint64_t bytes = 0;
    while (taken < options_.batch) {
      if (pending_ == 0) {
        ssize_t r = read(fd_, read_.data(), read_.size());
        if (r < 0) {
          if (errno == EINTR) continue;
          if (n > 0) break;  // deliver what we have; a lasting error recurs next time
          *err = errno;
          Count(reads, bytes);
          return -1;
        }
        if (r == 0) break;
        pending_ = static_cast<size_t>(r);
        reads++;
        bytes += pending_;
      }
      taken++;
      const CutSpace space{s.data + pos, s.size - pos, static_cast<uint32_t>(pos),
                           s.offsets + n, s.lengths + n, options_.slots - n};
      const CutResult cut = CutRead(read_.data(), pending_, space);
      if (cut.status == CutStatus::kNoRoom && n > 0) break;  // kept for the next slab
      pending_ = 0;
      if (cut.status != CutStatus::kOk) {
        malformed_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (cut.gso) {
        superPackets_.fetch_add(1, std::memory_order_relaxed);
        segments_.fetch_add(cut.packets, std::memory_order_relaxed);
      }
      pos += cut.bytes;
      n += cut.packets;
    }
    Count(reads, bytes);
    if (n == 0) *err = EAGAIN;
    return static_cast<int>(n);
  }

 private:
  void Count(uint32_t reads, uint64_t bytes) {
    rxPackets_.fetch_add(reads, std::memory_order_relaxed);
    rxBytes_.fetch_add(bytes, std::memory_order_relaxed);
  }

  std::vector<uint8_t> read_;  // one read; still holds it while pending_ != 0
  size_t pending_ = 0;         // length of a read not yet cut into a slab
  std::atomic<uint64_t> superPackets_{0};
  std::atomic<uint64_t> segments_{0};
  std::atomic<uint64_t> malformed_{0};
};

Napi::Function TunDevice::Init(Napi::Env env) {
  return DefineEndpoint(env, "TunDevice",
                        {InstanceMethod("name", &TunDevice::Name),
                        InstanceMethod("fd", &TunDevice::Fd),
                        InstanceMethod("writeBatch", &TunDevice::WriteBatch),
                        InstanceMethod("offload", &TunDevice::Offload),
                        InstanceMethod("offloadStats", &TunDevice::OffloadStats),
                        StaticMethod("cut", &TunDevice::Cut)});
}

TunDevice::TunDevice(const Napi::CallbackInfo& info) : Endpoint(info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!StringArg(info, 0, "the TUN device name", &name)) return;
  uint32_t mtu, batch, slabs;
  if (!IntArg(info, 1, 68, 65535, "mtu", &mtu) || !IntArg(info, 2, 1, 1024, "batch", &batch) ||
      !IntArg(info, 3, 2, 64, "slabs", &slabs)) {
    return;
  }
  vnet_ = info.Length() > 4 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
  int fd = OpenTun(env, name, static_cast<int>(mtu), &name_, vnet_);
  if (fd < 0) return;
  if (vnet_) offload_ = EnableOffload(fd);
  fd_ = fd;
  what_ = "TUN device " + name_;
  ReaderOptions options;
  options.slabs = slabs;
  options.batch = batch;
  // `batch` packets of at most `mtu` bytes; with offloads, room for the most one read is cut into
  options.slabBytes = size_t{batch} * mtu + (vnet_ ? kMaxCutBytes : 0);
  options.slots = batch + (vnet_ ? kMaxSegments : 0);
  if (vnet_) {
    vnetReader_ = new VnetTunReader(fd_, options, mtu);
    reader_ = vnetReader_;
  } else {
    reader_ = new TunReader(fd_, options, mtu);
  }
  reader_->AllocateSlabs(env);
}

Napi::Value TunDevice::Name(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), name_);
}

Napi::Value TunDevice::Fd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fd_);
}

Napi::Value TunDevice::WriteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  BatchArgs args;
  if (!ParseBatchArgs(info, 0, &args)) return env.Undefined();
  // packets that carry their own virtio_net_hdr (GRO super-packets, src/wire/gro-coalesce.ts)
  const bool own = vnet_ && info.Length() > 4 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
  uint32_t written = 0;
  // with IFF_VNET_HDR every write starts with a header: all zero (no GSO, checksum complete)
  static const uint8_t zeroHdr[kVnetHdrLength] = {};
  struct iovec iov[2];
  iov[0].iov_base = const_cast<uint8_t*>(zeroHdr);
  iov[0].iov_len = kVnetHdrLength;
  for (uint32_t i = 0; i < args.count; i++) {
    ssize_t r;
    do {
      if (vnet_ && !own) {
        iov[1].iov_base = const_cast<uint8_t*>(args.data + args.offsets[i]);
        iov[1].iov_len = args.lengths[i];
        r = writev(fd_, iov, 2);
        if (r >= static_cast<ssize_t>(kVnetHdrLength)) r -= kVnetHdrLength;
      } else {
        r = write(fd_, args.data + args.offsets[i], args.lengths[i]);
        if (own && r >= static_cast<ssize_t>(kVnetHdrLength)) r -= kVnetHdrLength;
      }
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      tx_.txErrors++;  // EAGAIN/ENOBUFS and malformed packets (EINVAL) are drops, not exceptions
      continue;
    }
    written++;
    tx_.txPackets++;
    tx_.txBytes += static_cast<uint64_t>(r);
  }
  return Napi::Number::New(env, written);
}

Napi::Value TunDevice::Offload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("vnet", Napi::Boolean::New(env, vnet_));
  o.Set("flags", Napi::Number::New(env, offload_.flags));
  o.Set("errno", Napi::Number::New(env, offload_.err));
  o.Set("refused", Napi::String::New(env, offload_.refused));
  return o;
}

Napi::Value TunDevice::OffloadStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const VnetTunReader* r = vnetReader_;
  Napi::Object o = Napi::Object::New(env);
  o.Set("superPackets", Napi::Number::New(env, r != nullptr ? double(r->superPackets()) : 0));
  o.Set("segments", Napi::Number::New(env, r != nullptr ? double(r->segments()) : 0));
  o.Set("malformed", Napi::Number::New(env, r != nullptr ? double(r->malformed()) : 0));
  return o;
}

Napi::Value TunDevice::Cut(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsTypedArray() ||
      !info[2].IsTypedArray() || !info[3].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    ArgError(env, "cut(read: Uint8Array, out: Uint8Array, offsets: Uint32Array, lengths: Uint32Array)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array read = info[0].As<Napi::Uint8Array>();
  Napi::Uint8Array out = info[1].As<Napi::Uint8Array>();
  Napi::Uint32Array offsets = info[2].As<Napi::Uint32Array>();
  Napi::Uint32Array lengths = info[3].As<Napi::Uint32Array>();
  if (read.ElementLength() > kVnetReadSize) {
    ArgError(env, "a read is at most a virtio_net_hdr and 65535 octets", true).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint32_t slots = static_cast<uint32_t>(std::min(offsets.ElementLength(), lengths.ElementLength()));
  const CutSpace space{out.Data(), out.ElementLength(), 0, offsets.Data(), lengths.Data(), slots};
  const CutResult cut = CutRead(read.Data(), read.ElementLength(), space);
  if (cut.status == CutStatus::kNoRoom) {
    ArgError(env, "the packets of this read do not fit out, offsets and lengths", true).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, cut.status == CutStatus::kOk ? double(cut.packets) : -1);
}

}  // namespace tsvpn
