import { describe, it, expect } from 'vitest';
import { prf, prfOutputLength, prfPlus } from '../../src/crypto/prf.js';
import { InvalidLengthError, UnsupportedAlgorithmError } from '../../src/crypto/errors.js';
import { PrfId } from '../../src/wire/constants.js';
import { fill, hex, loadVectors, toHex } from './hex.js';

interface PrfCase { name: string; prfId: number; key?: string; keyFill?: [number, number]; data: string; mac: string }
const vectors = loadVectors<{ prf: PrfCase[] }>('rfc4231-rfc4868-hmac.json');

describe('prf (RFC 2202, RFC 4231, RFC 4868 known answers)', () => {
  for (const v of vectors.prf) {
    it(v.name, () => {
      const key = v.keyFill ? fill(v.keyFill[0], v.keyFill[1]) : hex(v.key!);
      expect(toHex(prf(v.prfId, key, hex(v.data)))).toBe(v.mac);
    });
  }

  it('accepts the data as several chunks', () => {
    const whole = prf(PrfId.HMAC_SHA2_256, hex('0102'), hex('aabbccdd'));
    expect(prf(PrfId.HMAC_SHA2_256, hex('0102'), [hex('aa'), hex('bbcc'), hex('dd')])).toEqual(whole);
  });

  it('reports output lengths of the HMAC PRFs', () => {
    expect([2, 5, 6, 7].map(prfOutputLength)).toEqual([20, 32, 48, 64]);
  });

  it('refuses PRFs it does not implement with a typed error', () => {
    expect(() => prf(PrfId.AES128_XCBC, fill(0, 16), hex('00'))).toThrow(UnsupportedAlgorithmError);
    expect(() => prfOutputLength(PrfId.HMAC_MD5)).toThrow(UnsupportedAlgorithmError);
  });
});

describe('prfPlus (RFC 7296 §2.13)', () => {
  const key = hex('000102030405060708090a0b0c0d0e0f');
  const seed = hex('cafe');

  it('T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S | 0x02)', () => {
    const t1 = prf(PrfId.HMAC_SHA2_256, key, [seed, hex('01')]);
    const t2 = prf(PrfId.HMAC_SHA2_256, key, [t1, seed, hex('02')]);
    expect(toHex(prfPlus(PrfId.HMAC_SHA2_256, key, seed, 64))).toBe(toHex(t1) + toHex(t2));
  });

  it('shorter outputs are prefixes of longer ones', () => {
    const long = prfPlus(PrfId.HMAC_SHA1, key, seed, 100);
    expect(prfPlus(PrfId.HMAC_SHA1, key, seed, 33)).toEqual(long.slice(0, 33));
    expect(prfPlus(PrfId.HMAC_SHA1, key, seed, 0)).toEqual(new Uint8Array(0));
  });

  it('produces at most 255 blocks', () => {
    expect(prfPlus(PrfId.HMAC_SHA1, key, seed, 255 * 20).length).toBe(5100);
    expect(() => prfPlus(PrfId.HMAC_SHA1, key, seed, 255 * 20 + 1)).toThrow(InvalidLengthError);
    expect(() => prfPlus(PrfId.HMAC_SHA1, key, seed, -1)).toThrow(InvalidLengthError);
  });
});
