import { describe, it, expect } from 'vitest';
import {
  deriveChildKeys, deriveIkeKeys, deriveRekeySkeyseed, deriveSkeyseed, keySizes, zero, zeroKeys,
} from '../../src/crypto/kdf.js';
import { prfOutputLength, prfPlus } from '../../src/crypto/prf.js';
import { UnsupportedAlgorithmError } from '../../src/crypto/errors.js';
import { EncrId, IntegId } from '../../src/wire/constants.js';
import { concat } from './concat.js';
import { hex, loadVectors, toHex } from './hex.js';

interface CavpCase {
  hash: string; prfId: number; ni: string; nr: string; gir: string; girNew: string; spiI: string; spiR: string;
  skeyseed: string; dkm: string; dkmChild?: string; dkmChildDh?: string; skeyseedRekey: string;
}
const { cases } = loadVectors<{ cases: CavpCase[] }>('cavp-sp800-135-ikev2.json');

describe('CAVP SP 800-135 IKEv2 KDF', () => {
  for (const c of cases) {
    describe(c.hash, () => {
      const ni = hex(c.ni), nr = hex(c.nr), spiI = hex(c.spiI), spiR = hex(c.spiR);
      const skD = hex(c.dkm).slice(0, prfOutputLength(c.prfId));

      it('SKEYSEED = prf(Ni | Nr, g^ir)', () => {
        expect(toHex(deriveSkeyseed(c.prfId, ni, nr, hex(c.gir)))).toBe(c.skeyseed);
      });

      it('DKM = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)', () => {
        const dkm = prfPlus(c.prfId, hex(c.skeyseed), concat(ni, nr, spiI, spiR), c.dkm.length / 2);
        expect(toHex(dkm)).toBe(c.dkm);
      });

      it('deriveIkeKeys slices the DKM in the §2.14 order', () => {
        // AES-CBC-256 + HMAC-SHA2-256-128: SK_d | SK_ai(32) | SK_ar(32) | SK_ei(32) | SK_er(32) | SK_pi | SK_pr
        const k = deriveIkeKeys(c.prfId, { id: EncrId.AES_CBC, keyLength: 256 }, IntegId.HMAC_SHA2_256_128,
          hex(c.skeyseed), ni, nr, spiI, spiR);
        const got = concat(k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr);
        const p = prfOutputLength(c.prfId);
        expect(got.length).toBe(3 * p + 4 * 32);
        // Only the first 132 bytes are published; the rest continues the same prf+ stream.
        expect(toHex(got).slice(0, c.dkm.length)).toBe(c.dkm);
        expect(toHex(k.skD)).toBe(toHex(skD));
      });

      it('SKEYSEED(rekey) = prf(SK_d (old), g^ir (new) | Ni | Nr)', () => {
        expect(toHex(deriveRekeySkeyseed(c.prfId, skD, hex(c.girNew), ni, nr))).toBe(c.skeyseedRekey);
      });

      if (c.dkmChild) {
        it('Child SA DKM = prf+(SK_d, Ni | Nr)', () => {
          expect(toHex(prfPlus(c.prfId, skD, concat(ni, nr), 132))).toBe(c.dkmChild);
          // deriveChildKeys without PFS: AES-CBC-128 + HMAC-SHA1-96 uses 2 * (16 + 20) bytes of it
          const k = deriveChildKeys(c.prfId, skD, ni, nr, undefined, { id: EncrId.AES_CBC, keyLength: 128 }, IntegId.HMAC_SHA1_96);
          expect(toHex(concat(k.encrI, k.integI, k.encrR, k.integR))).toBe(c.dkmChild!.slice(0, 2 * 72));
        });
      }
      if (c.dkmChildDh) {
        it('Child SA DKM with D-H = prf+(SK_d, g^ir (new) | Ni | Nr)', () => {
          expect(toHex(prfPlus(c.prfId, skD, concat(hex(c.girNew), ni, nr), 132))).toBe(c.dkmChildDh);
          // AES-GCM-16-256: 36-byte keys (32 key + 4 salt), no integrity keys
          const k = deriveChildKeys(c.prfId, skD, ni, nr, hex(c.girNew), { id: EncrId.AES_GCM_16, keyLength: 256 }, IntegId.NONE);
          expect(k.integI.length + k.integR.length).toBe(0);
          expect(toHex(concat(k.encrI, k.encrR))).toBe(c.dkmChildDh!.slice(0, 2 * 72));
        });
      }
    });
  }
});

