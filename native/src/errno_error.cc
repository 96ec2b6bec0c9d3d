#include "errno_error.h"

#include <string.h>

namespace tsvpn {

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
#endif
  return "E?" + std::to_string(err);
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                       const std::string& what, const std::string& hint) {
  const std::string name = ErrnoName(err);
  std::string message = what + " (" + name + "): ";
  if (hint.empty()) {
    char buf[256];
    // GNU strerror_r returns the message pointer (possibly not buf).
    message += strerror_r(err, buf, sizeof buf);
  } else {
    message += hint;
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, name));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

Napi::Error ArgError(Napi::Env env, const std::string& message, bool range) {
  Napi::Error error = range ? Napi::Error(Napi::RangeError::New(env, message))
                            : Napi::Error(Napi::TypeError::New(env, message));
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARG"));
  return error;
}

}  // namespace tsvpn
