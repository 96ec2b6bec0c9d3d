// AeadContext (see aead.h): ESP's AEAD transforms, in place, no allocation per packet.
//   AES-GCM-16         RFC 4106: nonce = salt | IV (§4), AAD = SPI | Seq [high] | Seq low (§5), ICV 16 (§6)
//   ChaCha20-Poly1305  RFC 7634 §2: the same nonce and 16-octet tag; AAD as RFC 4106 (§2.1)
// Each direction has one EVP_CIPHER_CTX keyed once; a packet only sets the nonce, the AAD,
// and runs the cipher over the buffer it was given. Errors never include key bytes.
#include "aead.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include <climits>
#include <cmath>
#include <cstring>
#include <string>

#include "errno_error.h"

namespace tsvpn {

namespace {

constexpr size_t kSaltLength = 4;   // RFC 4106 §8.1, RFC 7634 §2
constexpr size_t kIvLength = 8;     // RFC 4106 §3.1, RFC 7634 §2
constexpr int kTagLength = 16;      // RFC 4106 §6 (ENCR_AES_GCM_16), RFC 7634 §2
constexpr size_t kMaxAad = 256;     // ESP uses 8 or 12 (IKEv2 SK: 32); a bound, not a format rule

bool IsUint8Array(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
}

// The arguments of sealInPlace/openInPlace, checked once so the cipher calls need no more.
struct InPlaceArgs {
  uint8_t* iv = nullptr;
  const uint8_t* aad = nullptr;
  int aadLength = 0;
  uint8_t* data = nullptr;  // plaintext (seal) or ciphertext (open), tag right after it
  int length = 0;
};

bool U32Arg(const Napi::CallbackInfo& info, size_t i, const char* what, uint64_t* out) {
  double v = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -1;
  if (!(v >= 0 && v <= 4294967295.0) || v != std::floor(v)) {
    ArgError(info.Env(), std::string(what) + " must be an integer from 0 to 4294967295", true)
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint64_t>(v);
  return true;
}

// info = (buf: Uint8Array, ivOff, aad: Uint8Array, ctOff, len). False with a TypeError or
// RangeError pending when an argument is wrong or a range lies outside buf.
bool ParseInPlaceArgs(const Napi::CallbackInfo& info, const char* lenName, InPlaceArgs* out) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !IsUint8Array(info[0]) || !IsUint8Array(info[2])) {
    ArgError(env, std::string("expected (buf: Uint8Array, ivOff: number, aad: Uint8Array, ctOff: number, ") +
                      lenName + ": number)")
        .ThrowAsJavaScriptException();
    return false;
  }
  auto buf = info[0].As<Napi::Uint8Array>();
  auto aad = info[2].As<Napi::Uint8Array>();
  uint64_t ivOff = 0, ctOff = 0, len = 0;
  if (!U32Arg(info, 1, "ivOff", &ivOff) || !U32Arg(info, 3, "ctOff", &ctOff) ||
      !U32Arg(info, 4, lenName, &len)) {
    return false;
  }
  const uint64_t size = buf.ByteLength();
  const std::string in = " lies outside the buffer of " + std::to_string(size) + " bytes";
  if (ivOff + kIvLength > size) {
    ArgError(env, "the 8-byte IV at " + std::to_string(ivOff) + in, true).ThrowAsJavaScriptException();
    return false;
  }
  if (ctOff + len + kTagLength > size) {
    ArgError(env, "the data and 16-byte tag at " + std::to_string(ctOff) + " (" + lenName + " " +
                      std::to_string(len) + ")" + in,
             true)
        .ThrowAsJavaScriptException();
    return false;
  }
  if (len > INT_MAX - kTagLength) {
    ArgError(env, std::string(lenName) + " is too large", true).ThrowAsJavaScriptException();
    return false;
  }
  if (aad.ByteLength() > kMaxAad) {
    ArgError(env, "aad must be at most " + std::to_string(kMaxAad) + " bytes, got " +
                      std::to_string(aad.ByteLength()),
             true)
        .ThrowAsJavaScriptException();
    return false;
  }
  out->iv = buf.Data() + ivOff;
  out->aad = aad.Data();
  out->aadLength = static_cast<int>(aad.ByteLength());
  out->data = buf.Data() + ctOff;
  out->length = static_cast<int>(len);
  return true;
}

// The arguments of sealBatch/openBatch: packet i has its IV at buf[ivOffs[i]], its data at
// buf[ctOffs[i], +lens[i]) with the tag right after, and its AAD at aad[i * aadLength, +aadLength).
struct BatchArgs {
  uint8_t* buf = nullptr;
  const uint32_t* ivOffs = nullptr;
  const uint32_t* ctOffs = nullptr;
  const uint32_t* lens = nullptr;
  const uint8_t* aad = nullptr;
  int aadLength = 0;
  size_t count = 0;
  uint8_t* ok = nullptr;  // openBatch only: 1 (opened) or 0 (bad tag) per packet
};

bool IsUint32Array(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array;
}

// info = (buf, ivOffs, ctOffs, lens, aad, aadLength, count[, ok]). Every packet's ranges are
// checked before any is touched, so a throw leaves the buffer as it was. False with a
// TypeError or RangeError pending otherwise.
bool ParseBatchArgs(const Napi::CallbackInfo& info, bool withOk, BatchArgs* out) {
  Napi::Env env = info.Env();
  const size_t argc = withOk ? 8 : 7;
  if (info.Length() < argc || !IsUint8Array(info[0]) || !IsUint32Array(info[1]) || !IsUint32Array(info[2]) ||
      !IsUint32Array(info[3]) || !IsUint8Array(info[4]) || (withOk && !IsUint8Array(info[7]))) {
    ArgError(env, std::string("expected (buf: Uint8Array, ivOffs: Uint32Array, ctOffs: Uint32Array, lens: Uint32Array, "
                              "aad: Uint8Array, aadLength: number, count: number") +
                      (withOk ? ", ok: Uint8Array)" : ")"))
        .ThrowAsJavaScriptException();
    return false;
  }
  uint64_t aadLength = 0, count = 0;
  if (!U32Arg(info, 5, "aadLength", &aadLength) || !U32Arg(info, 6, "count", &count)) return false;
  if (aadLength > kMaxAad) {
    ArgError(env, "aadLength must be at most " + std::to_string(kMaxAad), true).ThrowAsJavaScriptException();
    return false;
  }
  auto buf = info[0].As<Napi::Uint8Array>();
  auto ivOffs = info[1].As<Napi::Uint32Array>();
  auto ctOffs = info[2].As<Napi::Uint32Array>();
  auto lens = info[3].As<Napi::Uint32Array>();
  auto aad = info[4].As<Napi::Uint8Array>();
  if (ivOffs.ElementLength() < count || ctOffs.ElementLength() < count || lens.ElementLength() < count ||
      aad.ByteLength() < count * aadLength ||
      (withOk && info[7].As<Napi::Uint8Array>().ByteLength() < count)) {
    ArgError(env, "count " + std::to_string(count) + " is more than the arrays hold", true).ThrowAsJavaScriptException();
    return false;
  }
  const uint64_t size = buf.ByteLength();
  for (size_t i = 0; i < count; i++) {
    const uint64_t len = lens[i];
    if (static_cast<uint64_t>(ivOffs[i]) + kIvLength > size || static_cast<uint64_t>(ctOffs[i]) + len + kTagLength > size ||
        len > static_cast<uint64_t>(INT_MAX - kTagLength)) {
      ArgError(env, "packet " + std::to_string(i) + " lies outside the buffer of " + std::to_string(size) + " bytes",
               true)
          .ThrowAsJavaScriptException();
      return false;
    }
  }
  out->buf = buf.Data();
  out->ivOffs = ivOffs.Data();
  out->ctOffs = ctOffs.Data();
  out->lens = lens.Data();
  out->aad = aad.Data();
  out->aadLength = static_cast<int>(aadLength);
  out->count = static_cast<size_t>(count);
  out->ok = withOk ? info[7].As<Napi::Uint8Array>().Data() : nullptr;
  return true;
}

const EVP_CIPHER* CipherFor(const std::string& alg, size_t keyLength) {
  if (alg == "chacha20-poly1305") return keyLength == 32 ? EVP_chacha20_poly1305() : nullptr;
  if (alg != "aes-gcm-16") return nullptr;
  switch (keyLength) {
    case 16: return EVP_aes_128_gcm();
    case 24: return EVP_aes_192_gcm();
    case 32: return EVP_aes_256_gcm();
    default: return nullptr;
  }
}

// A keyed context for one direction; nullptr when OpenSSL refuses (the queue is cleared).
EVP_CIPHER_CTX* KeyedContext(const EVP_CIPHER* cipher, const uint8_t* key, bool encrypt) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  const int enc = encrypt ? 1 : 0;
  if (ctx != nullptr && EVP_CipherInit_ex(ctx, cipher, nullptr, nullptr, nullptr, enc) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1 &&
      EVP_CipherInit_ex(ctx, nullptr, nullptr, key, nullptr, enc) == 1) {
    return ctx;
  }
  EVP_CIPHER_CTX_free(ctx);
  ERR_clear_error();
  return nullptr;
}

