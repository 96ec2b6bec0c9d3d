// AEAD ciphers as IKEv2 and ESP use them: AES-GCM with a 16-octet ICV (RFC 4106, RFC 5282) and
// ChaCha20-Poly1305 (RFC 7634). The keying material is the key followed by a 4-octet salt;
// the 12-octet nonce is salt | the 8-octet IV sent on the wire (RFC 4106 §4, RFC 5282 §4,
// RFC 7634 §2). Three backends give the same bytes: node:crypto, @noble/ciphers (reference,
// pure JS) and 'native', an in-place AEAD (InPlaceAead: no allocation per packet) that the
// caller passes in as an InPlaceAeadFactory: the tsvpn addon's OpenSSL contexts keyed once
// (src/io/native-aead.ts), which the daemon hands to the SAD for ESP. Nothing here loads it.

import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { DisposedError, IntegrityError, InvalidLengthError, UnsupportedAlgorithmError } from './errors.js';
import type { AeadAlg, InPlaceAead, InPlaceAeadFactory } from './aead-types.js';

export type { AeadAlg, InPlaceAead, InPlaceAeadFactory } from './aead-types.js';
export type Backend = 'node' | 'noble' | 'native';

export interface Aead {
  /** Returns ciphertext | 16-octet tag. */
  seal(iv8: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Returns the plaintext, or throws IntegrityError. */
  open(iv8: Uint8Array, aad: Uint8Array, ctAndTag: Uint8Array): Uint8Array;
  /** Zero the key and salt held here; later calls throw DisposedError. */
  dispose(): void;
}

export const AEAD_IV_LENGTH = 8; // RFC 4106 §3.1, RFC 7634 §2: 64-bit explicit IV
export const AEAD_TAG_LENGTH = 16; // RFC 4106 §6 (ICV 16 for ENCR_AES_GCM_16), RFC 7634 §2
export const AEAD_SALT_LENGTH = 4; // RFC 4106 §8.1, RFC 7634 §2

type Primitive = (key: Uint8Array, nonce: Uint8Array) => {
  seal(aad: Uint8Array, pt: Uint8Array): Uint8Array;
  open(aad: Uint8Array, ctTag: Uint8Array): Uint8Array;
};

function nodePrimitive(alg: AeadAlg, keyLength: number): Primitive {
  const name = (alg === 'chacha20-poly1305' ? 'chacha20-poly1305' : `aes-${keyLength * 8}-gcm`) as CipherGCMTypes;
  return (key, nonce) => ({
    seal(aad, pt) {
      const c = createCipheriv(name, key, nonce, { authTagLength: AEAD_TAG_LENGTH });
      c.setAAD(aad, { plaintextLength: pt.length });
      const head = c.update(pt);
      const tail = c.final();
      const tag = c.getAuthTag();
      const out = new Uint8Array(head.length + tail.length + tag.length);
      out.set(head, 0);
      out.set(tail, head.length);
      out.set(tag, head.length + tail.length);
      return out;
    },
    open(aad, ctTag) {
      const ctLen = ctTag.length - AEAD_TAG_LENGTH;
      const d = createDecipheriv(name, key, nonce, { authTagLength: AEAD_TAG_LENGTH });
      d.setAAD(aad, { plaintextLength: ctLen });
      d.setAuthTag(ctTag.subarray(ctLen));
      const head = d.update(ctTag.subarray(0, ctLen));
      const tail = d.final(); // throws when the tag does not verify
      const out = new Uint8Array(head.length + tail.length);
      out.set(head, 0);
      out.set(tail, head.length);
      return out;
    },
  });
}

function noblePrimitive(alg: AeadAlg): Primitive {
  const make = alg === 'chacha20-poly1305' ? chacha20poly1305 : gcm;
  return (key, nonce) => ({
    seal: (aad, pt) => make(key, nonce, aad).encrypt(pt),
    open: (aad, ctTag) => make(key, nonce, aad).decrypt(ctTag),
  });
}

/** Refuse key lengths (salt excluded) that `alg` does not take: AES 128/192/256 bits, ChaCha20 256 bits. */
function checkKeyLength(alg: AeadAlg, keyLength: number): void {
  if (alg === 'chacha20-poly1305') {
    if (keyLength !== 32) throw new InvalidLengthError('ChaCha20-Poly1305 key + salt', '36', keyLength + AEAD_SALT_LENGTH);
  } else if (keyLength !== 16 && keyLength !== 24 && keyLength !== 32) {
    throw new InvalidLengthError('AES-GCM key + salt', '20, 28 or 36', keyLength + AEAD_SALT_LENGTH);
  }
}

/** The backend ESP uses unless told: 'native' when an in-place AEAD is passed in, else 'node'. */
export function defaultEspBackend(inPlace?: InPlaceAeadFactory): Backend {
  return inPlace ? 'native' : 'node';
}

function checkAlg(alg: AeadAlg): void {
  if (alg !== 'aes-gcm-16' && alg !== 'chacha20-poly1305') throw new UnsupportedAlgorithmError('AEAD', alg);
}

/**
 * One key's context from `inPlace` (the native addon's, src/io/native-aead.ts), with the
 * key length checked and DisposedError after dispose(); UnsupportedAlgorithmError without one.
 */
export function createInPlaceAead(alg: AeadAlg, keyWithSalt: Uint8Array, inPlace?: InPlaceAeadFactory): InPlaceAead {
  checkAlg(alg);
  const keyLength = keyWithSalt.length - AEAD_SALT_LENGTH;
  checkKeyLength(alg, keyLength);
  if (!inPlace) {
    throw new UnsupportedAlgorithmError('AEAD', `${alg}/native`, 'the native addon is not built (no in-place AEAD was passed in)');
  }
  // RFC 4106 §4 / RFC 7634 §2: the context keeps the salt for nonce = salt | IV
  const ctx = inPlace(alg, keyWithSalt.subarray(0, keyLength), keyWithSalt.subarray(keyLength));
  let disposed = false;
  const live = (): void => {
    if (disposed) throw new DisposedError(`${alg} AEAD`);
  };
  const wrapped: InPlaceAead = {
    sealInPlace(buf, ivOff, aad, ctOff, ptLen) {
      live();
      ctx.sealInPlace(buf, ivOff, aad, ctOff, ptLen);
    },
    openInPlace(buf, ivOff, aad, ctOff, ctLen) {
      live();
      return ctx.openInPlace(buf, ivOff, aad, ctOff, ctLen);
    },
    dispose() {
      disposed = true;
      ctx.dispose();
    },
  };
  // the batch calls only where the context has them (an older addon build does not)
  if (ctx.sealBatch && ctx.openBatch) {
    wrapped.sealBatch = (buf, ivOffs, ctOffs, lens, aad, aadLength, count) => {
      live();
      ctx.sealBatch!(buf, ivOffs, ctOffs, lens, aad, aadLength, count);
    };
    wrapped.openBatch = (buf, ivOffs, ctOffs, lens, aad, aadLength, count, ok) => {
      live();
      return ctx.openBatch!(buf, ivOffs, ctOffs, lens, aad, aadLength, count, ok);
    };
  }
  return wrapped;
}

/** The Aead interface over the in-place one (a copy per call): for tests and non-ESP callers. */
function nativeAead(alg: AeadAlg, keyWithSalt: Uint8Array, factory: InPlaceAeadFactory | undefined): Aead {
  const inPlace = createInPlaceAead(alg, keyWithSalt, factory);
  const checkIv = (iv8: Uint8Array): void => {
    if (iv8.length !== AEAD_IV_LENGTH) throw new InvalidLengthError('AEAD IV', '8', iv8.length);
  };
  return {
    seal(iv8, aad, plaintext) {
      checkIv(iv8);
      const buf = new Uint8Array(AEAD_IV_LENGTH + plaintext.length + AEAD_TAG_LENGTH); // IV | ct | tag
      buf.set(iv8, 0);
      buf.set(plaintext, AEAD_IV_LENGTH);
      inPlace.sealInPlace(buf, 0, aad, AEAD_IV_LENGTH, plaintext.length);
      return buf.subarray(AEAD_IV_LENGTH);
    },
    open(iv8, aad, ctAndTag) {
      checkIv(iv8);
      if (ctAndTag.length < AEAD_TAG_LENGTH) throw new IntegrityError('too-short');
      const buf = new Uint8Array(AEAD_IV_LENGTH + ctAndTag.length);
      buf.set(iv8, 0);
      buf.set(ctAndTag, AEAD_IV_LENGTH);
      const ctLen = ctAndTag.length - AEAD_TAG_LENGTH;
      if (!inPlace.openInPlace(buf, 0, aad, AEAD_IV_LENGTH, ctLen)) throw new IntegrityError('icv');
      return buf.subarray(AEAD_IV_LENGTH, AEAD_IV_LENGTH + ctLen);
    },
    dispose: () => inPlace.dispose(),
  };
}

/** An Aead over `backend`; 'native' needs `inPlace` (the in-place AEAD it wraps). */
export function createAead(alg: AeadAlg, keyWithSalt: Uint8Array, backend: Backend = 'node', inPlace?: InPlaceAeadFactory): Aead {
  checkAlg(alg);
  if (backend === 'native') return nativeAead(alg, keyWithSalt, inPlace);
  if (backend !== 'node' && backend !== 'noble') throw new UnsupportedAlgorithmError('AEAD', `${alg}/${backend}`, 'unknown backend');
  const keyLength = keyWithSalt.length - AEAD_SALT_LENGTH;
  checkKeyLength(alg, keyLength);
  const key = keyWithSalt.slice(0, keyLength);
  // RFC 4106 §4 / RFC 7634 §2: nonce = salt (4 octets) | IV (8 octets)
  const nonce = new Uint8Array(12);
  nonce.set(keyWithSalt.subarray(keyLength), 0);
  const primitive = backend === 'node' ? nodePrimitive(alg, keyLength) : noblePrimitive(alg);
  let disposed = false;

  const setIv = (iv8: Uint8Array): void => {
    if (disposed) throw new DisposedError(`${alg} AEAD`);
    if (iv8.length !== AEAD_IV_LENGTH) throw new InvalidLengthError('AEAD IV', '8', iv8.length);
    nonce.set(iv8, AEAD_SALT_LENGTH);
  };

  return {
    seal(iv8, aad, plaintext) {
      setIv(iv8);
      return primitive(key, nonce).seal(aad, plaintext);
    },
    open(iv8, aad, ctAndTag) {
      setIv(iv8);
      if (ctAndTag.length < AEAD_TAG_LENGTH) throw new IntegrityError('too-short');
      try {
        return primitive(key, nonce).open(aad, ctAndTag);
      } catch {
        throw new IntegrityError('icv');
      }
    },
    dispose() {
      key.fill(0);
      nonce.fill(0);
      disposed = true;
    },
  };
}
