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
  /**
   * seal() for plan slots from..to-1 (to exclusive): slot k's packet at buf[offs[k]], laid out
   * as for seal(), with ptLengths[k] octets of plaintext and sequence number
   * seqHigh[k]:seqLow[k]. One call into the AEAD for them all where the backend has a batch
   * call (the native one), else seal() per packet: the same bytes either way.
   */
  sealRun(buf: Uint8Array, offs: ArrayLike<number>, ptLengths: ArrayLike<number>, seqHigh: ArrayLike<number>, seqLow: ArrayLike<number>, from: number, to: number, esn: boolean): void;
  /**
   * open() for plan slots from..to-1: slot k's ESP packet is buf[offs[k], +lengths[k]) (each
   * passed lengthOk), seqHigh[k] its inferred high half. Sets ok[k] = 1 when it verified, its
   * plaintext then in place at buf[offs[k] + 8 + ivLength, offs[k] + lengths[k] - icvLength)
   * (copied there from a backend that returns new bytes), else 0. Consumes the packets as open() does.
   */
  openRun(buf: Uint8Array, offs: ArrayLike<number>, lengths: ArrayLike<number>, seqHigh: ArrayLike<number>, from: number, to: number, esn: boolean, ok: Uint8Array): void;
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

type Seal = EspTransform['seal'];
type Open = EspTransform['open'];

/** sealRun as seal() per packet: for backends without a batch call. */
function sealEach(seal: Seal): EspTransform['sealRun'] {
  return (buf, offs, ptLengths, seqHigh, seqLow, from, to, esn) => {
    for (let k = from; k < to; k++) seal(buf, offs[k], ptLengths[k], seqHigh[k], seqLow[k], esn);
  };
}

/** openRun as open() per packet: the plaintext copied back in place when it came back as new bytes. */
function openEach(open: Open, ctStart: number): EspTransform['openRun'] {
  return (buf, offs, lengths, seqHigh, from, to, esn, ok) => {
    for (let k = from; k < to; k++) {
      const off = offs[k];
      let plain: Uint8Array;
      try {
        plain = open(buf.subarray(off, off + lengths[k]), seqHigh[k], esn);
      } catch {
        ok[k] = 0;
        continue;
      }
      if (plain.buffer !== buf.buffer || plain.byteOffset !== buf.byteOffset + off + ctStart) buf.set(plain, off + ctStart);
      ok[k] = 1;
    }
  };
}

/** Reused per-run arguments of the native batch calls (grow, never shrink). */
class BatchScratch {
  ivOffs = new Uint32Array(64);
  ctOffs = new Uint32Array(64);
  lens = new Uint32Array(64);
  aad = new Uint8Array(64 * 12);
  ok = new Uint8Array(64);

  reserve(n: number): this {
    if (this.ivOffs.length < n) {
      this.ivOffs = new Uint32Array(n * 2);
      this.ctOffs = new Uint32Array(n * 2);
      this.lens = new Uint32Array(n * 2);
      this.aad = new Uint8Array(n * 2 * 12);
      this.ok = new Uint8Array(n * 2);
    }
    return this;
  }
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
  // SPI | Seq high | Seq low (64 bits). The high half is never sent. Written at to[at]; returns its length.
  const writeAad = (to: Uint8Array, at: number, buf: Uint8Array, off: number, seqHigh: number, esn: boolean): number => {
    if (!esn) {
      for (let i = 0; i < 8; i++) to[at + i] = buf[off + i];
      return 8;
    }
    for (let i = 0; i < 4; i++) to[at + i] = buf[off + i];
    writeU32(to, at + 4, seqHigh);
    for (let i = 4; i < 8; i++) to[at + i + 4] = buf[off + i];
    return 12;
  };
  const aadOf = (buf: Uint8Array, off: number, seqHigh: number, esn: boolean): Uint8Array =>
    writeAad(esn ? aadEsn : aad8, 0, buf, off, seqHigh, esn) === 8 ? aad8 : aadEsn;
  // RFC 4106 §3.1 / RFC 7634 §2: a counter IV, here the 64-bit sequence number (masked)
  const writeIv = (buf: Uint8Array, iv: number, seqHigh: number, seqLow: number): void => {
    writeU32(buf, iv, seqHigh);
    writeU32(buf, iv + 4, seqLow);
    for (let i = 0; i < AEAD_IV_LENGTH; i++) buf[iv + i] ^= ivMask[i];
  };
  const scratch = inPlace?.sealBatch && inPlace.openBatch ? new BatchScratch() : undefined;

