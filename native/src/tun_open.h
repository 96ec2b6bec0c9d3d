// Creates a Linux TUN device (IFF_TUN | IFF_NO_PI), sets its MTU and brings it up.
#pragma once

#include <napi.h>

#include <string>

namespace tsvpn {

// Returns the device fd (non-blocking, close-on-exec) and sets *name to the
// name the kernel gave it (a requested "tun%d" becomes "tun0", ...). Returns -1
// with a JS exception pending on failure; the half-made device is removed.
int OpenTun(Napi::Env env, const std::string& requested, int mtu, std::string* name);

}  // namespace tsvpn
