// RawEspSocket: the JS class for one raw IP socket of protocol 50 (ESP, RFC 4303), read
// with recvmmsg (batches from a reader thread) and written with sendmmsg. The kernel
// writes the outer IP header on send; on receive JS gets the ESP packet without it.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "endpoint.h"
#include "mmsg_io.h"

namespace tsvpn {

class RawEspSocket : public Endpoint<RawEspSocket> {
  friend class Endpoint<RawEspSocket>;
 public:
  static Napi::Function Init(Napi::Env env);
  // new RawEspSocket(address: string, batch: number, slabs: number,
  //                  maxPacket: number, rcvbuf: number, sndbuf: number)
  explicit RawEspSocket(const Napi::CallbackInfo& info);

 private:
  Napi::Value Family(const Napi::CallbackInfo& info);
  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value IcmpErrors(const Napi::CallbackInfo& info);
  const TxCounters& Tx() const { return sender_; }

  int family_ = 0;
  std::string label_;  // the bound address, for messages
  MmsgSender sender_;
};

}  // namespace tsvpn
