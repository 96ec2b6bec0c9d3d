// Curve25519 and Curve448 groups 31 and 32 (RFC 8031), with @noble/curves' X25519/X448.
import { x25519 } from '@noble/curves/ed25519.js';
import { x448 } from '@noble/curves/ed448.js';
import { KeyExchangeError } from './errors.js';
import type { KeyExchange, KeyExchangeOptions } from './types.js';

const CURVES: Record<number, { fn: typeof x25519; bytes: number }> = {
  31: { fn: x25519, bytes: 32 }, // RFC 8031 §2: Curve25519, 32-octet keys
  32: { fn: x448, bytes: 56 }, // RFC 8031 §2: Curve448, 56-octet keys
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
  let priv: Uint8Array | null;
  if (opts.privateKey) {
    // RFC 7748 §5: any string of the right length is a valid scalar (it is clamped on use).
    if (opts.privateKey.length !== c.bytes) {
      throw new KeyExchangeError('bad-private-key', group, `private key must be ${c.bytes} bytes`);
    }
    priv = new Uint8Array(opts.privateKey);
  } else {
    priv = c.fn.utils.randomSecretKey();
  }
  // RFC 8031 §3.1: the KE data is X25519/X448(d, base point), little-endian as in RFC 7748.
  const publicKey = c.fn.scalarMultBase(priv);

  return {
    group,
    publicKey,
    computeSharedSecret(peer: Uint8Array): Uint8Array {
      if (!priv) throw new KeyExchangeError('disposed', group, 'exchange already disposed');
      // RFC 8031 §3.1: the Key Exchange Data is exactly 32 (X25519) or 56 (X448) octets.
      if (peer.length !== c.bytes) {
        throw new KeyExchangeError('bad-length', group, `KE data is ${peer.length} bytes, expected ${c.bytes}`);
      }
      try {
        return c.fn.scalarMult(priv, peer);
      } catch {
        // With the length checked, noble refuses only an all-zero result; RFC 8031 §3.2 and
        // RFC 7748 §6 require aborting in that case (a small-order peer value).
        throw new KeyExchangeError('zero-shared-secret', group, 'shared secret is all zeros (small-order peer value)');
      }
    },
    dispose(): void {
      priv?.fill(0);
      priv = null;
    },
  };
}
