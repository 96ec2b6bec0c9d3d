import { describe, it, expect } from 'vitest';
import { randomBytes, randomInt } from 'node:crypto';
import { createAead as createAeadWith, createInPlaceAead as createInPlaceAeadWith, type AeadAlg, type Backend } from '../../src/crypto/aead.js';
import { nativeAeadAvailable, nativeAeadConstructor, nativeInPlaceAead } from '../../src/io/native-aead.js';
import { DisposedError, IntegrityError, InvalidLengthError } from '../../src/crypto/errors.js';
import { concat } from './concat.js';
import { hex, loadVectors, toHex } from './hex.js';

interface GcmCase { name: string; key: string; iv: string; aad: string; pt: string; ct: string; tag: string }
const gcmVectors = loadVectors<{ cases: GcmCase[] }>('mcgrew-viega-gcm.json');
const rfc7634 = loadVectors<{ keymat: string; esp: { iv: string; innerPacket: string; packet: string } }>('rfc7634-appendix.json');
const backends: Backend[] = ['node', 'noble', 'native'];
// the 'native' backend is the addon's in-place AEAD, passed in as the daemon passes it to the SAD
const inPlace = nativeInPlaceAead();
const createAead = (alg: AeadAlg, keyWithSalt: Uint8Array, backend?: Backend) => createAeadWith(alg, keyWithSalt, backend, inPlace);
const createInPlaceAead = (alg: AeadAlg, keyWithSalt: Uint8Array) => createInPlaceAeadWith(alg, keyWithSalt, inPlace);
const hasNative = nativeAeadAvailable();
const NEEDS_NATIVE = hasNative ? '(needs the native addon)' : '(skipped: the native addon is not built; npm ci builds it)';
/** `it`, except that a 'native' test skips (saying why) when the addon does not load. */
const itFor = (backend: Backend) => (name: string, fn: () => void) =>
  backend === 'native' ? it.skipIf(!hasNative)(`${name} ${NEEDS_NATIVE}`, fn) : it(name, fn);

describe('AES-GCM-16 (McGrew-Viega test cases, 96-bit IV split as salt | IV per RFC 4106 §4)', () => {
  for (const backend of backends) {
    for (const v of gcmVectors.cases) {
      itFor(backend)(`${v.name} via ${backend}`, () => {
        const iv = hex(v.iv);
        const aead = createAead('aes-gcm-16', concat(hex(v.key), iv.subarray(0, 4)), backend);
        const sealed = aead.seal(iv.subarray(4), hex(v.aad), hex(v.pt));
        expect(toHex(sealed)).toBe(v.ct + v.tag);
        expect(toHex(aead.open(iv.subarray(4), hex(v.aad), sealed))).toBe(v.pt);
      });
    }
  }
});

describe('ChaCha20-Poly1305 (RFC 7634 Appendix A, ESP example)', () => {
  for (const backend of backends) {
    itFor(backend)(`reproduces the ESP packet via ${backend}`, () => {
      const packet = hex(rfc7634.esp.packet);
      const aad = packet.subarray(0, 8); // RFC 7634 §2.1: AAD = SPI | 32-bit sequence number
      const iv = hex(rfc7634.esp.iv);
      // RFC 4303 §2.4: default padding 01 02 ..., then Pad Length, then Next Header (4 = IPv4)
      const plaintext = concat(hex(rfc7634.esp.innerPacket), hex('0102'), hex('02'), hex('04'));
      const aead = createAead('chacha20-poly1305', hex(rfc7634.keymat), backend);
      expect(toHex(concat(aad, iv, aead.seal(iv, aad, plaintext)))).toBe(toHex(packet));
      expect(aead.open(iv, aad, packet.subarray(16))).toEqual(plaintext);
    });
  }
});

