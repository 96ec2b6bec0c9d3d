// Types only: the AEAD algorithm names and what an in-place AEAD context does. crypto
// declares them; a backend outside crypto implements them (src/io/native-aead.ts, the
// addon's OpenSSL contexts) and the daemon passes it down to the SAD at startup, so
// crypto, ike and ipsec never load the addon themselves.

export type AeadAlg = 'aes-gcm-16' | 'chacha20-poly1305';

/**
 * Seal and open inside a caller's buffer, one key per context. The 8-octet IV is read from
 * buf[ivOff]; the AAD is 0 to 256 octets (ESP: 8, or 12 with ESN). Bad offsets or lengths
 * throw TypeError/RangeError; use after dispose() throws (DisposedError through
 * createInPlaceAead).
 */
export interface InPlaceAead {
  /** Encrypt buf[ctOff, ctOff+ptLen) in place and write the 16-octet tag at buf[ctOff+ptLen]. */
  sealInPlace(buf: Uint8Array, ivOff: number, aad: Uint8Array, ctOff: number, ptLen: number): void;
  /**
   * Check the tag at buf[ctOff+ctLen, +16) and decrypt buf[ctOff, +ctLen) in place. False on a
   * bad tag, with that range zeroed: the buffer holds neither plaintext nor ciphertext then.
   */
  openInPlace(buf: Uint8Array, ivOff: number, aad: Uint8Array, ctOff: number, ctLen: number): boolean;
  /**
   * sealInPlace for packets 0..count-1 in one call (optional: an addon built before it lacks
   * it). Packet i: IV at buf[ivOffs[i]], plaintext buf[ctOffs[i], +lens[i]), tag written after
   * it, AAD aad[i*aadLength, +aadLength). Every range is checked before any packet is sealed.
   */
  sealBatch?(buf: Uint8Array, ivOffs: Uint32Array, ctOffs: Uint32Array, lens: Uint32Array, aad: Uint8Array, aadLength: number, count: number): void;
  /**
   * openInPlace for packets 0..count-1 in one call (optional, as sealBatch): ok[i] = 1 when
   * packet i's tag verified, else 0 with its range zeroed. Returns how many failed.
   */
  openBatch?(
    buf: Uint8Array,
    ivOffs: Uint32Array,
    ctOffs: Uint32Array,
    lens: Uint32Array,
    aad: Uint8Array,
    aadLength: number,
    count: number,
    ok: Uint8Array,
  ): number;
  /** Free the context and wipe its key schedule and salt. */
  dispose(): void;
}

/**
 * Keys one in-place context: `key` without the salt, `salt` the 4 octets that precede the IV
 * in the nonce (RFC 4106 §4, RFC 7634 §2). Throws TypeError/RangeError on bad arguments.
 */
export type InPlaceAeadFactory = (alg: AeadAlg, key: Uint8Array, salt: Uint8Array) => InPlaceAead;
