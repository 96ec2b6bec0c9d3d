import { describe, it, expect } from 'vitest';
import { createCipheriv, randomBytes } from 'node:crypto';
import { createSkCipher } from '../../src/crypto/sk.js';
import { createAead, type Backend } from '../../src/crypto/aead.js';
import { createInteg } from '../../src/crypto/integ.js';
import { keySizes, type EncrTransform } from '../../src/crypto/kdf.js';
import { IntegrityError, InvalidLengthError, UnsupportedAlgorithmError } from '../../src/crypto/errors.js';
import { EncrId, IntegId } from '../../src/wire/constants.js';
import { concat } from './concat.js';
import { hex, loadVectors, toHex } from './hex.js';

const rfc7634 = loadVectors<{ keymat: string; ike: { iv: string; inner: string; message: string } }>('rfc7634-appendix.json');
const backends: Backend[] = ['node', 'noble'];

describe('RFC 7634 Appendix B: IKEv2 SK payload with ChaCha20-Poly1305', () => {
  for (const backend of backends) {
    it(`reproduces the INFORMATIONAL message via ${backend}`, () => {
      const message = hex(rfc7634.ike.message);
      const aad = message.subarray(0, 28 + 4); // IKE header | SK generic header
      const sk = createSkCipher({ id: EncrId.CHACHA20_POLY1305 }, IntegId.NONE, hex(rfc7634.keymat), new Uint8Array(0), backend);
      const inner = hex(rfc7634.ike.inner);
      expect(sk.sealedLength(inner.length)).toBe(message.length - aad.length);
      const body = sk.seal(aad, inner, hex(rfc7634.ike.iv));
      expect(toHex(concat(aad, body))).toBe(toHex(message));
      expect(toHex(sk.open(aad, message.subarray(32)))).toBe(rfc7634.ike.inner);
    });
  }
});

interface Combo { name: string; encr: EncrTransform; integ: number }
const combos: Combo[] = [
  { name: 'AES-GCM-16-128', encr: { id: EncrId.AES_GCM_16, keyLength: 128 }, integ: IntegId.NONE },
  { name: 'AES-GCM-16-256', encr: { id: EncrId.AES_GCM_16, keyLength: 256 }, integ: IntegId.NONE },
  { name: 'ChaCha20-Poly1305', encr: { id: EncrId.CHACHA20_POLY1305 }, integ: IntegId.NONE },
];
for (const keyLength of [128, 256]) {
  for (const [iname, integ] of [['HMAC-SHA1-96', IntegId.HMAC_SHA1_96], ['HMAC-SHA2-256-128', IntegId.HMAC_SHA2_256_128],
    ['HMAC-SHA2-384-192', IntegId.HMAC_SHA2_384_192], ['HMAC-SHA2-512-256', IntegId.HMAC_SHA2_512_256]] as const) {
    combos.push({ name: `AES-CBC-${keyLength} + ${iname}`, encr: { id: EncrId.AES_CBC, keyLength }, integ });
  }
}

function keysFor(c: Combo) {
  const s = keySizes(c.encr, c.integ);
  return { enc: new Uint8Array(randomBytes(s.encrKey)), auth: new Uint8Array(randomBytes(s.integKey)) };
}

const flip = (b: Uint8Array, i: number): Uint8Array => { const c = Uint8Array.from(b); c[i] ^= 0x01; return c; };

describe('createSkCipher round trips and tampering', () => {
  for (const c of combos) {
    it(`${c.name}: seal/open for many inner lengths, node and noble give the same bytes`, () => {
      const { enc, auth } = keysFor(c);
      const node = createSkCipher(c.encr, c.integ, enc, auth, 'node');
      const noble = createSkCipher(c.encr, c.integ, enc, auth, 'noble');
      const aad = new Uint8Array(randomBytes(32));
      for (const n of [0, 1, 3, 4, 15, 16, 17, 31, 32, 100, 255, 1000]) {
        const inner = new Uint8Array(randomBytes(n));
        const iv = new Uint8Array(randomBytes(node.ivLength));
        const body = node.seal(aad, inner, iv);
        expect(body.length).toBe(node.sealedLength(n));
        expect(toHex(noble.seal(aad, inner, iv))).toBe(toHex(body));
        expect(noble.open(aad, body)).toEqual(inner);
        expect(node.open(aad, node.seal(aad, inner))).toEqual(inner); // random IV
      }
    });

    it(`${c.name}: flipping a bit of the aad, IV, ciphertext or ICV gives IntegrityError`, () => {
      const { enc, auth } = keysFor(c);
      const sk = createSkCipher(c.encr, c.integ, enc, auth);
      const aad = new Uint8Array(randomBytes(32));
      const body = sk.seal(aad, new Uint8Array(randomBytes(40)));
      const regions = { iv: 0, ciphertext: sk.ivLength + 2, icv: body.length - 1 };
      expect(() => sk.open(flip(aad, 17), body)).toThrow(IntegrityError);
      for (const at of Object.values(regions)) expect(() => sk.open(aad, flip(body, at))).toThrow(IntegrityError);
      expect(() => sk.open(aad, body.subarray(0, sk.ivLength + sk.icvLength))).toThrow(IntegrityError);
      expect(() => sk.open(aad, body.subarray(0, body.length - 1))).toThrow(IntegrityError);
    });
  }
});