describe('node and noble backends agree', () => {
  const algs: [AeadAlg, number][] = [['aes-gcm-16', 16], ['aes-gcm-16', 24], ['aes-gcm-16', 32], ['chacha20-poly1305', 32]];
  for (const [alg, keyLen] of algs) {
    it(`${alg} ${keyLen * 8}: identical bytes over random inputs`, () => {
      for (let i = 0; i < 40; i++) {
        const key = randomBytes(keyLen + 4);
        const iv = randomBytes(8), aad = randomBytes(i % 3 === 0 ? 0 : 1 + (i * 7) % 40);
        const pt = randomBytes((i * 37) % 300);
        const n = createAead(alg, key, 'node'), b = createAead(alg, key, 'noble');
        const sealed = n.seal(iv, aad, pt);
        expect(toHex(b.seal(iv, aad, pt))).toBe(toHex(sealed));
        expect(b.open(iv, aad, sealed)).toEqual(new Uint8Array(pt));
        expect(n.open(iv, aad, b.seal(iv, aad, pt))).toEqual(new Uint8Array(pt));
      }
    });
  }
});

describe('AEAD failures are typed', () => {
  const key = hex(rfc7634.keymat);
  for (const backend of backends) {
    itFor(backend)(`tampering with AAD, IV, ciphertext or tag gives IntegrityError (${backend})`, () => {
      const aead = createAead('chacha20-poly1305', key, backend);
      const iv = hex('0001020304050607'), aad = hex('aabbccdd');
      const sealed = aead.seal(iv, aad, hex('00112233445566778899'));
      const flip = (b: Uint8Array, i: number) => { const c = Uint8Array.from(b); c[i] ^= 1; return c; };
      expect(() => aead.open(iv, flip(aad, 0), sealed)).toThrow(IntegrityError);
      expect(() => aead.open(flip(iv, 7), aad, sealed)).toThrow(IntegrityError);
      expect(() => aead.open(iv, aad, flip(sealed, 0))).toThrow(IntegrityError);
      expect(() => aead.open(iv, aad, flip(sealed, sealed.length - 1))).toThrow(IntegrityError);
      expect(() => aead.open(iv, aad, sealed.subarray(0, 15))).toThrow(IntegrityError);
    });
  }

  it('wrong key or IV lengths give InvalidLengthError, use after dispose gives DisposedError', () => {
    expect(() => createAead('aes-gcm-16', new Uint8Array(16))).toThrow(InvalidLengthError);
    expect(() => createAead('chacha20-poly1305', new Uint8Array(32))).toThrow(InvalidLengthError);
    const aead = createAead('aes-gcm-16', new Uint8Array(20));
    expect(() => aead.seal(new Uint8Array(12), new Uint8Array(0), new Uint8Array(0))).toThrow(InvalidLengthError);
    aead.dispose();
    expect(() => aead.seal(new Uint8Array(8), new Uint8Array(0), new Uint8Array(0))).toThrow(DisposedError);
  });
});

