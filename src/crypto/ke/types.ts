// The shape every key exchange group presents to the IKE layer (RFC 7296 §1.2, §3.4).

export interface KeyExchange {
  /** Transform Type 4 ID (DhGroup) */
  readonly group: number;
  /** The KE payload's Key Exchange Data, in the group's wire encoding */
  readonly publicKey: Uint8Array;
  /** g^ir from the peer's KE data; throws KeyExchangeError when the peer's value is invalid */
  computeSharedSecret(peerPublic: Uint8Array): Uint8Array;
  /** Zero the private key this object holds; later computeSharedSecret calls throw */
  dispose(): void;
}

export interface KeyExchangeOptions {
  /** Fixed private key (tests, vectors); a fresh random one when absent */
  privateKey?: Uint8Array;
}
