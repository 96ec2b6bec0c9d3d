// MODP Diffie-Hellman groups 14 and 15 (RFC 3526 §3, §4), computed with node:crypto
// (OpenSSL), which is far faster than BigInt exponentiation.
import { createDiffieHellman, getDiffieHellman, randomBytes, type DiffieHellman } from 'node:crypto';
import { KeyExchangeError } from './errors.js';
import type { KeyExchange, KeyExchangeOptions } from './types.js';

// RFC 3526 §3 (group 14) and §4 (group 15); OpenSSL ships these primes as modp14/modp15.
const NODE_GROUP_NAME: Record<number, string> = { 14: 'modp14', 15: 'modp15' };
// RFC 3526 §3, §4: the generator is 2.
const GENERATOR = 2;
// Implementation choice: a 512-bit random exponent, over twice the strongest estimate RFC 3526
// gives for either group (§8: 2048-bit up to 160 bits, 3072-bit up to 210 bits of strength).
const EXPONENT_BYTES = 64;

const primes = new Map<number, Buffer>();

/** The group's prime p, big-endian, as long as the modulus. */
export function modpPrime(group: number): Buffer {
  let p = primes.get(group);
  if (!p) {
    const name = NODE_GROUP_NAME[group];
    if (!name) throw new KeyExchangeError('unsupported-group', group, 'not a supported MODP group');
    p = getDiffieHellman(name).getPrime();
    primes.set(group, p);
  }
  return p;
}

export function isModpGroup(group: number): boolean {
  return group in NODE_GROUP_NAME;
}

/** KE data length: the modulus length in bytes (RFC 7296 §3.4). */
export function modpLength(group: number): number {
  return modpPrime(group).length;
}

function toBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** Left-pad a big-endian value with zeros to `len` bytes (RFC 7296 §2.14 note on g^ir). */
function leftPad(value: Uint8Array, len: number): Uint8Array {
  if (value.length === len) return new Uint8Array(value);
  const out = new Uint8Array(len);
  out.set(value, len - value.length);
  return out;
}

export function createModp(group: number, opts: KeyExchangeOptions = {}): KeyExchange {
  const prime = modpPrime(group);
  const len = prime.length;
  const p = toBigInt(prime);
  let priv: Uint8Array;
  if (opts.privateKey) {
    const x = toBigInt(opts.privateKey);
    if (opts.privateKey.length > len || x <= 1n || x >= p - 1n) {
      throw new KeyExchangeError('bad-private-key', group, 'private exponent must satisfy 1 < x < p-1');
    }
    priv = new Uint8Array(opts.privateKey);
  } else {
    priv = new Uint8Array(randomBytes(EXPONENT_BYTES));
    priv[0] |= 0x80; // keep the full exponent length (and so x > 1)
  }
  let dh: DiffieHellman | null = createDiffieHellman(prime, GENERATOR);
  dh.setPrivateKey(priv);
  // generateKeys() keeps an already-set private key and computes g^x mod p from it.
  const publicKey = leftPad(dh.generateKeys(), len);

  return {
    group,
    publicKey,
    computeSharedSecret(peer: Uint8Array): Uint8Array {
      if (!dh) throw new KeyExchangeError('disposed', group, 'exchange already disposed');
      // RFC 7296 §3.4: the KE data of a MODP group is exactly as long as the prime.
      if (peer.length !== len) {
        throw new KeyExchangeError('bad-length', group, `KE data is ${peer.length} bytes, expected ${len}`);
      }
      // RFC 6989 §2.1 / NIST SP 800-56A §5.6.2.3.1: refuse y outside 1 < y < p-1, which
      // would force the shared secret into a subgroup of order 1 or 2.
      const y = toBigInt(peer);
      if (y <= 1n || y >= p - 1n) {
        throw new KeyExchangeError('out-of-range', group, 'peer public value is not in 1 < y < p-1');
      }
      // RFC 7296 §2.14: g^ir is the big-endian value padded with zeros to the modulus length.
      return leftPad(dh.computeSecret(peer), len);
    },
    dispose(): void {
      if (!dh) return;
      priv.fill(0);
      // OpenSSL frees the previous private exponent with BN_clear_free when it is replaced.
      dh.setPrivateKey(Buffer.from([2]));
      dh = null;
    },
  };
}