// The in-place backend (native/src/aead.cc) against @noble/ciphers, as ESP lays packets out:
// IV at ivOff, ciphertext at ctOff, tag right after it, guard bytes around that must not change.
describe.skipIf(!hasNative)(`native in-place AEAD (OpenSSL EVP) ${NEEDS_NATIVE}`, () => {
  const algs: [AeadAlg, number][] = [['aes-gcm-16', 16], ['aes-gcm-16', 24], ['aes-gcm-16', 32], ['chacha20-poly1305', 32]];
  const edges = [0, 1, 2, 3, 4, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 1399, 1400, 1499, 1500];
  const IV_OFF = 5, CT_OFF = 13, TAIL = 7; // 5 guard bytes | IV | ct | tag | 7 guard bytes

  for (const [alg, keyLen] of algs) {
    for (const aadLen of [8, 12]) {
      it(`${alg} ${keyLen * 8}, AAD ${aadLen}: the same bytes as noble for lengths 0..1500, opened back in place`, () => {
        const lengths = [...edges, ...Array.from({ length: 20 }, () => randomInt(1501))];
        for (const len of lengths) {
          const key = randomBytes(keyLen + 4), iv = randomBytes(8), aad = randomBytes(aadLen), pt = randomBytes(len);
          const expected = createAead(alg, key, 'noble').seal(iv, aad, pt);
          const buf = new Uint8Array(randomBytes(CT_OFF + len + 16 + TAIL));
          buf.set(iv, IV_OFF);
          buf.set(pt, CT_OFF);
          const before = buf.slice();
          const ctx = createInPlaceAead(alg, key);
          ctx.sealInPlace(buf, IV_OFF, aad, CT_OFF, len);
          expect(toHex(buf.subarray(CT_OFF, CT_OFF + len + 16))).toBe(toHex(expected));
          expect(buf.subarray(0, CT_OFF)).toEqual(before.subarray(0, CT_OFF)); // guard and IV
          expect(buf.subarray(CT_OFF + len + 16)).toEqual(before.subarray(CT_OFF + len + 16));
          expect(ctx.openInPlace(buf, IV_OFF, aad, CT_OFF, len)).toBe(true);
          expect(buf.subarray(CT_OFF, CT_OFF + len)).toEqual(new Uint8Array(pt));
          ctx.dispose();
        }
      });
    }
  }

  it('one context seals and opens many packets in a row, and keeps working after a failed open', () => {
    for (const [alg, keyLen] of algs) {
      const key = randomBytes(keyLen + 4);
      const ctx = createInPlaceAead(alg, key);
      const noble = createAead(alg, key, 'noble');
      for (let i = 0; i < 50; i++) {
        const iv = randomBytes(8), aad = randomBytes(i % 2 ? 8 : 12), pt = randomBytes(i * 29);
        const buf = new Uint8Array(8 + pt.length + 16);
        buf.set(iv, 0);
        buf.set(pt, 8);
        ctx.sealInPlace(buf, 0, aad, 8, pt.length);
        expect(toHex(buf.subarray(8))).toBe(toHex(noble.seal(iv, aad, pt)));
        if (i % 5 === 0) {
          const bad = buf.slice();
          bad[bad.length - 1] ^= 0x80;
          expect(ctx.openInPlace(bad, 0, aad, 8, pt.length)).toBe(false);
        }
        expect(ctx.openInPlace(buf, 0, aad, 8, pt.length)).toBe(true);
        expect(buf.subarray(8, 8 + pt.length)).toEqual(new Uint8Array(pt));
      }
      ctx.dispose();
    }
  });

  it('tampering with AAD, IV, ciphertext or tag: false, and the would-be plaintext is zeroed', () => {
    for (const [alg, keyLen] of algs) {
      const key = randomBytes(keyLen + 4);
      const ctx = createInPlaceAead(alg, key);
      const aad = randomBytes(12), pt = new Uint8Array(100).fill(0x5a);
      const sealed = new Uint8Array(8 + 100 + 16);
      sealed.set(randomBytes(8), 0);
      sealed.set(pt, 8);
      ctx.sealInPlace(sealed, 0, aad, 8, 100);
      const cases: [string, (b: Uint8Array, a: Uint8Array) => void][] = [
        ['aad', (_b, a) => void (a[11] ^= 1)],
        ['iv', (b) => void (b[3] ^= 1)],
        ['ciphertext', (b) => void (b[50] ^= 1)],
        ['tag', (b) => void (b[8 + 100 + 15] ^= 1)],
      ];
      for (const [what, tamper] of cases) {
        const b = sealed.slice(), a = Uint8Array.from(aad);
        tamper(b, a);
        expect(ctx.openInPlace(b, 0, a, 8, 100), `${alg} ${what}`).toBe(false);
        expect(b.subarray(8, 108).every((x) => x === 0), `${alg} ${what}: range zeroed`).toBe(true);
      }
      // the Aead interface over it throws IntegrityError and returns nothing
      const aead = createAead(alg, key, 'native');
      const ct = aead.seal(sealed.subarray(0, 8), aad, pt);
      ct[0] ^= 1;
      expect(() => aead.open(sealed.subarray(0, 8), aad, ct)).toThrow(IntegrityError);
      ctx.dispose();
    }
  });

  it('dispose: later calls throw DisposedError; the addon object itself throws ERR_DISPOSED', () => {
    const ctx = createInPlaceAead('aes-gcm-16', new Uint8Array(20));
    ctx.dispose();
    const buf = new Uint8Array(40);
    expect(() => ctx.sealInPlace(buf, 0, new Uint8Array(8), 8, 0)).toThrow(DisposedError);
    expect(() => ctx.openInPlace(buf, 0, new Uint8Array(8), 8, 0)).toThrow(DisposedError);
    ctx.dispose(); // twice is harmless
    const aead = createAead('chacha20-poly1305', new Uint8Array(36), 'native');
    aead.dispose();
    expect(() => aead.seal(new Uint8Array(8), new Uint8Array(8), new Uint8Array(4))).toThrow(DisposedError);
    const Raw = nativeAeadConstructor()!;
    const raw = new Raw('chacha20-poly1305', new Uint8Array(32), new Uint8Array(4));
    raw.dispose();
    expect(() => raw.sealInPlace(buf, 0, new Uint8Array(8), 8, 0)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    expect(() => raw.openInPlace(buf, 0, new Uint8Array(8), 8, 0)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  });

  it('bad offsets, lengths and argument types throw TypeError or RangeError (never a crash)', () => {
    const Raw = nativeAeadConstructor()!;
    const ctx = new Raw('aes-gcm-16', new Uint8Array(16), new Uint8Array(4));
    const buf = new Uint8Array(64), aad = new Uint8Array(8);
    const bad: [string, () => unknown, typeof TypeError | typeof RangeError][] = [
      ['no arguments', () => (ctx.sealInPlace as any)(), TypeError],
      ['buf not a Uint8Array', () => ctx.sealInPlace(new Uint16Array(32) as any, 0, aad, 8, 0), TypeError],
      ['buf an ArrayBuffer', () => ctx.openInPlace(buf.buffer as any, 0, aad, 8, 0), TypeError],
      ['aad missing', () => ctx.sealInPlace(buf, 0, undefined as any, 8, 0), TypeError],
      ['ivOff negative', () => ctx.sealInPlace(buf, -1, aad, 8, 0), RangeError],
      ['ivOff fractional', () => ctx.sealInPlace(buf, 0.5, aad, 8, 0), RangeError],
      ['ivOff NaN', () => ctx.openInPlace(buf, NaN, aad, 8, 0), RangeError],
      ['ivOff a string', () => ctx.openInPlace(buf, '0' as any, aad, 8, 0), RangeError],
      ['IV past the end', () => ctx.sealInPlace(buf, 57, aad, 8, 0), RangeError],
      ['tag past the end', () => ctx.sealInPlace(buf, 0, aad, 8, 41), RangeError],
      ['ctOff past the end', () => ctx.openInPlace(buf, 0, aad, 49, 0), RangeError],
      ['length 2^32 - 1', () => ctx.openInPlace(buf, 0, aad, 8, 2 ** 32 - 1), RangeError],
      ['offset + length overflowing 32 bits', () => ctx.sealInPlace(buf, 0, aad, 2 ** 32 - 8, 16), RangeError],
      ['length 2^53', () => ctx.sealInPlace(buf, 0, aad, 8, 2 ** 53), RangeError],
      ['AAD over 256 bytes', () => ctx.sealInPlace(buf, 0, new Uint8Array(257), 8, 0), RangeError],
      ['a detached buffer', () => {
        const gone = new Uint8Array(64);
        structuredClone(gone.buffer, { transfer: [gone.buffer] });
        return ctx.sealInPlace(gone, 0, aad, 8, 0);
      }, RangeError],
      ['an unknown algorithm', () => new Raw('aes-ccm' as any, new Uint8Array(16), new Uint8Array(4)), RangeError],
      ['a 20-byte AES key', () => new Raw('aes-gcm-16', new Uint8Array(20), new Uint8Array(4)), RangeError],
      ['a 16-byte ChaCha20 key', () => new Raw('chacha20-poly1305', new Uint8Array(16), new Uint8Array(4)), RangeError],
      ['a 3-byte salt', () => new Raw('aes-gcm-16', new Uint8Array(16), new Uint8Array(3)), RangeError],
      ['the key as a string', () => new Raw('aes-gcm-16', 'k' as any, new Uint8Array(4)), TypeError],
    ];
    for (const [what, call, type] of bad) expect(call, what).toThrow(type);
    // the buffer is untouched by refused calls, and the context still works
    expect(buf.every((b) => b === 0)).toBe(true);
    ctx.sealInPlace(buf, 0, aad, 8, 40);
    expect(ctx.openInPlace(buf, 0, aad, 8, 40)).toBe(true);
    // through the TypeScript wrapper: the key length check is the usual InvalidLengthError
    expect(() => createInPlaceAead('aes-gcm-16', new Uint8Array(21))).toThrow(InvalidLengthError);
  });

  it('errors name lengths, never key bytes', () => {
    const Raw = nativeAeadConstructor()!;
    const key = new Uint8Array(20).fill(0xa7);
    const messages: string[] = [];
    for (const call of [
      () => new Raw('aes-gcm-16', key, new Uint8Array(4)),
      () => new Raw('aes-gcm-16', key.subarray(0, 16), key.subarray(0, 5)),
      () => new Raw('chacha20-poly1305', key, new Uint8Array(4)),
    ]) {
      try {
        call();
      } catch (e) {
        messages.push(String((e as Error).message));
      }
    }
    expect(messages).toHaveLength(3);
    for (const m of messages) expect(m.toLowerCase()).not.toMatch(/a7a7|167/);
  });
});

// The batch calls (sealBatch/openBatch, one call into the addon per run of ESP packets): the
// same published vectors, each packet of a batch at its own offset with its own AAD.
describe.skipIf(!hasNative)(`native batch seal and open ${NEEDS_NATIVE}`, () => {
  /** Packets laid out IV | data | tag back to back, 3 guard bytes before each. */
  const layout = (lengths: number[]) => {
    const ivOffs = new Uint32Array(lengths.length), ctOffs = new Uint32Array(lengths.length), lens = Uint32Array.from(lengths);
    let off = 0;
    lengths.forEach((len, i) => {
      ivOffs[i] = off + 3;
      ctOffs[i] = off + 11;
      off += 11 + len + 16;
    });
    return { ivOffs, ctOffs, lens, size: off };
  };

  for (const v of gcmVectors.cases) {
    it(`${v.name}: three copies sealed in one call give the vector's bytes; a bad tag in the middle fails alone`, () => {
      const iv = hex(v.iv), aad = hex(v.aad), pt = hex(v.pt);
      const ctx = createInPlaceAead('aes-gcm-16', concat(hex(v.key), iv.subarray(0, 4)));
      const { ivOffs, ctOffs, lens, size } = layout([pt.length, pt.length, pt.length]);
      const buf = new Uint8Array(size).fill(0xee);
      const aads = new Uint8Array(3 * aad.length);
      for (let i = 0; i < 3; i++) {
        buf.set(iv.subarray(4), ivOffs[i]);
        buf.set(pt, ctOffs[i]);
        aads.set(aad, i * aad.length);
      }
      ctx.sealBatch!(buf, ivOffs, ctOffs, lens, aads, aad.length, 3);
      for (let i = 0; i < 3; i++) expect(toHex(buf.subarray(ctOffs[i], ctOffs[i] + pt.length + 16)), `packet ${i}`).toBe(v.ct + v.tag);
      buf[ctOffs[1] + pt.length + 15] ^= 1; // the middle packet's tag
      const ok = new Uint8Array(3).fill(9);
      expect(ctx.openBatch!(buf, ivOffs, ctOffs, lens, aads, aad.length, 3, ok)).toBe(1);
      expect([...ok]).toEqual([1, 0, 1]);
      expect(toHex(buf.subarray(ctOffs[0], ctOffs[0] + pt.length))).toBe(v.pt);
      expect(toHex(buf.subarray(ctOffs[2], ctOffs[2] + pt.length))).toBe(v.pt);
      expect(buf.subarray(ctOffs[1], ctOffs[1] + pt.length).every((b) => b === 0)).toBe(true); // nothing left of it
      ctx.dispose();
    });
  }

  it('RFC 7634 Appendix A: the ESP example sealed and opened through the batch call', () => {
    const packet = hex(rfc7634.esp.packet);
    const plaintext = concat(hex(rfc7634.esp.innerPacket), hex('0102'), hex('02'), hex('04'));
    const ctx = createInPlaceAead('chacha20-poly1305', hex(rfc7634.keymat));
    const buf = new Uint8Array(16 + plaintext.length + 16);
    buf.set(packet.subarray(0, 16)); // SPI | Seq | IV
    buf.set(plaintext, 16);
    const one = (n: number) => Uint32Array.of(n);
    ctx.sealBatch!(buf, one(8), one(16), one(plaintext.length), packet.subarray(0, 8), 8, 1);
    expect(toHex(buf)).toBe(toHex(packet));
    const ok = new Uint8Array(1);
    expect(ctx.openBatch!(buf, one(8), one(16), one(plaintext.length), packet.subarray(0, 8), 8, 1, ok)).toBe(0);
    expect(ok[0]).toBe(1);
    expect(buf.subarray(16, 16 + plaintext.length)).toEqual(plaintext);
  });

  it('a batch of random lengths and AADs gives the same bytes as noble, packet by packet', () => {
    for (const [alg, keyLen] of [['aes-gcm-16', 16], ['aes-gcm-16', 32], ['chacha20-poly1305', 32]] as [AeadAlg, number][]) {
      for (const aadLength of [8, 12]) {
        const key = randomBytes(keyLen + 4);
        const lengths = [0, 1, 1400, ...Array.from({ length: 40 }, () => randomInt(1501))];
        const { ivOffs, ctOffs, lens, size } = layout(lengths);
        const buf = new Uint8Array(randomBytes(size));
        const aads = new Uint8Array(randomBytes(lengths.length * aadLength));
        const noble = createAead(alg, key, 'noble');
        const expected = lengths.map((len, i) =>
          toHex(noble.seal(buf.slice(ivOffs[i], ivOffs[i] + 8), aads.subarray(i * aadLength, (i + 1) * aadLength), buf.slice(ctOffs[i], ctOffs[i] + len))),
        );
        const plain = lengths.map((len, i) => buf.slice(ctOffs[i], ctOffs[i] + len));
        const ctx = createInPlaceAead(alg, key);
        ctx.sealBatch!(buf, ivOffs, ctOffs, lens, aads, aadLength, lengths.length);
        lengths.forEach((len, i) => expect(toHex(buf.subarray(ctOffs[i], ctOffs[i] + len + 16)), `${alg} packet ${i}`).toBe(expected[i]));
        const ok = new Uint8Array(lengths.length);
        expect(ctx.openBatch!(buf, ivOffs, ctOffs, lens, aads, aadLength, lengths.length, ok)).toBe(0);
        expect(ok.every((x) => x === 1)).toBe(true);
        lengths.forEach((len, i) => expect(buf.subarray(ctOffs[i], ctOffs[i] + len)).toEqual(plain[i]));
        ctx.dispose();
      }
    }
  });

  it('a packet outside the buffer or a count over the arrays: RangeError before any packet is touched', () => {
    const ctx = createInPlaceAead('aes-gcm-16', new Uint8Array(20));
    const { ivOffs, ctOffs, lens, size } = layout([10, 10]);
    const buf = new Uint8Array(size), aads = new Uint8Array(16), ok = new Uint8Array(2);
    const tooLong = Uint32Array.of(10, 11);
    expect(() => ctx.sealBatch!(buf, ivOffs, ctOffs, tooLong, aads, 8, 2)).toThrow(RangeError);
    expect(() => ctx.openBatch!(buf, ivOffs, ctOffs, tooLong, aads, 8, 2, ok)).toThrow(RangeError);
    expect(() => ctx.sealBatch!(buf, ivOffs, ctOffs, lens, aads, 8, 3)).toThrow(RangeError);
    expect(() => ctx.sealBatch!(buf, ivOffs, ctOffs, lens, aads, 12, 2)).toThrow(RangeError); // AADs over aad's length
    expect(() => ctx.openBatch!(buf, ivOffs, ctOffs, lens, aads, 8, 2, new Uint8Array(1))).toThrow(RangeError);
    expect(() => ctx.sealBatch!(buf, ivOffs, ctOffs, lens, aads, 300, 0)).toThrow(RangeError);
    expect(() => ctx.sealBatch!(buf, new Int32Array(2) as any, ctOffs, lens, aads, 8, 2)).toThrow(TypeError);
    expect(buf.every((b) => b === 0)).toBe(true); // the first packet fit, and was not sealed either
    ctx.dispose();
    expect(() => ctx.sealBatch!(buf, ivOffs, ctOffs, lens, aads, 8, 2)).toThrow(DisposedError);
    expect(() => ctx.openBatch!(buf, ivOffs, ctOffs, lens, aads, 8, 2, ok)).toThrow(DisposedError);
  });
});