describe('bad Pad Length under a valid ICV gives IntegrityError', () => {
  it('AEAD: plaintext 00 ff claims 255 octets of padding', () => {
    const key = hex(rfc7634.keymat);
    const aad = hex('00'.repeat(32)), iv = hex('0102030405060708');
    const body = concat(iv, createAead('chacha20-poly1305', key).seal(iv, aad, hex('00ff')));
    const sk = createSkCipher({ id: EncrId.CHACHA20_POLY1305 }, IntegId.NONE, key, new Uint8Array(0));
    expect(() => sk.open(aad, body)).toThrow(expect.objectContaining({ reason: 'pad-length' }));
  });

  it('AES-CBC: a block ending in 0x10 claims 16 octets of padding', () => {
    const enc = new Uint8Array(16).fill(1), auth = new Uint8Array(32).fill(2);
    const aad = hex('11'.repeat(32)), iv = new Uint8Array(16).fill(3);
    const plain = new Uint8Array(16); plain[15] = 16;
    const c = createCipheriv('aes-128-cbc', enc, iv).setAutoPadding(false);
    const ct = concat(new Uint8Array(c.update(plain)), new Uint8Array(c.final()));
    const icv = createInteg(IntegId.HMAC_SHA2_256_128, auth).mac([aad, iv, ct]);
    const sk = createSkCipher({ id: EncrId.AES_CBC, keyLength: 128 }, IntegId.HMAC_SHA2_256_128, enc, auth);
    expect(() => sk.open(aad, concat(iv, ct, icv))).toThrow(expect.objectContaining({ reason: 'pad-length' }));
    // the same block with pad length 15 opens to nothing
    plain[15] = 15;
    const c2 = createCipheriv('aes-128-cbc', enc, iv).setAutoPadding(false);
    const ct2 = concat(new Uint8Array(c2.update(plain)), new Uint8Array(c2.final()));
    const icv2 = createInteg(IntegId.HMAC_SHA2_256_128, auth).mac([aad, iv, ct2]);
    expect(sk.open(aad, concat(iv, ct2, icv2)).length).toBe(0);
  });

  it('AES-CBC: ciphertext not a whole number of blocks', () => {
    const sk = createSkCipher({ id: EncrId.AES_CBC, keyLength: 128 }, IntegId.HMAC_SHA1_96, new Uint8Array(16), new Uint8Array(20));
    expect(() => sk.open(new Uint8Array(0), new Uint8Array(16 + 17 + 12))).toThrow(expect.objectContaining({ reason: 'misaligned' }));
  });
});

describe('createSkCipher argument checks', () => {
  it('wrong key lengths, IV lengths and transforms are typed errors', () => {
    expect(() => createSkCipher({ id: EncrId.AES_GCM_16, keyLength: 128 }, IntegId.NONE, new Uint8Array(16), new Uint8Array(0))).toThrow(InvalidLengthError);
    expect(() => createSkCipher({ id: EncrId.AES_CBC, keyLength: 128 }, IntegId.HMAC_SHA1_96, new Uint8Array(16), new Uint8Array(32))).toThrow(InvalidLengthError);
    expect(() => createSkCipher({ id: EncrId.THREE_DES }, IntegId.HMAC_SHA1_96, new Uint8Array(24), new Uint8Array(20))).toThrow(UnsupportedAlgorithmError);
    const sk = createSkCipher({ id: EncrId.AES_CBC, keyLength: 128 }, IntegId.HMAC_SHA1_96, new Uint8Array(16), new Uint8Array(20));
    expect(() => sk.seal(new Uint8Array(0), new Uint8Array(4), new Uint8Array(8))).toThrow(InvalidLengthError);
  });

  it('errors carry no key bytes', () => {
    const key = new Uint8Array(16).fill(0xab);
    try {
      createSkCipher({ id: EncrId.AES_GCM_16, keyLength: 128 }, IntegId.NONE, key, new Uint8Array(0));
      expect.unreachable();
    } catch (e) {
      expect(String((e as Error).message)).not.toMatch(/abab/i);
    }
  });

  it('dispose zeroes the cipher: later use throws', () => {
    const sk = createSkCipher({ id: EncrId.AES_GCM_16, keyLength: 256 }, IntegId.NONE, new Uint8Array(36).fill(5), new Uint8Array(0));
    sk.dispose();
    expect(() => sk.seal(new Uint8Array(0), new Uint8Array(1))).toThrow();
  });
});
