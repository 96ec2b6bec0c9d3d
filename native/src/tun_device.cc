#include "tun_device.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include "batch_args.h"
#include "batch_reader.h"
#include "errno_error.h"
#include "tun_open.h"

namespace tsvpn {

namespace {

const size_t kVnetHdrLength = 10;  // sizeof(struct virtio_net_hdr) <linux/virtio_net.h>

// Reads whole packets back to back into a slab. A TUN read returns one IP
// packet; the device MTU bounds its size, so each read asks for `mtu` bytes (with
// offloads: a virtio_net_hdr and up to 64 KB, so 65535 + 10).
class TunReader : public BatchReader {
 public:
  TunReader(int fd, const ReaderOptions& options, size_t readSize)
      : BatchReader(fd, options), readSize_(readSize) {}

 protected:
  int Fill(Slab& s, int* err) override {
    size_t pos = 0;
    uint32_t n = 0;
    uint64_t bytes = 0;
    while (n < options_.batch && s.size - pos >= readSize_) {
      ssize_t r = read(fd_, s.data + pos, readSize_);
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
  const size_t readSize_;
};

}  // namespace

Napi::Function TunDevice::Init(Napi::Env env) {
  return DefineEndpoint(env, "TunDevice",
                        {InstanceMethod("name", &TunDevice::Name),
                        InstanceMethod("fd", &TunDevice::Fd),
                        InstanceMethod("writeBatch", &TunDevice::WriteBatch),
                        InstanceMethod("offload", &TunDevice::Offload)});
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
  // `batch` packets of at most `mtu` bytes; with offloads, room for one 64 KB read more
  const size_t readSize = vnet_ ? kVnetHdrLength + 65535 : mtu;
  options.slabBytes = vnet_ ? size_t{batch} * (mtu + kVnetHdrLength) + readSize : size_t{batch} * mtu;
  reader_ = new TunReader(fd_, options, readSize);
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

}  // namespace tsvpn
