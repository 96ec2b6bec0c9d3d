// The cryptographic part of one ESP SA: how IV, ciphertext and ICV are produced and checked.
// Two families (RFC 8221 §5 lists both as MUST/SHOULD for ESP):
//   AEAD  AES-GCM-16 (RFC 4106) and ChaCha20-Poly1305 (RFC 7634), via src/crypto/aead.ts;
//         with an in-place AEAD passed in (the native addon's, which the daemon gives the
//         SAD; then the default backend) sealed and opened in place in the packet buffer.
//   CBC   AES-CBC (RFC 3602) + HMAC (RFC 4868 / RFC 2404), encrypt-then-MAC (RFC 4303 §3.3.2).
//
// Layout of an ESP packet handled here (RFC 4303 §2.1):
//   off: SPI(4) | Sequence Number(4) | IV | ciphertext(payload | padding | pad len | next hdr) | ICV

import { createCipheriv, createDecipheriv } from 'node:crypto';
import {
  createAead,
  createInPlaceAead,
  defaultEspBackend,
  AEAD_IV_LENGTH,
  AEAD_TAG_LENGTH,
  type AeadAlg,
  type Backend,
  type InPlaceAeadFactory,
} from '../crypto/aead.js';
import { createInteg } from '../crypto/integ.js';
import { IntegrityError, InvalidLengthError } from '../crypto/errors.js';
import { ESP_HEADER_LENGTH } from '../wire/esp.js';

export type EspCipherSpec =
  | {
      kind: 'aead';
      alg: AeadAlg;
      /** Key followed by the 4-octet salt (RFC 4106 §8.1, RFC 7634 §2). */
      keyWithSalt: Uint8Array;
      /** Default: 'native' when an in-place AEAD is passed to createEspTransform, else 'node'. */
      backend?: Backend;
      /**
       * The 8-octet IV is the 64-bit sequence number XOR this mask (default zeros: IV = seq).
       * Any fixed mask keeps the IV unique per key, which is all RFC 4106 §3.1 and
       * RFC 7634 §2 ask ("MUST NOT repeat for a given key"); the sequence number never
       * repeats because the SA refuses to wrap (RFC 4303 §3.3.3).
       */
      ivMask?: Uint8Array;
    }
  | {
      kind: 'cbc';
      /** AES key: 16, 24 or 32 octets (RFC 3602 §2.3). */
      encrKey: Uint8Array;
      integId: number;
      integKey: Uint8Array;
      /** Source of the unpredictable CBC IV (RFC 3602 §2.1); default crypto.getRandomValues. */
      random?: (out: Uint8Array) => void;
    };

export interface EspTransform {
  readonly ivLength: number;
  readonly icvLength: number;
  /** RFC 4303 §2.4: payload | padding | pad length | next header is a multiple of this. */
  readonly blockSize: number;
  /**
   * Encrypt in place. On entry buf[off, off+8) holds SPI | Sequence Number and
   * buf[off+8+ivLength, +ptLength) the plaintext (payload and trailer). Writes the IV, the
   * ciphertext over the plaintext and the ICV after it; returns the ESP packet length.
   */
  seal(buf: Uint8Array, off: number, ptLength: number, seqHigh: number, seqLow: number, esn: boolean): number;
  /** True when an ESP packet of this length could be well formed (before any crypto). */
  lengthOk(espLength: number): boolean;
  /**
   * Verify and decrypt a whole ESP packet; returns the plaintext. Throws IntegrityError.
   * Consumes the packet: with the native backend the plaintext is decrypted in place and the
   * result is a view into `packet` (on an integrity failure the ciphertext is zeroed), so a
   * caller must not open the same bytes twice or read the ciphertext afterwards.
   */
  open(packet: Uint8Array, seqHigh: number, esn: boolean): Uint8Array;
  /** Zero the keys held here. */
  dispose(): void;
}

/** `inPlace`: the in-place AEAD for backend 'native' (src/io/native-aead.ts, injected by the daemon). */
export function createEspTransform(spec: EspCipherSpec, inPlace?: InPlaceAeadFactory): EspTransform {
  return spec.kind === 'aead' ? aeadTransform(spec, inPlace) : cbcTransform(spec);
}

function writeU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}

