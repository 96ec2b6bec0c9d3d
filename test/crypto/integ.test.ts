import { describe, it, expect } from 'vitest';
import { createInteg, integKeyLength } from '../../src/crypto/integ.js';
import { DisposedError, InvalidLengthError, UnsupportedAlgorithmError } from '../../src/crypto/errors.js';
import { IntegId } from '../../src/wire/constants.js';
import { hex, loadVectors, toHex } from './hex.js';

interface IntegCase { name: string; integId: number; key: string; data: string; icv: string }
const vectors = loadVectors<{ integ: IntegCase[] }>('rfc4231-rfc4868-hmac.json');

describe('integrity transforms (RFC 4868 §2.7.2, RFC 2404 with RFC 2202 data)', () => {
  for (const v of vectors.integ) {
    it(v.name, () => {
      const integ = createInteg(v.integId, hex(v.key));
      expect(toHex(integ.mac(hex(v.data)))).toBe(v.icv);
      expect(integ.verify(hex(v.data), hex(v.icv))).toBe(true);
    });
  }

  it('ICV and key lengths per transform', () => {
    const ids = [IntegId.HMAC_SHA1_96, IntegId.HMAC_SHA2_256_128, IntegId.HMAC_SHA2_384_192, IntegId.HMAC_SHA2_512_256];
    expect(ids.map(integKeyLength)).toEqual([20, 32, 48, 64]);
    expect(ids.map((id) => createInteg(id, new Uint8Array(integKeyLength(id))).icvLength)).toEqual([12, 16, 24, 32]);
  });

  it('verify refuses a changed ICV, a changed message and a wrong-length ICV', () => {
    const integ = createInteg(IntegId.HMAC_SHA2_384_192, new Uint8Array(48).fill(7));
    const data = hex('0102030405');
    const icv = integ.mac(data);
    const bad = Uint8Array.from(icv);
    bad[23] ^= 0x80;
    expect(integ.verify(data, bad)).toBe(false);
    expect(integ.verify(hex('0102030406'), icv)).toBe(false);
    expect(integ.verify(data, icv.subarray(0, 12))).toBe(false);
    expect(integ.verify([hex('0102'), hex('030405')], icv)).toBe(true);
  });

  it('typed errors: unknown transform, wrong key length, use after dispose', () => {
    expect(() => createInteg(IntegId.AES_XCBC_96, new Uint8Array(16))).toThrow(UnsupportedAlgorithmError);
    expect(() => createInteg(IntegId.HMAC_SHA2_256_128, new Uint8Array(16))).toThrow(InvalidLengthError);
    const integ = createInteg(IntegId.HMAC_SHA1_96, new Uint8Array(20));
    integ.dispose();
    expect(() => integ.mac(hex('00'))).toThrow(DisposedError);
  });
});
