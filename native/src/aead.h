// AeadContext: the ESP AEAD ciphers sealed and opened in place with OpenSSL EVP —
// AES-GCM with a 16-octet ICV (RFC 4106) and ChaCha20-Poly1305 (RFC 7634).
// OpenSSL is Node's own: headers from <nodedir>/include/node/openssl, symbols resolved
// against the node binary at load time (no libssl-dev, no -lcrypto).
#pragma once

#include <napi.h>
#include <openssl/evp.h>

#include <cstdint>

namespace tsvpn {

class AeadContext : public Napi::ObjectWrap<AeadContext> {
 public:
  static Napi::Function Init(Napi::Env env);
  // new AeadContext(alg: 'aes-gcm-16' | 'chacha20-poly1305', key: Uint8Array, salt: Uint8Array)
  // key without the salt (16, 24 or 32 octets for AES-GCM, 32 for ChaCha20); salt 4 octets.
  explicit AeadContext(const Napi::CallbackInfo& info);
  ~AeadContext() override;

 private:
  // sealInPlace(buf, ivOff, aad, ctOff, ptLen): void — encrypts buf[ctOff, +ptLen) in place,
  // writes the 16-octet tag at buf[ctOff + ptLen]. The 8-octet IV is read from buf[ivOff].
  Napi::Value SealInPlace(const Napi::CallbackInfo& info);
  // openInPlace(buf, ivOff, aad, ctOff, ctLen): boolean — checks the tag at buf[ctOff + ctLen]
  // and decrypts in place; false (and the ciphertext range zeroed) when the tag is wrong.
  Napi::Value OpenInPlace(const Napi::CallbackInfo& info);
  // sealBatch(buf, ivOffs, ctOffs, lens, aad, aadLength, count): void — sealInPlace for packets
  // 0..count-1 in one call: IV at buf[ivOffs[i]], data buf[ctOffs[i], +lens[i]), tag after it,
  // AAD aad[i * aadLength, +aadLength). All ranges are checked before the first packet is sealed.
  Napi::Value SealBatch(const Napi::CallbackInfo& info);
  // openBatch(buf, ivOffs, ctOffs, lens, aad, aadLength, count, ok: Uint8Array): number — openInPlace
  // for each packet; ok[i] = 1 when its tag verified, else 0 (and its range zeroed); returns the
  // number that failed.
  Napi::Value OpenBatch(const Napi::CallbackInfo& info);
  // dispose(): frees both contexts and wipes the salt; later calls throw ERR_DISPOSED.
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void Free();
  // One packet, arguments already checked: true when OpenSSL sealed it / the tag verified.
  bool SealOne(uint8_t* iv, const uint8_t* aad, int aadLength, uint8_t* data, int length);
  bool OpenOne(uint8_t* iv, const uint8_t* aad, int aadLength, uint8_t* data, int length);

  EVP_CIPHER_CTX* enc_ = nullptr;  // keyed once for sealing
  EVP_CIPHER_CTX* dec_ = nullptr;  // keyed once for opening
  uint8_t nonce_[12] = {};         // salt | IV, the IV part rewritten per packet
};

}  // namespace tsvpn
