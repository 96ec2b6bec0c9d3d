// TunDevice: the JS class for one TUN device — a batch reader thread and batch writes.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "endpoint.h"

namespace tsvpn {

class TunDevice : public Endpoint<TunDevice> {
  friend class Endpoint<TunDevice>;
 public:
  static Napi::Function Init(Napi::Env env);
  // new TunDevice(name: string, mtu: number, batch: number, slabs: number)
  explicit TunDevice(const Napi::CallbackInfo& info);

 private:
  Napi::Value Name(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value WriteBatch(const Napi::CallbackInfo& info);
  const TxCounters& Tx() const { return tx_; }

  std::string name_;
  TxCounters tx_;
};

}  // namespace tsvpn
