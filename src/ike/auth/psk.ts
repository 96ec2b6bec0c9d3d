// Pre-shared key authentication (RFC 7296 §2.15, Auth Method 2: Shared Key Message
// Integrity Code). The PSK never appears in errors or logs.
import { timingSafeEqual } from 'node:crypto';
import { prf } from '../../crypto/prf.js';

// RFC 7296 §2.15: 'The string "Key Pad for IKEv2" is 17 ASCII characters without null termination.'
export const KEY_PAD = new TextEncoder().encode('Key Pad for IKEv2');

/** RFC 7296 §2.15: AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>) */
export function pskAuthData(prfId: number, psk: Uint8Array, octets: Uint8Array): Uint8Array {
  const padded = prf(prfId, psk, KEY_PAD);
  try {
    return prf(prfId, padded, octets);
  } finally {
    padded.fill(0); // the intermediate key is as secret as the PSK
  }
}

/** Recomputes the expected AUTH and compares in constant time (length leaks only the PRF). */
export function verifyPskAuth(prfId: number, psk: Uint8Array, octets: Uint8Array, received: Uint8Array): boolean {
  const expected = pskAuthData(prfId, psk, octets);
  try {
    return expected.length === received.length && timingSafeEqual(expected, received);
  } finally {
    expected.fill(0);
  }
}
