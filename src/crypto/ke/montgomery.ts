// Curve25519 and Curve448 groups 31 and 32 (RFC 8031). The scalar multiplications run in
// node:crypto (OpenSSL): a handshake needs two, and @noble/curves' JS took a large share of a
// gateway's handshake CPU (bench/handshake.ts). test/crypto/ke.test.ts proves the RFC 7748
// vectors and agreement with @noble/curves, the audited reference.
import { createPrivateKey, createPublicKey, diffieHellman, randomFillSync, type KeyObject } from 'node:crypto';
import { KeyExchangeError } from './errors.js';
import type { KeyExchange, KeyExchangeOptions } from './types.js';

// OpenSSL takes raw X25519/X448 keys only inside their DER wrappers: these are the fixed
// prefixes of PKCS #8 (RFC 8410 §7) and SubjectPublicKeyInfo (RFC 8410 §4) for OIDs
// 1.3.101.110 (X25519) and 1.3.101.111 (X448), each followed by the raw key.
const der = (h: string): Buffer => Buffer.from(h, 'hex');
const CURVES: Record<number, { bytes: number; pkcs8: Buffer; spki: Buffer }> = {
  31: { bytes: 32, pkcs8: der('302e020100300506032b656e04220420'), spki: der('302a300506032b656e032100') }, // RFC 8031 §2: Curve25519, 32-octet keys
  32: { bytes: 56, pkcs8: der('3046020100300506032b656f043a0438'), spki: der('3042300506032b656f033900') }, // RFC 8031 §2: Curve448, 56-octet keys
};

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
  const wrapped = Buffer.concat([c.pkcs8, opts.privateKey ?? randomFillSync(new Uint8Array(c.bytes))]);
  let priv: KeyObject | null = createPrivateKey({ key: wrapped, format: 'der', type: 'pkcs8' });
  wrapped.fill(0); // the scalar now lives only in OpenSSL's key, which clears it when freed
  // RFC 8031 §3.1: the KE data is X25519/X448(d, base point), little-endian as in RFC 7748.
  const publicKey = new Uint8Array(createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(c.spki.length));

  return {
    group,
    publicKey,
    computeSharedSecret(peer: Uint8Array): Uint8Array {
      if (!priv) throw new KeyExchangeError('disposed', group, 'exchange already disposed');
      // RFC 8031 §3.1: the Key Exchange Data is exactly 32 (X25519) or 56 (X448) octets.
      if (peer.length !== c.bytes) {
        throw new KeyExchangeError('bad-length', group, `KE data is ${peer.length} bytes, expected ${c.bytes}`);
      }
      const publicKey = createPublicKey({ key: Buffer.concat([c.spki, peer]), format: 'der', type: 'spki' });
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
