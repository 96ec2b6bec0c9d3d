// Typed errors of the key exchange groups. Messages name the group and the lengths or the
// check that failed, never key material.

export type KeyExchangeErrorReason =
  | 'unsupported-group' // the Transform ID is not a group this implementation offers
  | 'bad-length' // KE data or private key of the wrong size (RFC 7296 §3.4, RFC 5903 §7)
  | 'bad-private-key' // a private key outside the group's valid range
  | 'not-on-curve' // ECP public value fails the curve equation (RFC 6989 §2.3 / SP 800-56A)
  | 'point-at-infinity' // ECP public value is the identity element (RFC 6989 §2.3)
  | 'zero-shared-secret' // X25519/X448 produced all zeros (RFC 8031 §3.2, RFC 7748 §6)
  | 'out-of-range' // MODP public value not 1 < y < p-1 (RFC 6989 §2.1, SP 800-56A 5.6.2.3.1)
  | 'disposed'; // the exchange was disposed; its private key is gone

export class KeyExchangeError extends Error {
  override readonly name = 'KeyExchangeError';
  constructor(
    readonly reason: KeyExchangeErrorReason,
    readonly group: number,
    detail: string,
  ) {
    super(`key exchange group ${group}: ${detail}`);
  }
}
