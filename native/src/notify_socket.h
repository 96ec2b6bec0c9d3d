// notifySocket(path, message): one datagram to a unix datagram socket, what sd_notify(3)
// does for systemd's Type=notify (Node has no unix datagram sockets). No libsystemd.
#pragma once

#include <napi.h>

namespace tsvpn {

// JS: notifySocket(path: string, message: string): void. A path starting with '@' is in the
// abstract namespace (the '@' becomes a NUL byte). Throws an errno error when the send fails,
// a TypeError/RangeError when the path is empty or longer than sun_path.
Napi::Value NotifySocket(const Napi::CallbackInfo& info);

}  // namespace tsvpn
