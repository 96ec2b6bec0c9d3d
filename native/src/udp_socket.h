// UdpSocket: the JS class for one UDP socket read with recvmmsg (batches from a
// reader thread) and written with sendmmsg (one JS->C crossing per batch).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "endpoint.h"
#include "mmsg_io.h"

namespace tsvpn {

class UdpSocket : public Endpoint<UdpSocket> {
  friend class Endpoint<UdpSocket>;
 public:
  static Napi::Function Init(Napi::Env env);
  // new UdpSocket(address: string, port: number, batch: number, slabs: number,
  //               maxDatagram: number, rcvbuf: number, sndbuf: number, gro?: boolean)
  // With gro, UDP_GRO is asked for (mmsg_io.h MmsgReader); gro() says whether the kernel took it.
  explicit UdpSocket(const Napi::CallbackInfo& info);

 private:
  Napi::Value LocalPort(const Napi::CallbackInfo& info);
  Napi::Value Family(const Napi::CallbackInfo& info);
  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value IcmpErrors(const Napi::CallbackInfo& info);
  Napi::Value Gro(const Napi::CallbackInfo& info);
  Napi::Value Gso(const Napi::CallbackInfo& info);
  const TxCounters& Tx() const { return sender_; }

  int family_ = 0;
  uint16_t port_ = 0;
  bool gro_ = false;
  int groErrno_ = 0;  // why UDP_GRO was refused (0: on, or not asked for)
  std::string label_;  // "address:port" for messages
  MmsgSender sender_;
};

}  // namespace tsvpn
