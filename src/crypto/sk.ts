// The IKEv2 Encrypted payload body (RFC 7296 §3.14, RFC 5282 §3 and §5, RFC 7634 §3):
//
//                        1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | Next Payload  |C|  RESERVED   |         Payload Length        |   <- end of `aad`
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                     Initialization Vector                     |   <- `body` starts here
//   ~                                                               ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                    Encrypted IKE Payloads                     ~
//   +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |               |             Padding (0-255 octets)            |
//   +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
//   |                                               |  Pad Length   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   ~                    Integrity Checksum Data                    ~
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// `aad` is the message from its first octet through the SK payload header; `body` is
// IV | ciphertext | ICV. AES-CBC + HMAC computes the ICV over aad | IV | ciphertext
// ("the whole message up to the ICV", §3.14); AEAD ciphers authenticate aad as associated
// data and their tag is the ICV (RFC 5282 §5.1, RFC 7634 §3).

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { cbc } from '@noble/ciphers/aes.js';
import { EncrId } from '../wire/constants.js';
import { AEAD_IV_LENGTH, AEAD_TAG_LENGTH, createAead, type Backend } from './aead.js';
import { DisposedError, IntegrityError, InvalidLengthError } from './errors.js';
import { createInteg } from './integ.js';
import { isAead, keySizes, type EncrTransform } from './kdf.js';

export interface SkCipher {
  readonly ivLength: number;
  readonly icvLength: number;
  /** Length of the body that seal() returns for `innerLength` octets of inner payloads. */
  sealedLength(innerLength: number): number;
  /** Pad, encrypt and authenticate; returns IV | ciphertext | ICV. `iv` is random unless given. */
  seal(aad: Uint8Array, inner: Uint8Array, iv?: Uint8Array): Uint8Array;
  /** Check the ICV and padding, decrypt; returns the inner payloads or throws IntegrityError. */
  open(aad: Uint8Array, body: Uint8Array): Uint8Array;
  /** Zero the keys held here; later calls throw DisposedError. */
  dispose(): void;
}

const AES_BLOCK = 16; // RFC 3602 §3: the IV is one block, the ciphertext a whole number of blocks

/** Strip the padding (§3.14: Pad Length is the last octet, Padding precedes it; any pad value is accepted). */
function unpad(plain: Uint8Array): Uint8Array {
  const padLength = plain[plain.length - 1];
  if (plain.length === 0 || padLength + 1 > plain.length) throw new IntegrityError('pad-length');
  return plain.subarray(0, plain.length - padLength - 1);
}

/** inner | zero padding | Pad Length, with the total a multiple of `block` (§3.14: pad bytes may be any value). */
function pad(inner: Uint8Array, block: number): Uint8Array {
  const total = Math.ceil((inner.length + 1) / block) * block;
  const out = new Uint8Array(total);
  out.set(inner, 0);
  out[total - 1] = total - inner.length - 1;
  return out;
}

function ivFor(iv: Uint8Array | undefined, length: number): Uint8Array {
  if (iv === undefined) return new Uint8Array(randomBytes(length));
  if (iv.length !== length) throw new InvalidLengthError('SK IV', String(length), iv.length);
  return iv;
}

export function createSkCipher(
  encr: EncrTransform,
  integId: number,
  encKey: Uint8Array,
  integKey: Uint8Array,
  backend: Backend = 'node',
): SkCipher {
  const sizes = keySizes(encr, integId);
  if (encKey.length !== sizes.encrKey) throw new InvalidLengthError('SK_e', String(sizes.encrKey), encKey.length);
  if (integKey.length !== sizes.integKey) throw new InvalidLengthError('SK_a', String(sizes.integKey), integKey.length);
  return isAead(encr.id) ? aeadSk(encr.id, encKey, backend) : cbcSk(encKey, integId, integKey, backend);
}