Napi::Error DisposedError(Napi::Env env) {
  Napi::Error error = Napi::Error::New(env, "AEAD context used after dispose()");
  error.Set("code", Napi::String::New(env, "ERR_DISPOSED"));
  return error;
}

}  // namespace

Napi::Function AeadContext::Init(Napi::Env env) {
  return DefineClass(env, "AeadContext",
                     {InstanceMethod("sealInPlace", &AeadContext::SealInPlace),
                      InstanceMethod("openInPlace", &AeadContext::OpenInPlace),
                      InstanceMethod("sealBatch", &AeadContext::SealBatch),
                      InstanceMethod("openBatch", &AeadContext::OpenBatch),
                      InstanceMethod("dispose", &AeadContext::Dispose)});
}

AeadContext::AeadContext(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AeadContext>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !IsUint8Array(info[1]) || !IsUint8Array(info[2])) {
    ArgError(env, "expected (alg: string, key: Uint8Array, salt: Uint8Array)").ThrowAsJavaScriptException();
    return;
  }
  const std::string alg = info[0].As<Napi::String>().Utf8Value();
  auto key = info[1].As<Napi::Uint8Array>();
  auto salt = info[2].As<Napi::Uint8Array>();
  const EVP_CIPHER* cipher = CipherFor(alg, key.ByteLength());
  if (cipher == nullptr) {
    // lengths only, never the key
    ArgError(env, "unsupported AEAD " + (alg == "aes-gcm-16" || alg == "chacha20-poly1305"
                                             ? alg + " with a " + std::to_string(key.ByteLength()) + "-byte key"
                                             : std::string("algorithm")),
             true)
        .ThrowAsJavaScriptException();
    return;
  }
  if (salt.ByteLength() != kSaltLength) {
    ArgError(env, "salt must be 4 bytes, got " + std::to_string(salt.ByteLength()), true)
        .ThrowAsJavaScriptException();
    return;
  }
  enc_ = KeyedContext(cipher, key.Data(), true);
  dec_ = KeyedContext(cipher, key.Data(), false);
  if (enc_ == nullptr || dec_ == nullptr) {
    Free();
    Napi::Error::New(env, "OpenSSL refused to set up " + alg).ThrowAsJavaScriptException();
    return;
  }
  // RFC 4106 §4 / RFC 7634 §2: nonce = salt (4 octets) | IV (8 octets); the IV is set per packet
  std::memcpy(nonce_, salt.Data(), kSaltLength);
}

