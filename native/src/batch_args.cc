#include "batch_args.h"

#include <string>

#include "errno_error.h"

namespace tsvpn {

namespace {

bool IsTyped(const Napi::Value& v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

}  // namespace

bool ParseBatchArgs(const Napi::CallbackInfo& info, size_t first, BatchArgs* out) {
  Napi::Env env = info.Env();
  if (info.Length() < first + 4 || !IsTyped(info[first], napi_uint8_array) ||
      !IsTyped(info[first + 1], napi_uint32_array) ||
      !IsTyped(info[first + 2], napi_uint32_array) || !info[first + 3].IsNumber()) {
    ArgError(env, "expected (buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number)")
        .ThrowAsJavaScriptException();
    return false;
  }
  auto buf = info[first].As<Napi::Uint8Array>();
  auto offsets = info[first + 1].As<Napi::Uint32Array>();
  auto lengths = info[first + 2].As<Napi::Uint32Array>();
  double count = info[first + 3].As<Napi::Number>().DoubleValue();
  if (!(count >= 0) || count != static_cast<double>(static_cast<uint32_t>(count)) ||
      count > offsets.ElementLength() || count > lengths.ElementLength()) {
    ArgError(env, "count must be an integer between 0 and the length of offsets and lengths", true)
        .ThrowAsJavaScriptException();
    return false;
  }
  out->data = buf.Data();
  out->offsets = offsets.Data();
  out->lengths = lengths.Data();
  out->count = static_cast<uint32_t>(count);
  const uint64_t size = buf.ByteLength();
  for (uint32_t i = 0; i < out->count; i++) {
    if (uint64_t{out->offsets[i]} + out->lengths[i] > size) {
      ArgError(env, "packet " + std::to_string(i) + " (offset " + std::to_string(out->offsets[i]) +
                        ", length " + std::to_string(out->lengths[i]) +
                        ") lies outside the buffer of " + std::to_string(size) + " bytes",
               true)
          .ThrowAsJavaScriptException();
      return false;
    }
  }
  return true;
}

bool IntArg(const Napi::CallbackInfo& info, size_t i, double lo, double hi, const char* what,
            uint32_t* out) {
  double v = info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -1;
  if (!(v >= lo && v <= hi) || v != static_cast<double>(static_cast<uint32_t>(v))) {
    ArgError(info.Env(), std::string(what) + " must be an integer from " +
                             std::to_string(uint64_t(lo)) + " to " + std::to_string(uint64_t(hi)),
             true)
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

bool StringArg(const Napi::CallbackInfo& info, size_t i, const char* what, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) {
    ArgError(info.Env(), std::string(what) + " must be a string").ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  return true;
}

}  // namespace tsvpn
