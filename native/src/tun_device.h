// TunDevice: the JS class for one TUN device — a batch reader thread and batch writes.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace tsvpn {

class BatchReader;

class TunDevice : public Napi::ObjectWrap<TunDevice> {
 public:
  static Napi::Function Init(Napi::Env env);
  // new TunDevice(name: string, mtu: number, batch: number, slabs: number)
  explicit TunDevice(const Napi::CallbackInfo& info);
  ~TunDevice() override;

 private:
  Napi::Value Name(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Slabs(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value WriteBatch(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void CloseNow();
  bool CheckOpen(Napi::Env env);

  int fd_ = -1;
  std::string name_;
  BatchReader* reader_ = nullptr;
  uint64_t txPackets_ = 0;
  uint64_t txBytes_ = 0;
  uint64_t txErrors_ = 0;
};

}  // namespace tsvpn
