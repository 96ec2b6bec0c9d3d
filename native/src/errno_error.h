// Turns a failed system call into a JS Error that names the errno and says what to do.
#pragma once

#include <napi.h>

#include <string>

namespace tsvpn {

// "EPERM", "ENOENT", ... ("E?" + number when the name is unknown).
std::string ErrnoName(int err);

// An Error whose message is "<what> (<ENAME>): <hint or strerror>", with the
// properties code = "<ENAME>", errno = err and syscall = syscall.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                       const std::string& what, const std::string& hint = "");

// A TypeError/RangeError for bad arguments, with code = "ERR_INVALID_ARG".
Napi::Error ArgError(Napi::Env env, const std::string& message, bool range = false);

}  // namespace tsvpn