function aeadTransform(spec: Extract<EspCipherSpec, { kind: 'aead' }>, factory: InPlaceAeadFactory | undefined): EspTransform {
  const backend = spec.backend ?? defaultEspBackend(factory);
  // native: seal and open in the packet buffer; node / noble: an Aead that returns new bytes
  const inPlace = backend === 'native' ? createInPlaceAead(spec.alg, spec.keyWithSalt, factory) : undefined;
  const aead = inPlace ? undefined : createAead(spec.alg, spec.keyWithSalt, backend);
  const mask = spec.ivMask ?? new Uint8Array(AEAD_IV_LENGTH);
  if (mask.length !== AEAD_IV_LENGTH) throw new InvalidLengthError('ESP IV mask', '8', mask.length);
  const ivMask = Uint8Array.from(mask);
  const aad8 = new Uint8Array(8); // scratch: SPI | seq
  const aadEsn = new Uint8Array(12); // scratch: SPI | seq high | seq low
  const ivStart = ESP_HEADER_LENGTH;
  const ctStart = ESP_HEADER_LENGTH + AEAD_IV_LENGTH;

  // RFC 4106 §5 / RFC 7634 §2.1: AAD is SPI | Sequence Number (32 bits), or with ESN
  // SPI | Seq high | Seq low (64 bits). The high half is never sent.
  const aadOf = (buf: Uint8Array, off: number, seqHigh: number, esn: boolean): Uint8Array => {
    if (!esn) {
      for (let i = 0; i < 8; i++) aad8[i] = buf[off + i];
      return aad8;
    }
    for (let i = 0; i < 4; i++) aadEsn[i] = buf[off + i];
    writeU32(aadEsn, 4, seqHigh);
    for (let i = 4; i < 8; i++) aadEsn[i + 4] = buf[off + i];
    return aadEsn;
  };

  return {
    ivLength: AEAD_IV_LENGTH,
    icvLength: AEAD_TAG_LENGTH,
    // RFC 4106 §3.2 / RFC 7634 §2: no block alignment beyond ESP's 4-octet rule (§2.4).
    blockSize: 4,
    seal(buf, off, ptLength, seqHigh, seqLow, esn) {
      const iv = off + ivStart;
      // RFC 4106 §3.1 / RFC 7634 §2: a counter IV, here the 64-bit sequence number (masked)
      writeU32(buf, iv, seqHigh);
      writeU32(buf, iv + 4, seqLow);
      for (let i = 0; i < AEAD_IV_LENGTH; i++) buf[iv + i] ^= ivMask[i];
      const ct = off + ctStart;
      const aad = aadOf(buf, off, seqHigh, esn);
      if (inPlace) {
        inPlace.sealInPlace(buf, iv, aad, ct, ptLength); // nonce = salt | buf[iv, +8)
        return ctStart + ptLength + AEAD_TAG_LENGTH;
      }
      const sealed = aead!.seal(buf.subarray(iv, iv + AEAD_IV_LENGTH), aad, buf.subarray(ct, ct + ptLength));
      buf.set(sealed, ct);
      return ctStart + sealed.length;
    },
    lengthOk(len) {
      // header + IV + at least Pad Length and Next Header + tag
      return len >= ctStart + 2 + AEAD_TAG_LENGTH;
    },
    open(packet, seqHigh, esn) {
      const aad = aadOf(packet, 0, seqHigh, esn);
      if (inPlace) {
        const ctLength = packet.length - ctStart - AEAD_TAG_LENGTH;
        if (ctLength < 0) throw new IntegrityError('too-short');
        if (!inPlace.openInPlace(packet, ivStart, aad, ctStart, ctLength)) throw new IntegrityError('icv');
        return packet.subarray(ctStart, ctStart + ctLength); // the plaintext, in place
      }
      return aead!.open(packet.subarray(ivStart, ctStart), aad, packet.subarray(ctStart));
    },
    dispose() {
      (inPlace ?? aead!).dispose();
      ivMask.fill(0);
    },
  };
}

const AES_BLOCK = 16;

function cbcTransform(spec: Extract<EspCipherSpec, { kind: 'cbc' }>): EspTransform {
  const keyLength = spec.encrKey.length;
  if (keyLength !== 16 && keyLength !== 24 && keyLength !== 32) {
    throw new InvalidLengthError('AES-CBC key', '16, 24 or 32', keyLength);
  }
  const name = `aes-${keyLength * 8}-cbc`;
  const key = Uint8Array.from(spec.encrKey);
  const integ = createInteg(spec.integId, spec.integKey);
  const random = spec.random ?? ((out: Uint8Array) => void globalThis.crypto.getRandomValues(out));
  const highBytes = new Uint8Array(4); // scratch for the ESN high half
  const ctStart = ESP_HEADER_LENGTH + AES_BLOCK;

  // RFC 4303 §3.3.2.1 / §2.2.1: with ESN the high 32 bits are appended (not sent) after the
  // Next Header field for the ICV computation.
  const icvInput = (covered: Uint8Array, seqHigh: number, esn: boolean): Uint8Array | Uint8Array[] => {
    if (!esn) return covered;
    writeU32(highBytes, 0, seqHigh);
    return [covered, highBytes];
  };

  return {
    ivLength: AES_BLOCK,
    icvLength: integ.icvLength,
    blockSize: AES_BLOCK,
    seal(buf, off, ptLength, seqHigh, _seqLow, esn) {
      const iv = buf.subarray(off + ESP_HEADER_LENGTH, off + ctStart);
      random(iv); // RFC 3602 §2.1: the IV MUST be chosen at random
      const ct = off + ctStart;
      const c = createCipheriv(name, key, iv).setAutoPadding(false); // ESP pads itself (§2.4)
      const head = c.update(buf.subarray(ct, ct + ptLength));
      buf.set(head, ct);
      buf.set(c.final(), ct + head.length);
      // RFC 4303 §3.3.2: encrypt, then compute the ICV over SPI | Seq | IV | ciphertext
      const end = ct + ptLength;
      buf.set(integ.mac(icvInput(buf.subarray(off, end), seqHigh, esn)), end);
      return end - off + integ.icvLength;
    },
    lengthOk(len) {
      const ctLength = len - ctStart - integ.icvLength;
      return ctLength >= AES_BLOCK && ctLength % AES_BLOCK === 0; // RFC 3602 §3
    },
    open(packet, seqHigh, esn) {
      const icvAt = packet.length - integ.icvLength;
      // RFC 4303 §3.4.4.1: verify the ICV before decrypting
      if (!integ.verify(icvInput(packet.subarray(0, icvAt), seqHigh, esn), packet.subarray(icvAt))) {
        throw new IntegrityError('icv');
      }
      const d = createDecipheriv(name, key, packet.subarray(ESP_HEADER_LENGTH, ctStart)).setAutoPadding(false);
      const head = d.update(packet.subarray(ctStart, icvAt));
      const tail = d.final();
      // a plain Uint8Array view (no copy), so callers see one type whatever the backend
      if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
      const out = new Uint8Array(head.length + tail.length);
      out.set(head, 0);
      out.set(tail, head.length);
      return out;
    },
    dispose() {
      key.fill(0);
      integ.dispose();
    },
  };
}
