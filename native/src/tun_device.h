// TunDevice: the JS class for one TUN device — a batch reader thread and batch writes.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "endpoint.h"
#include "tun_open.h"

namespace tsvpn {

class VnetTunReader;

class TunDevice : public Endpoint<TunDevice> {
  friend class Endpoint<TunDevice>;
 public:
  static Napi::Function Init(Napi::Env env);
  // new TunDevice(name: string, mtu: number, batch: number, slabs: number, offload?: boolean)
  // offload: IFF_VNET_HDR and TUNSETOFFLOAD; reads then hand over a virtio_net_hdr before each
  // packet (up to 64 KB: GSO), which the reader thread cuts into packets of at most the MTU
  // (gso_segment.h) before JS sees them, and writeBatch puts a zero one before each packet it writes,
  // or, with its fifth argument true, writes packets that begin with their own.
  explicit TunDevice(const Napi::CallbackInfo& info);
  // TunDevice.cut(read, out, offsets, lengths): the reader's cut (gso_segment.h) of one read
  // (a virtio_net_hdr and its packet) into out, from offset 0; returns the packets written,
  // -1 for a malformed read; RangeError when they do not fit. For tests.
  static Napi::Value Cut(const Napi::CallbackInfo& info);

 private:
  Napi::Value Name(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value WriteBatch(const Napi::CallbackInfo& info);
  // { vnet: boolean, flags: number (TUN_F_*), errno: number, refused: string }
  Napi::Value Offload(const Napi::CallbackInfo& info);
  // { superPackets, segments, malformed }: what the reader cut and dropped (zeros without offloads)
  Napi::Value OffloadStats(const Napi::CallbackInfo& info);
  const TxCounters& Tx() const { return tx_; }

  std::string name_;
  TxCounters tx_;
  bool vnet_ = false;
  OffloadResult offload_;
  VnetTunReader* vnetReader_ = nullptr;  // reader_ when vnet_ (owned through reader_)
};

}  // namespace tsvpn
