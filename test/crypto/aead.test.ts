import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createAead, type AeadAlg, type Backend } from '../../src/crypto/aead.js';
import { DisposedError, IntegrityError, InvalidLengthError } from '../../src/crypto/errors.js';
import { concat } from './concat.js';
import { hex, loadVectors, toHex } from './hex.js';

interface GcmCase { name: string; key: string; iv: string; aad: string; pt: string; ct: string; tag: string }
const gcmVectors = loadVectors<{ cases: GcmCase[] }>('mcgrew-viega-gcm.json');
const rfc7634 = loadVectors<{ keymat: string; esp: { iv: string; innerPacket: string; packet: string } }>('rfc7634-appendix.json');
const backends: Backend[] = ['node', 'noble'];

describe('AES-GCM-16 (McGrew-Viega test cases, 96-bit IV split as salt | IV per RFC 4106 §4)', () => {
  for (const backend of backends) {
    for (const v of gcmVectors.cases) {
      it(`${v.name} via ${backend}`, () => {
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
    it(`reproduces the ESP packet via ${backend}`, () => {
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
    it(`tampering with AAD, IV, ciphertext or tag gives IntegrityError (${backend})`, () => {
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
