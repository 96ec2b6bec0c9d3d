// Endpoint<T>: the JS class plumbing TunDevice, UdpSocket and RawEspSocket share — the
// fd, the BatchReader and its lifecycle (slabs, start, ref/unref, close), stats and the
// "is closed" check. A class derives from Endpoint<itself> (CRTP), opens its fd and
// reader in its constructor, gives its TxCounters through Tx(), and lists only its own
// methods in DefineEndpoint().
#pragma once

#include <napi.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "batch_reader.h"
#include "errno_error.h"

namespace tsvpn {

template <typename T>
class Endpoint : public Napi::ObjectWrap<T> {
 public:
  explicit Endpoint(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T>(info) {}
  ~Endpoint() override {
    CloseNow();
    if (reader_ != nullptr) reader_->Dispose();
  }

 protected:
  using Method = typename Napi::ObjectWrap<T>::PropertyDescriptor;

  // The class `name` with `own` methods plus slabs, start, stats, ref, unref and close.
  static Napi::Function DefineEndpoint(Napi::Env env, const char* name, std::vector<Method> own) {
    using W = Napi::ObjectWrap<T>;
    own.push_back(W::InstanceMethod("slabs", &Endpoint::Slabs));
    own.push_back(W::InstanceMethod("start", &Endpoint::Start));
    own.push_back(W::InstanceMethod("stats", &Endpoint::Stats));
    own.push_back(W::InstanceMethod("ref", &Endpoint::Ref));
    own.push_back(W::InstanceMethod("unref", &Endpoint::Unref));
    own.push_back(W::InstanceMethod("close", &Endpoint::Close));
    return W::DefineClass(env, name, own);
  }

  // Stops the reader and closes the fd (a non-persistent TUN device disappears with its
  // last fd). The reader stays (stopped) until the object is collected, so stats() still
  // reports the totals after close().
  void CloseNow() {
    if (reader_ != nullptr) reader_->Stop();  // joins the thread before the fd goes away
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  // True while open; otherwise false with an ERR_CLOSED error pending ("<what_> is closed").
  bool CheckOpen(Napi::Env env) {
    if (fd_ >= 0) return true;
    Napi::Error error = Napi::Error::New(env, what_ + " is closed");
    error.Set("code", Napi::String::New(env, "ERR_CLOSED"));
    error.ThrowAsJavaScriptException();
    return false;
  }

  int fd_ = -1;
  std::string what_;  // "TUN device tun0", "UDP socket 127.0.0.1:4500", ... for messages
  BatchReader* reader_ = nullptr;

 private:
  Napi::Value Slabs(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    return reader_->SlabObjects(info.Env());
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      ArgError(env, "start(cb) needs a function").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    reader_->Start(env, info[0].As<Napi::Function>());
    return env.Undefined();
  }

  // The reader's counters and the class's TxCounters (T::Tx()).
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    return StatsObject(info.Env(), reader_, static_cast<const T*>(this)->Tx());
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (reader_ != nullptr) reader_->Ref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (reader_ != nullptr) reader_->Unref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseNow();
    return info.Env().Undefined();
  }
};

}  // namespace tsvpn
