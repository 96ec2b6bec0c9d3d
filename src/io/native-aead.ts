// The addon's in-place AEAD (native/src/aead.cc): AES-GCM-16 (RFC 4106) and ChaCha20-Poly1305
// (RFC 7634) sealed and opened in place by Node's own OpenSSL, as crypto's InPlaceAeadFactory.
// The daemon passes it to the SAD at startup; without it (addon not built, or built before
// AeadContext existed) ESP uses node:crypto. Nothing is logged here.

import type { InPlaceAeadFactory } from '../crypto/aead-types.js';
import { loadNative, type NativeAeadConstructor } from './native.js';

/** The addon's AeadContext class, or undefined when the addon is not built or lacks it. */
export function nativeAeadConstructor(): NativeAeadConstructor | undefined {
  try {
    return loadNative().AeadContext; // loadNative keeps the addon once it has loaded
  } catch {
    return undefined; // not built: the caller uses another backend
  }
}

/** True when the addon with AeadContext is built and loads. */
export function nativeAeadAvailable(): boolean {
  return nativeAeadConstructor() !== undefined;
}

/** One AeadContext per key, or undefined without the addon's AEAD. */
export function nativeInPlaceAead(): InPlaceAeadFactory | undefined {
  const Context = nativeAeadConstructor();
  return Context && ((alg, key, salt) => new Context(alg, key, salt));
}
