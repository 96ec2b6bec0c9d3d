// Creates a Linux TUN device (IFF_TUN | IFF_NO_PI, with IFF_VNET_HDR and offloads when
// asked), sets its MTU and brings it up.
#pragma once

#include <napi.h>

#include <string>

namespace tsvpn {

// Returns the device fd (non-blocking, close-on-exec) and sets *name to the
// name the kernel gave it (a requested "tun%d" becomes "tun0", ...). Returns -1
// with a JS exception pending on failure; the half-made device is removed.
int OpenTun(Napi::Env env, const std::string& requested, int mtu, std::string* name);

// What EnableOffload got: the TUN_F_* flags the kernel took (0: none), and when it took
// fewer than asked, the errno of the last refusal and which set it refused.
struct OffloadResult {
  unsigned flags = 0;
  int err = 0;
  std::string refused;
};

// TUNSETOFFLOAD on a device opened with IFF_VNET_HDR: checksum, TSO4/6 and USO4/6 (Linux
// 6.2+), then without USO, then nothing. Never throws: a refusal is reported in the result.
OffloadResult EnableOffload(int fd);

// Like OpenTun, with IFF_VNET_HDR when `vnet`: every read and write then starts with a
// 10-octet struct virtio_net_hdr.
int OpenTun(Napi::Env env, const std::string& requested, int mtu, std::string* name, bool vnet);

}  // namespace tsvpn
