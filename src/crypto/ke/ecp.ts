// ECP groups 19, 20, 21 (RFC 5903: NIST P-256, P-384, P-521). Public values are checked with
// @noble/curves; the scalar multiplication itself runs in node:crypto (OpenSSL) for speed, and
// a test proves both give the same bytes.
import { createECDH, type ECDH } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { KeyExchangeError } from './errors.js';
import type { KeyExchange, KeyExchangeOptions } from './types.js';

interface EcpParams {
  opensslName: string;
  fieldBytes: number; // RFC 5903 §7: each coordinate is ceil(bits/8) bytes
  noble: typeof p256;
}

const ECP: Record<number, EcpParams> = {
  19: { opensslName: 'prime256v1', fieldBytes: 32, noble: p256 }, // RFC 5903 §3.1
  20: { opensslName: 'secp384r1', fieldBytes: 48, noble: p384 }, // RFC 5903 §3.2
  21: { opensslName: 'secp521r1', fieldBytes: 66, noble: p521 }, // RFC 5903 §3.3
};

export function isEcpGroup(group: number): boolean {
  return group in ECP;
}

/** KE data length: x | y, each coordinate fieldBytes long (RFC 5903 §7). */
export function ecpLength(group: number): number {
  const params = ECP[group];
  if (!params) throw new KeyExchangeError('unsupported-group', group, 'not a supported ECP group');
  return 2 * params.fieldBytes;
}

/** SEC 1 uncompressed point 0x04 | x | y from the IKE encoding x | y. */
function withPrefix(xy: Uint8Array): Uint8Array {
  const out = new Uint8Array(xy.length + 1);
  out[0] = 0x04;
  out.set(xy, 1);
  return out;
}

/**
 * Validates a peer's x | y the way RFC 6989 §2.3 / NIST SP 800-56A §5.6.2.3.3 require
 * (not the identity, coordinates in the field, on the curve) and returns the SEC 1 form.
 */
export function checkEcpPublic(group: number, xy: Uint8Array): Uint8Array {
  const params = ECP[group];
  if (!params) throw new KeyExchangeError('unsupported-group', group, 'not a supported ECP group');
  const len = 2 * params.fieldBytes;
  // RFC 5903 §7: the KE data is x | y with no 0x04 prefix, each padded to the field size.
  if (xy.length !== len) {
    throw new KeyExchangeError('bad-length', group, `KE data is ${xy.length} bytes, expected ${len}`);
  }
  // RFC 6989 §2.3: the point at infinity has no affine x | y; an all-zero value is how some
  // peers encode it, and (0, 0) is on none of these curves.
  if (xy.every((b) => b === 0)) {
    throw new KeyExchangeError('point-at-infinity', group, 'peer public value is the point at infinity');
  }
  const sec1 = withPrefix(xy);
  try {
    // fromBytes checks each coordinate is below p and that y^2 = x^3 + ax + b.
    params.noble.Point.fromBytes(sec1).assertValidity();
  } catch {
    throw new KeyExchangeError('not-on-curve', group, 'peer public value is not a point on the curve');
  }
  return sec1;
}

export function createEcp(group: number, opts: KeyExchangeOptions = {}): KeyExchange {
  const params = ECP[group];
  if (!params) throw new KeyExchangeError('unsupported-group', group, 'not a supported ECP group');
  let ecdh: ECDH | null = createECDH(params.opensslName);
  if (opts.privateKey) {
    if (opts.privateKey.length !== params.fieldBytes || !params.noble.utils.isValidSecretKey(opts.privateKey)) {
      throw new KeyExchangeError('bad-private-key', group, `private key must be a ${params.fieldBytes}-byte scalar in [1, n-1]`);
    }
    ecdh.setPrivateKey(opts.privateKey);
  } else {
    ecdh.generateKeys();
  }
  // RFC 5903 §7: KE data = x | y, the SEC 1 uncompressed encoding without its 0x04 octet.
  const publicKey = new Uint8Array(ecdh.getPublicKey().subarray(1));

  return {
    group,
    publicKey,
    computeSharedSecret(peer: Uint8Array): Uint8Array {
      if (!ecdh) throw new KeyExchangeError('disposed', group, 'exchange already disposed');
      const sec1 = checkEcpPublic(group, peer);
      // RFC 5903 §9: the shared secret is the x coordinate of g^ir only, fieldBytes long.
      return new Uint8Array(ecdh.computeSecret(sec1));
    },
    dispose(): void {
      if (!ecdh) return;
      // OpenSSL clears the old scalar (BN_clear_free) when a new one is set; 1 is a valid scalar.
      const one = new Uint8Array(params.fieldBytes);
      one[one.length - 1] = 1;
      ecdh.setPrivateKey(one);
      ecdh = null;
    },
  };
}
