#include "tun_device.h"

#include <errno.h>
#include <unistd.h>

#include "batch_args.h"
#include "batch_reader.h"
#include "errno_error.h"
#include "tun_open.h"

namespace tsvpn {

namespace {

// Reads whole packets back to back into a slab. A TUN read returns one IP
// packet; the device MTU bounds its size, so each read asks for `mtu` bytes.
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
                        InstanceMethod("writeBatch", &TunDevice::WriteBatch)});
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
  int fd = OpenTun(env, name, static_cast<int>(mtu), &name_);
  if (fd < 0) return;
  fd_ = fd;
  what_ = "TUN device " + name_;
  ReaderOptions options;
  options.slabs = slabs;
  options.batch = batch;
  options.slabBytes = size_t{batch} * mtu;  // `batch` packets of at most `mtu` bytes
  reader_ = new TunReader(fd_, options, mtu);
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
  uint32_t written = 0;
  for (uint32_t i = 0; i < args.count; i++) {
    ssize_t r;
    do {
      r = write(fd_, args.data + args.offsets[i], args.lengths[i]);
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

}  // namespace tsvpn
