// Checks the (buf, offsets, lengths, count) arguments of a batch write once,
// so the per-packet loop in C needs no further checks.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace tsvpn {

struct BatchArgs {
  const uint8_t* data = nullptr;
  const uint32_t* offsets = nullptr;
  const uint32_t* lengths = nullptr;
  uint32_t count = 0;
};

// info[first .. first+3] = buf: Uint8Array, offsets: Uint32Array,
// lengths: Uint32Array, count: number. False with a JS exception pending when
// an argument is wrong or a packet lies outside buf.
bool ParseBatchArgs(const Napi::CallbackInfo& info, size_t first, BatchArgs* out);

// info[i] is an integer in [lo, hi]; false with a RangeError pending otherwise.
bool IntArg(const Napi::CallbackInfo& info, size_t i, double lo, double hi, const char* what,
            uint32_t* out);

// info[i] is a string; false with a TypeError "<what> must be a string" pending otherwise.
bool StringArg(const Napi::CallbackInfo& info, size_t i, const char* what, std::string* out);

}  // namespace tsvpn
