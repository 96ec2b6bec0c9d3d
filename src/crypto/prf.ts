// IKEv2 pseudorandom functions (RFC 7296 §3.3.2 Transform Type 2) and prf+ (RFC 7296 §2.13).
// Only the HMAC PRFs are supported: PRF_HMAC_SHA1 (RFC 2104) and PRF_HMAC_SHA2_256/384/512
// (RFC 4868 §2.1.2). HMAC takes keys of any length, so no key padding or truncation is needed.

import { createHmac } from 'node:crypto';
import { PrfId } from '../wire/constants.js';
import { InvalidLengthError, UnsupportedAlgorithmError } from './errors.js';

interface PrfInfo {
  /** node:crypto digest name */
  hash: string;
  /** output length in bytes; also the preferred key length (RFC 7296 §2.14, RFC 4868 §2.1.2) */
  outLen: number;
}

const PRFS: ReadonlyMap<number, PrfInfo> = new Map<number, PrfInfo>([
  [PrfId.HMAC_SHA1, { hash: 'sha1', outLen: 20 }],
  [PrfId.HMAC_SHA2_256, { hash: 'sha256', outLen: 32 }],
  [PrfId.HMAC_SHA2_384, { hash: 'sha384', outLen: 48 }],
  [PrfId.HMAC_SHA2_512, { hash: 'sha512', outLen: 64 }],
]);

function info(prfId: number): PrfInfo {
  const i = PRFS.get(prfId);
  if (!i) throw new UnsupportedAlgorithmError('PRF', prfId);
  return i;
}

/** True if `prfId` is one this module implements. */
export function isSupportedPrf(prfId: number): boolean {
  return PRFS.has(prfId);
}

/** Output length of the PRF in bytes (also the length of SK_d, SK_pi, SK_pr; RFC 7296 §2.14). */
export function prfOutputLength(prfId: number): number {
  return info(prfId).outLen;
}

/** prf(key, data) over one or more data chunks, concatenated. */
export function prf(prfId: number, key: Uint8Array, data: Uint8Array | readonly Uint8Array[]): Uint8Array {
  const h = createHmac(info(prfId).hash, key);
  if (data instanceof Uint8Array) h.update(data);
  else for (const d of data) h.update(d);
  return new Uint8Array(h.digest());
}

/**
 * prf+ (RFC 7296 §2.13):
 *   prf+ (K,S) = T1 | T2 | T3 | T4 | ...
 *   T1 = prf (K, S | 0x01), T2 = prf (K, T1 | S | 0x02), ...
 * The counter is one octet, so at most 255 blocks can be produced.
 */
export function prfPlus(prfId: number, key: Uint8Array, seed: Uint8Array, length: number): Uint8Array {
  const { outLen } = info(prfId);
  const blocks = Math.ceil(length / outLen);
  // RFC 7296 §2.13: "this function is not defined beyond 255 times the size of the prf output"
  if (!Number.isInteger(length) || length < 0 || blocks > 255) {
    throw new InvalidLengthError('prf+ output', `0..${255 * outLen}`, length);
  }
  const out = new Uint8Array(blocks * outLen);
  const counter = new Uint8Array(1);
  let prev: Uint8Array = new Uint8Array(0);
  for (let n = 1; n <= blocks; n++) {
    counter[0] = n;
    const t = prf(prfId, key, [prev, seed, counter]); // RFC 7296 §2.13: Tn = prf (K, Tn-1 | S | n)
    out.set(t, (n - 1) * outLen);
    prev.fill(0);
    prev = t;
  }
  prev.fill(0);
  if (out.length === length) return out;
  const result = out.slice(0, length);
  out.fill(0);
  return result;
}
