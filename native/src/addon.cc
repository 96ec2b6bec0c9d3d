// tsvpn_native: the TUN device, batched UDP and raw ESP for the datapath (see src/io/), and
// the in-place ESP AEAD (see src/crypto/native-aead.ts), and systemd's readiness datagram
// (see src/io/sd-notify.ts).
#include <napi.h>

#include "aead.h"
#include "notify_socket.h"
#include "raw_socket.h"
#include "tun_device.h"
#include "udp_socket.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("TunDevice", tsvpn::TunDevice::Init(env));
  exports.Set("UdpSocket", tsvpn::UdpSocket::Init(env));
  exports.Set("RawEspSocket", tsvpn::RawEspSocket::Init(env));
  exports.Set("AeadContext", tsvpn::AeadContext::Init(env));
  exports.Set("notifySocket", Napi::Function::New(env, tsvpn::NotifySocket, "notifySocket"));
  return exports;
}

}  // namespace

NODE_API_MODULE(tsvpn_native, Init)