describe('keySizes', () => {
  it('AES-CBC takes the Key Length attribute, HMAC integ keys are the hash size', () => {
    expect(keySizes({ id: EncrId.AES_CBC, keyLength: 128 }, IntegId.HMAC_SHA1_96)).toEqual({ encrKey: 16, integKey: 20, saltLength: 0 });
    expect(keySizes({ id: EncrId.AES_CBC, keyLength: 256 }, IntegId.HMAC_SHA2_256_128)).toEqual({ encrKey: 32, integKey: 32, saltLength: 0 });
    expect(keySizes({ id: EncrId.AES_CBC, keyLength: 192 }, IntegId.HMAC_SHA2_384_192)).toEqual({ encrKey: 24, integKey: 48, saltLength: 0 });
    expect(keySizes({ id: EncrId.AES_CBC, keyLength: 256 }, IntegId.HMAC_SHA2_512_256)).toEqual({ encrKey: 32, integKey: 64, saltLength: 0 });
  });

  it('AEAD keys carry a 4-byte salt and no integrity key (RFC 5282 §7.1, RFC 7634 §2)', () => {
    expect(keySizes({ id: EncrId.AES_GCM_16, keyLength: 128 }, IntegId.NONE)).toEqual({ encrKey: 20, integKey: 0, saltLength: 4 });
    expect(keySizes({ id: EncrId.AES_GCM_16, keyLength: 256 }, IntegId.NONE)).toEqual({ encrKey: 36, integKey: 0, saltLength: 4 });
    expect(keySizes({ id: EncrId.CHACHA20_POLY1305 }, IntegId.NONE)).toEqual({ encrKey: 36, integKey: 0, saltLength: 4 });
  });

  it('refuses what it cannot key with UnsupportedAlgorithmError', () => {
    expect(() => keySizes({ id: EncrId.AES_CBC }, IntegId.HMAC_SHA1_96)).toThrow(UnsupportedAlgorithmError);
    expect(() => keySizes({ id: EncrId.AES_CBC, keyLength: 100 }, IntegId.HMAC_SHA1_96)).toThrow(UnsupportedAlgorithmError);
    expect(() => keySizes({ id: EncrId.THREE_DES }, IntegId.HMAC_SHA1_96)).toThrow(UnsupportedAlgorithmError);
    expect(() => keySizes({ id: EncrId.AES_CBC, keyLength: 128 }, IntegId.NONE)).toThrow(UnsupportedAlgorithmError);
    expect(() => keySizes({ id: EncrId.AES_GCM_16, keyLength: 128 }, IntegId.HMAC_SHA1_96)).toThrow(UnsupportedAlgorithmError);
    expect(() => keySizes({ id: EncrId.CHACHA20_POLY1305, keyLength: 128 }, IntegId.NONE)).toThrow(UnsupportedAlgorithmError);
  });
});

describe('deriveIkeKeys / deriveChildKeys shapes', () => {
  const skeyseed = hex('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff');
  const ni = hex('0101010101010101'), nr = hex('0202020202020202');

  it('AEAD IKE SA: SK_a* are empty and SK_e* include the salt', () => {
    const k = deriveIkeKeys(5, { id: EncrId.AES_GCM_16, keyLength: 128 }, IntegId.NONE, skeyseed, ni, nr, hex('aa'.repeat(8)), hex('bb'.repeat(8)));
    expect([k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr].map((x) => x.length)).toEqual([32, 0, 0, 20, 20, 32, 32]);
  });

  it('a rekey without new D-H omits g^ir (new)', () => {
    expect(deriveRekeySkeyseed(5, skeyseed, undefined, ni, nr)).toEqual(deriveRekeySkeyseed(5, skeyseed, new Uint8Array(0), ni, nr));
  });

  it('zero and zeroKeys wipe key material', () => {
    const k = deriveChildKeys(5, skeyseed, ni, nr, undefined, { id: EncrId.CHACHA20_POLY1305 }, IntegId.NONE);
    zeroKeys(k);
    expect(k.encrI.every((b) => b === 0) && k.encrR.every((b) => b === 0)).toBe(true);
    const s = hex('ffff');
    zero(s);
    expect(toHex(s)).toBe('0000');
  });
});
