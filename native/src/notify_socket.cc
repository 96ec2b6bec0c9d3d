#include "notify_socket.h"

#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "batch_args.h"
#include "errno_error.h"

namespace tsvpn {

Napi::Value NotifySocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  std::string message;
  if (!StringArg(info, 0, "path", &path) || !StringArg(info, 1, "message", &message)) {
    return env.Undefined();
  }
  sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  // a filesystem path needs its terminating NUL inside sun_path; an abstract name does not
  const bool abstract = !path.empty() && path[0] == '@';
  if (path.size() < 2 || path.size() > sizeof addr.sun_path - (abstract ? 0 : 1) ||
      path.find('\0') != std::string::npos) {
    ArgError(env, "NOTIFY_SOCKET must be a socket path or @abstract name of 2 to " +
                      std::to_string(sizeof addr.sun_path - 1) + " bytes", true)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  memcpy(addr.sun_path, path.data(), path.size());
  if (abstract) addr.sun_path[0] = '\0';
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                               (abstract ? 0 : 1));

  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ErrnoError(env, errno, "socket", "cannot open a unix datagram socket").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ssize_t n;
  do {
    n = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&addr), len);
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  close(fd);
  if (n < 0) {
    ErrnoError(env, err, "sendto", "cannot send to NOTIFY_SOCKET " + path).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

}  // namespace tsvpn