AeadContext::~AeadContext() { Free(); }

void AeadContext::Free() {
  EVP_CIPHER_CTX_free(enc_);  // frees and cleanses the key schedule
  EVP_CIPHER_CTX_free(dec_);
  enc_ = nullptr;
  dec_ = nullptr;
  OPENSSL_cleanse(nonce_, sizeof nonce_);
}

bool AeadContext::SealOne(uint8_t* iv, const uint8_t* aad, int aadLength, uint8_t* data, int length) {
  std::memcpy(nonce_ + kSaltLength, iv, kIvLength);  // RFC 4106 §3.1 / RFC 7634 §2: salt | IV
  int n = 0, tail = 0;  // stream modes: Update writes all of it, Final nothing
  // RFC 4106 §5 / RFC 7634 §2.1: the AAD (SPI | Seq, or SPI | Seq high | Seq low) goes in first
  bool ok = EVP_EncryptInit_ex(enc_, nullptr, nullptr, nullptr, nonce_) == 1 &&
            (aadLength == 0 || EVP_EncryptUpdate(enc_, nullptr, &n, aad, aadLength) == 1) &&
            (length == 0 || EVP_EncryptUpdate(enc_, data, &n, data, length) == 1) &&
            EVP_EncryptFinal_ex(enc_, data + length, &tail) == 1 &&
            EVP_CIPHER_CTX_ctrl(enc_, EVP_CTRL_AEAD_GET_TAG, kTagLength, data + length) == 1;
  if (!ok) ERR_clear_error();  // leave nothing in the queue for node:crypto to misread
  return ok;
}

