// UdpSocket: the JS class for one UDP socket read with recvmmsg (batches from a
// reader thread) and written with sendmmsg (one JS->C crossing per batch).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "mmsg_io.h"

namespace tsvpn {

class BatchReader;

class UdpSocket : public Napi::ObjectWrap<UdpSocket> {
 public:
  static Napi::Function Init(Napi::Env env);
  // new UdpSocket(address: string, port: number, batch: number, slabs: number,
  //               maxDatagram: number, rcvbuf: number, sndbuf: number)
  explicit UdpSocket(const Napi::CallbackInfo& info);
  ~UdpSocket() override;

 private:
  Napi::Value LocalPort(const Napi::CallbackInfo& info);
  Napi::Value Family(const Napi::CallbackInfo& info);
  Napi::Value Slabs(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void CloseNow();
  bool CheckOpen(Napi::Env env);

  int fd_ = -1;
  int family_ = 0;
  uint16_t port_ = 0;
  std::string label_;  // "address:port" for messages
  BatchReader* reader_ = nullptr;
  MmsgSender sender_;
};

}  // namespace tsvpn
