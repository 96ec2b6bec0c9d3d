// Loads AeadContext from the tsvpn addon (native/src/aead.cc): AES-GCM-16 (RFC 4106) and
// ChaCha20-Poly1305 (RFC 7634) sealed and opened in place by Node's own OpenSSL. Loaded once;
// undefined when the addon is not built (or was built before AeadContext existed), and then
// callers fall back to node:crypto. Nothing is logged here.

import { loadNative } from '../io/native.js';

/** The addon's object, one per key: two OpenSSL contexts keyed once (seal, open). */
export interface NativeAeadContext {
  sealInPlace(buf: Uint8Array, ivOff: number, aad: Uint8Array, ctOff: number, ptLen: number): void;
  openInPlace(buf: Uint8Array, ivOff: number, aad: Uint8Array, ctOff: number, ctLen: number): boolean;
  dispose(): void;
}

/** new AeadContext(alg, key without salt, 4-octet salt); throws TypeError/RangeError on bad arguments. */
export type NativeAeadConstructor = new (
  alg: 'aes-gcm-16' | 'chacha20-poly1305',
  key: Uint8Array,
  salt: Uint8Array,
) => NativeAeadContext;

let loaded: NativeAeadConstructor | null | undefined;

export function nativeAeadConstructor(): NativeAeadConstructor | undefined {
  if (loaded === undefined) {
    try {
      loaded = loadNative().AeadContext ?? null;
    } catch {
      loaded = null; // not built: the caller uses another backend
    }
  }
  return loaded ?? undefined;
}