bool AeadContext::OpenOne(uint8_t* iv, const uint8_t* aad, int aadLength, uint8_t* data, int length) {
  std::memcpy(nonce_ + kSaltLength, iv, kIvLength);  // RFC 4106 §3.1 / RFC 7634 §2: salt | IV
  int n = 0, tail = 0;  // stream modes: Update writes all of it, Final nothing
  // RFC 4106 §5 / RFC 7634 §2.1: AAD first; the tag is compared in Final
  bool ok = EVP_DecryptInit_ex(dec_, nullptr, nullptr, nullptr, nonce_) == 1 &&
            (aadLength == 0 || EVP_DecryptUpdate(dec_, nullptr, &n, aad, aadLength) == 1) &&
            (length == 0 || EVP_DecryptUpdate(dec_, data, &n, data, length) == 1) &&
            EVP_CIPHER_CTX_ctrl(dec_, EVP_CTRL_AEAD_SET_TAG, kTagLength, data + length) == 1 &&
            EVP_DecryptFinal_ex(dec_, data + length, &tail) == 1;
  if (!ok) {
    // The bytes were decrypted before the tag was checked: leave none of them behind.
    OPENSSL_cleanse(data, static_cast<size_t>(length));
    ERR_clear_error();
  }
  return ok;
}

Napi::Value AeadContext::SealInPlace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (enc_ == nullptr) {
    DisposedError(env).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  InPlaceArgs a;
  if (!ParseInPlaceArgs(info, "ptLen", &a)) return env.Undefined();
  if (!SealOne(a.iv, a.aad, a.aadLength, a.data, a.length)) {
    Napi::Error::New(env, "AEAD seal failed in OpenSSL").ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value AeadContext::OpenInPlace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (dec_ == nullptr) {
    DisposedError(env).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  InPlaceArgs a;
  if (!ParseInPlaceArgs(info, "ctLen", &a)) return env.Undefined();
  return Napi::Boolean::New(env, OpenOne(a.iv, a.aad, a.aadLength, a.data, a.length));
}

Napi::Value AeadContext::SealBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (enc_ == nullptr) {
    DisposedError(env).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  BatchArgs b;
  if (!ParseBatchArgs(info, false, &b)) return env.Undefined();
  for (size_t i = 0; i < b.count; i++) {
    if (!SealOne(b.buf + b.ivOffs[i], b.aad + i * b.aadLength, b.aadLength, b.buf + b.ctOffs[i],
                 static_cast<int>(b.lens[i]))) {
      Napi::Error::New(env, "AEAD seal failed in OpenSSL (packet " + std::to_string(i) + ")")
          .ThrowAsJavaScriptException();
      break;
    }
  }
  return env.Undefined();
}

Napi::Value AeadContext::OpenBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (dec_ == nullptr) {
    DisposedError(env).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  BatchArgs b;
  if (!ParseBatchArgs(info, true, &b)) return env.Undefined();
  uint32_t failed = 0;
  for (size_t i = 0; i < b.count; i++) {
    const bool ok = OpenOne(b.buf + b.ivOffs[i], b.aad + i * b.aadLength, b.aadLength, b.buf + b.ctOffs[i],
                            static_cast<int>(b.lens[i]));
    b.ok[i] = ok ? 1 : 0;
    if (!ok) failed++;
  }
  return Napi::Number::New(env, failed);
}

Napi::Value AeadContext::Dispose(const Napi::CallbackInfo& info) {
  Free();
  return info.Env().Undefined();
}

}  // namespace tsvpn
