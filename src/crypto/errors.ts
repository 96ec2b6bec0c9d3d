// Error classes of the crypto layer. Messages name algorithms, lengths and reasons, never key
// bytes, so they can be logged and shown in `tsvpn status` safely.

/** Base class: every error thrown on purpose by src/crypto is a CryptoError. */
export class CryptoError extends Error {
  override name = 'CryptoError';
}

/** A transform ID (or ID + key length) this implementation does not support. */
export class UnsupportedAlgorithmError extends CryptoError {
  override name = 'UnsupportedAlgorithmError';
  constructor(
    readonly transform: 'PRF' | 'ENCR' | 'INTEG' | 'AEAD',
    readonly id: number | string,
    readonly detail?: string,
  ) {
    super(`unsupported ${transform} transform ${id}${detail ? ` (${detail})` : ''}`);
  }
}

/** An input of the wrong size: a key, an IV, or a requested output length. Lengths only. */
export class InvalidLengthError extends CryptoError {
  override name = 'InvalidLengthError';
  constructor(
    readonly field: string,
    readonly expected: string,
    readonly actual: number,
  ) {
    super(`${field}: expected ${expected} bytes, got ${actual}`);
  }
}

/**
 * Authentication or decryption failed. `reason` tells which check refused the data; it never
 * carries key material or plaintext.
 */
export type IntegrityFailure = 'too-short' | 'misaligned' | 'icv' | 'pad-length';

export class IntegrityError extends CryptoError {
  override name = 'IntegrityError';
  constructor(readonly reason: IntegrityFailure) {
    super(`integrity check failed: ${reason}`);
  }
}

/** A cipher object was used after dispose() zeroed its keys. */
export class DisposedError extends CryptoError {
  override name = 'DisposedError';
  constructor(readonly what: string) {
    super(`${what} used after dispose()`);
  }
}