  const seal: Seal = (buf, off, ptLength, seqHigh, seqLow, esn) => {
    const iv = off + ivStart;
    writeIv(buf, iv, seqHigh, seqLow);
    const ct = off + ctStart;
    const aad = aadOf(buf, off, seqHigh, esn);
    if (inPlace) {
      inPlace.sealInPlace(buf, iv, aad, ct, ptLength); // nonce = salt | buf[iv, +8)
      return ctStart + ptLength + AEAD_TAG_LENGTH;
    }
    const sealed = aead!.seal(buf.subarray(iv, iv + AEAD_IV_LENGTH), aad, buf.subarray(ct, ct + ptLength));
    buf.set(sealed, ct);
    return ctStart + sealed.length;
  };
  const open: Open = (packet, seqHigh, esn) => {
    const aad = aadOf(packet, 0, seqHigh, esn);
    if (inPlace) {
      const ctLength = packet.length - ctStart - AEAD_TAG_LENGTH;
      if (ctLength < 0) throw new IntegrityError('too-short');
      if (!inPlace.openInPlace(packet, ivStart, aad, ctStart, ctLength)) throw new IntegrityError('icv');
      return packet.subarray(ctStart, ctStart + ctLength); // the plaintext, in place
    }
    return aead!.open(packet.subarray(ivStart, ctStart), aad, packet.subarray(ctStart));
  };

  // The native batch calls: IVs and AADs laid out per slot, then one call for the run.
  const sealRun: EspTransform['sealRun'] = (buf, offs, ptLengths, seqHigh, seqLow, from, to, esn) => {
    const b = scratch!.reserve(to - from);
    const aadLength = esn ? 12 : 8;
    for (let k = from, j = 0; k < to; k++, j++) {
      const off = offs[k];
      writeIv(buf, off + ivStart, seqHigh[k], seqLow[k]);
      b.ivOffs[j] = off + ivStart;
      b.ctOffs[j] = off + ctStart;
      b.lens[j] = ptLengths[k];
      writeAad(b.aad, j * aadLength, buf, off, seqHigh[k], esn);
    }
    inPlace!.sealBatch!(buf, b.ivOffs, b.ctOffs, b.lens, b.aad, aadLength, to - from);
  };
  const openRun: EspTransform['openRun'] = (buf, offs, lengths, seqHigh, from, to, esn, ok) => {
    const b = scratch!.reserve(to - from);
    const aadLength = esn ? 12 : 8;
    for (let k = from, j = 0; k < to; k++, j++) {
      const off = offs[k];
      b.ivOffs[j] = off + ivStart;
      b.ctOffs[j] = off + ctStart;
      b.lens[j] = lengths[k] - ctStart - AEAD_TAG_LENGTH; // lengthOk: never negative
      writeAad(b.aad, j * aadLength, buf, off, seqHigh[k], esn);
    }
    inPlace!.openBatch!(buf, b.ivOffs, b.ctOffs, b.lens, b.aad, aadLength, to - from, b.ok);
    for (let k = from, j = 0; k < to; k++, j++) ok[k] = b.ok[j];
  };

  return {
    ivLength: AEAD_IV_LENGTH,
    icvLength: AEAD_TAG_LENGTH,
    // RFC 4106 §3.2 / RFC 7634 §2: no block alignment beyond ESP's 4-octet rule (§2.4).
    blockSize: 4,
    seal,
    sealRun: scratch ? sealRun : sealEach(seal),
    lengthOk(len) {
      // header + IV + at least Pad Length and Next Header + tag
      return len >= ctStart + 2 + AEAD_TAG_LENGTH;
    },
    open,
    openRun: scratch ? openRun : openEach(open, ctStart),
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

  const seal: Seal = (buf, off, ptLength, seqHigh, _seqLow, esn) => {
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
  };
  const open: Open = (packet, seqHigh, esn) => {
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
  };

  return {
    ivLength: AES_BLOCK,
    icvLength: integ.icvLength,
    blockSize: AES_BLOCK,
    seal,
    sealRun: sealEach(seal),
    lengthOk(len) {
      const ctLength = len - ctStart - integ.icvLength;
      return ctLength >= AES_BLOCK && ctLength % AES_BLOCK === 0; // RFC 3602 §3
    },
    open,
    openRun: openEach(open, ctStart),
    dispose() {
      key.fill(0);
      integ.dispose();
    },
  };
}
