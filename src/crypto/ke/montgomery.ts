// Curve25519 and Curve448 groups 31 and 32 (RFC 8031). The scalar multiplications run in
// node:crypto (OpenSSL): a key pair and its shared secret take about 0.1 ms there against
// 1.5-2.8 ms in @noble/curves' JS, a large share of a gateway's handshake CPU. test/crypto/
// ke.test.ts proves the RFC 7748 vectors and agreement with @noble/curves, the reference.
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { KeyExchangeError } from './errors.js';
import type { KeyExchange, KeyExchangeOptions } from './types.js';

// A fresh key pair is made inside OpenSSL, so its scalar never sits in a JS string or buffer.
// A given private key (vectors, tests) goes in as PKCS #8 DER (RFC 8410 §7: a fixed prefix for
// OIDs 1.3.101.110 and .111, then the raw scalar); public values go in and out as JWK
// (RFC 8037 §2, "x" base64url), which OpenSSL decodes far faster than DER.
const CURVES: Record<number, { bytes: number; crv: 'X25519' | 'X448'; type: 'x25519' | 'x448'; pkcs8: Buffer }> = {
  31: { bytes: 32, crv: 'X25519', type: 'x25519', pkcs8: Buffer.from('302e020100300506032b656e04220420', 'hex') }, // RFC 8031 §2: Curve25519, 32-octet keys
  32: { bytes: 56, crv: 'X448', type: 'x448', pkcs8: Buffer.from('3046020100300506032b656f043a0438', 'hex') }, // RFC 8031 §2: Curve448, 56-octet keys
};

/** The private key object: generated, or the caller's scalar (whose wrapped copy is zeroed). */
function privateKeyOf(c: (typeof CURVES)[number], given: Uint8Array | undefined): KeyObject {
  if (!given) return c.type === 'x25519' ? generateKeyPairSync('x25519').privateKey : generateKeyPairSync('x448').privateKey;
  const der = Buffer.concat([c.pkcs8, given]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

export function isMontgomeryGroup(group: number): boolean {
  return group in CURVES;
}

/** KE data length (RFC 8031 §3.1: the public key, 32 or 56 octets). */
export function montgomeryLength(group: number): number {
  const c = CURVES[group];
  if (!c) throw new KeyExchangeError('unsupported-group', group, 'not a Curve25519/Curve448 group');
  return c.bytes;
}

export function createMontgomery(group: number, opts: KeyExchangeOptions = {}): KeyExchange {
  const c = CURVES[group];
  if (!c) throw new KeyExchangeError('unsupported-group', group, 'not a Curve25519/Curve448 group');
  // RFC 7748 §5: any string of the right length is a valid scalar (it is clamped on use).
  if (opts.privateKey && opts.privateKey.length !== c.bytes) {
    throw new KeyExchangeError('bad-private-key', group, `private key must be ${c.bytes} bytes`);
  }
  let priv: KeyObject | null = privateKeyOf(c, opts.privateKey);
  // RFC 8031 §3.1: the KE data is X25519/X448(d, base point), little-endian as in RFC 7748.
  const publicKey = new Uint8Array(Buffer.from(createPublicKey(priv).export({ format: 'jwk' }).x!, 'base64url'));

  return {
    group,
    publicKey,
    computeSharedSecret(peer: Uint8Array): Uint8Array {
      if (!priv) throw new KeyExchangeError('disposed', group, 'exchange already disposed');
      // RFC 8031 §3.1: the Key Exchange Data is exactly 32 (X25519) or 56 (X448) octets.
      if (peer.length !== c.bytes) {
        throw new KeyExchangeError('bad-length', group, `KE data is ${peer.length} bytes, expected ${c.bytes}`);
      }
      const publicKey = createPublicKey({ key: { kty: 'OKP', crv: c.crv, x: Buffer.from(peer).toString('base64url') }, format: 'jwk' });
      try {
        return new Uint8Array(diffieHellman({ privateKey: priv, publicKey }));
      } catch {
        // With the length checked, every u is a valid input (RFC 7748 §5); OpenSSL refuses only
        // an all-zero result, which RFC 8031 §3.2 and RFC 7748 §6 require aborting on (a
        // small-order peer value).
        throw new KeyExchangeError('zero-shared-secret', group, 'shared secret is all zeros (small-order peer value)');
      }
    },
    dispose(): void {
      // A KeyObject cannot be overwritten from JS: dropping the last reference frees it, and
      // OpenSSL clears the scalar as it frees the key (ossl_ecx_key_free).
      priv = null;
    },
  };
}