function aeadSk(encrId: number, encKey: Uint8Array, backend: Backend): SkCipher {
  const aead = createAead(encrId === EncrId.CHACHA20_POLY1305 ? 'chacha20-poly1305' : 'aes-gcm-16', encKey, backend);
  // AEAD ciphers here are stream-like and need no alignment: RFC 7634 Appendix B sends 13
  // octets (12 of payload + Pad Length) with no padding, and receivers accept any padding.
  const block = 1;
  return {
    ivLength: AEAD_IV_LENGTH,
    icvLength: AEAD_TAG_LENGTH,
    sealedLength: (n) => AEAD_IV_LENGTH + Math.ceil((n + 1) / block) * block + AEAD_TAG_LENGTH,
    seal(aad, inner, iv) {
      const iv8 = ivFor(iv, AEAD_IV_LENGTH);
      const plain = pad(inner, block);
      const sealed = aead.seal(iv8, aad, plain); // RFC 5282 §5.1: AAD = IKE header .. SK header
      plain.fill(0);
      const out = new Uint8Array(AEAD_IV_LENGTH + sealed.length);
      out.set(iv8, 0);
      out.set(sealed, AEAD_IV_LENGTH);
      return out;
    },
    open(aad, body) {
      // at least IV, one octet (Pad Length) and the tag
      if (body.length < AEAD_IV_LENGTH + 1 + AEAD_TAG_LENGTH) throw new IntegrityError('too-short');
      const plain = aead.open(body.subarray(0, AEAD_IV_LENGTH), aad, body.subarray(AEAD_IV_LENGTH));
      return unpad(plain);
    },
    dispose: () => aead.dispose(),
  };
}

function cbcSk(encKey: Uint8Array, integId: number, integKey: Uint8Array, backend: Backend): SkCipher {
  const key = Uint8Array.from(encKey);
  const integ = createInteg(integId, integKey);
  const icvLength = integ.icvLength;
  const name = `aes-${key.length * 8}-cbc`;
  let disposed = false;

  const crypt = (encrypt: boolean, iv: Uint8Array, data: Uint8Array): Uint8Array => {
    if (disposed) throw new DisposedError('SK cipher');
    if (backend === 'noble') {
      const c = cbc(key, iv, { disablePadding: true });
      return encrypt ? c.encrypt(data) : c.decrypt(data);
    }
    const c = encrypt ? createCipheriv(name, key, iv) : createDecipheriv(name, key, iv);
    c.setAutoPadding(false); // RFC 7296 §3.14 padding is done here, not PKCS#7
    const head = c.update(data);
    const tail = c.final();
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  };

  return {
    ivLength: AES_BLOCK,
    icvLength,
    sealedLength: (n) => AES_BLOCK + Math.ceil((n + 1) / AES_BLOCK) * AES_BLOCK + icvLength,
    seal(aad, inner, iv) {
      const iv16 = ivFor(iv, AES_BLOCK);
      const plain = pad(inner, AES_BLOCK);
      const ct = crypt(true, iv16, plain);
      plain.fill(0);
      const out = new Uint8Array(AES_BLOCK + ct.length + icvLength);
      out.set(iv16, 0);
      out.set(ct, AES_BLOCK);
      const signed = out.subarray(0, AES_BLOCK + ct.length);
      // RFC 7296 §3.14: the checksum covers the message from its first octet up to the ICV
      out.set(integ.mac([aad, signed]), AES_BLOCK + ct.length);
      return out;
    },
    open(aad, body) {
      if (disposed) throw new DisposedError('SK cipher');
      const ctLength = body.length - AES_BLOCK - icvLength;
      if (ctLength < AES_BLOCK) throw new IntegrityError('too-short');
      if (ctLength % AES_BLOCK !== 0) throw new IntegrityError('misaligned');
      const signed = body.subarray(0, AES_BLOCK + ctLength);
      // Check the ICV (constant time) before decrypting anything.
      if (!integ.verify([aad, signed], body.subarray(AES_BLOCK + ctLength))) throw new IntegrityError('icv');
      const plain = crypt(false, body.subarray(0, AES_BLOCK), body.subarray(AES_BLOCK, AES_BLOCK + ctLength));
      return unpad(plain);
    },
    dispose() {
      key.fill(0);
      integ.dispose();
      disposed = true;
    },
  };
}
