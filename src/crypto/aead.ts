// AEAD ciphers as IKEv2 and ESP use them: AES-GCM with a 16-octet ICV (RFC 4106, RFC 5282) and
// ChaCha20-Poly1305 (RFC 7634). The keying material is the key followed by a 4-octet salt;
// the 12-octet nonce is salt | the 8-octet IV sent on the wire (RFC 4106 §4, RFC 5282 §4,
// RFC 7634 §2). Two backends give the same bytes: node:crypto (fast) and @noble/ciphers
// (reference, pure JS).

import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { DisposedError, IntegrityError, InvalidLengthError, UnsupportedAlgorithmError } from './errors.js';

export type AeadAlg = 'aes-gcm-16' | 'chacha20-poly1305';
export type Backend = 'node' | 'noble';

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

export function createAead(alg: AeadAlg, keyWithSalt: Uint8Array, backend: Backend = 'node'): Aead {
  if (alg !== 'aes-gcm-16' && alg !== 'chacha20-poly1305') throw new UnsupportedAlgorithmError('AEAD', alg);
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
