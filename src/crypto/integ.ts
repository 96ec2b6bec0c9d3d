// IKEv2/ESP integrity transforms (RFC 7296 §3.3.2 Transform Type 3): HMAC-SHA1-96 (RFC 2404)
// and HMAC-SHA2-256-128 / 384-192 / 512-256 (RFC 4868 §2). The ICV is the HMAC output
// truncated to its first half (SHA-2) or first 96 bits (SHA-1), and the key is exactly
// the hash output length (RFC 2404 §3, RFC 4868 §2.1.1).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { IntegId } from '../wire/constants.js';
import { DisposedError, InvalidLengthError, UnsupportedAlgorithmError } from './errors.js';

interface IntegInfo {
  hash: string;
  keyLength: number;
  icvLength: number;
}

const INTEGS: ReadonlyMap<number, IntegInfo> = new Map<number, IntegInfo>([
  [IntegId.HMAC_SHA1_96, { hash: 'sha1', keyLength: 20, icvLength: 12 }], // RFC 2404 §2, §3
  [IntegId.HMAC_SHA2_256_128, { hash: 'sha256', keyLength: 32, icvLength: 16 }], // RFC 4868 §2.1
  [IntegId.HMAC_SHA2_384_192, { hash: 'sha384', keyLength: 48, icvLength: 24 }],
  [IntegId.HMAC_SHA2_512_256, { hash: 'sha512', keyLength: 64, icvLength: 32 }],
]);

export interface Integ {
  readonly icvLength: number;
  /** The truncated HMAC over `data` (several chunks are MACed as their concatenation). */
  mac(data: Uint8Array | readonly Uint8Array[]): Uint8Array;
  /** Constant-time comparison of mac(data) with `icv`. */
  verify(data: Uint8Array | readonly Uint8Array[], icv: Uint8Array): boolean;
  /** Zero the key copy held here; later calls throw DisposedError. */
  dispose(): void;
}

/** Key length in bytes of an integrity transform. */
export function integKeyLength(integId: number): number {
  const i = INTEGS.get(integId);
  if (!i) throw new UnsupportedAlgorithmError('INTEG', integId);
  return i.keyLength;
}

export function createInteg(integId: number, key: Uint8Array): Integ {
  const info = INTEGS.get(integId);
  if (!info) throw new UnsupportedAlgorithmError('INTEG', integId);
  if (key.length !== info.keyLength) {
    throw new InvalidLengthError('integrity key', String(info.keyLength), key.length);
  }
  const k = Uint8Array.from(key);
  let disposed = false;

  const mac = (data: Uint8Array | readonly Uint8Array[]): Uint8Array => {
    if (disposed) throw new DisposedError('integrity transform');
    const h = createHmac(info.hash, k);
    if (data instanceof Uint8Array) h.update(data);
    else for (const d of data) h.update(d);
    // RFC 4868 §2.3 / RFC 2404 §2: keep the leftmost bits of the HMAC output
    return new Uint8Array(h.digest().subarray(0, info.icvLength));
  };

  return {
    icvLength: info.icvLength,
    mac,
    verify(data, icv) {
      const expected = mac(data);
      if (icv.length !== expected.length) return false;
      return timingSafeEqual(expected, icv);
    },
    dispose() {
      k.fill(0);
      disposed = true;
    },
  };
}
