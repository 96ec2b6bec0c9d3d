// Without the addon (not built, or built before AeadContext) ESP falls back to node:crypto
// silently, and asking for 'native' by name says why it cannot.
import { describe, expect, it, vi } from 'vitest';

vi.mock('../../src/io/native.js', () => ({
  loadNative: () => {
    throw new Error('the native addon is not built');
  },
}));

const aead = await import('../../src/crypto/aead.js');
const esp = await import('../../src/ipsec/esp-transform.js');
const { UnsupportedAlgorithmError } = await import('../../src/crypto/errors.js');
const { nativeAeadAvailable, nativeInPlaceAead } = await import('../../src/io/native-aead.js');
// what the daemon passes to the SAD: here undefined, the addon "is not built"
const inPlace = nativeInPlaceAead();
type Alg = import('../../src/crypto/aead.js').AeadAlg;
const createAead = (alg: Alg, key: Uint8Array, backend?: import('../../src/crypto/aead.js').Backend) => aead.createAead(alg, key, backend, inPlace);
const createInPlaceAead = (alg: Alg, key: Uint8Array) => aead.createInPlaceAead(alg, key, inPlace);
const defaultEspBackend = () => aead.defaultEspBackend(inPlace);
const createEspTransform = (spec: import('../../src/ipsec/esp-transform.js').EspCipherSpec) => esp.createEspTransform(spec, inPlace);

describe('AEAD backends without the native addon', () => {
  it('ESP uses node:crypto by default; native by name is UnsupportedAlgorithmError', () => {
    expect(nativeAeadAvailable()).toBe(false);
    expect(defaultEspBackend()).toBe('node');
    const key = new Uint8Array(20).fill(3);
    expect(() => createInPlaceAead('aes-gcm-16', key)).toThrow(UnsupportedAlgorithmError);
    expect(() => createAead('aes-gcm-16', key, 'native')).toThrow(/native addon is not built/);
    const tx = createEspTransform({ kind: 'aead', alg: 'aes-gcm-16', keyWithSalt: key });
    const rx = createEspTransform({ kind: 'aead', alg: 'aes-gcm-16', keyWithSalt: key });
    const buf = new Uint8Array(16 + 8 + 16);
    buf.set([0, 0, 0, 1, 0, 0, 0, 1], 0);
    buf.set([1, 2, 3, 4, 5, 6, 2, 4], 16); // payload, padding 1 2, Pad Length 2, Next Header 4
    tx.seal(buf, 0, 8, 0, 1, false);
    expect(Array.from(rx.open(buf, 0, false))).toEqual([1, 2, 3, 4, 5, 6, 2, 4]);
  });
});
