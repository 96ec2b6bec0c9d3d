// The one error type of the wire layer (DESIGN.md "wire view vs. record"): decoding either
// returns a typed record or throws a WireError naming a short, stable reason and the byte
// offset where the problem was found. Messages never contain payload bytes (they may be keys).

export type WireReason =
  | 'truncated' // a field or structure runs past the end of its container
  | 'bad-length' // a length field is smaller than its fixed part or disagrees with its container
  | 'length-mismatch' // IKE header length differs from the datagram length (RFC 7296 §3.1)
  | 'bad-major-version' // RFC 7296 §3.1: major version other than 2
  | 'trailing-bytes' // bytes after the last payload of a chain
  | 'sk-not-last' // RFC 7296 §3.14: the Encrypted payload must be the last payload
  | 'nested-sk' // an SK payload inside decrypted content
  | 'bad-last-substructure' // RFC 7296 §3.3.1/§3.3.2: 0 (last) / 2 (proposal) / 3 (transform)
  | 'bad-proposal-number' // RFC 7296 §3.3.1: first is 1, each next one more
  | 'count-mismatch' // a Num Transforms / Num TSs / Num SPIs field disagrees with the contents
  | 'bad-attribute' // RFC 7296 §3.3.5: malformed or duplicated transform attribute
  | 'bad-nonce-length' // RFC 7296 §3.9: nonce of 16..256 bytes
  | 'bad-id-length' // RFC 7296 §3.5: address ID of the wrong size
  | 'unknown-ts-type' // RFC 7296 §3.13.1: a selector type we cannot parse
  | 'bad-padding' // RFC 4303 §2.4: ESP padding bytes not 1, 2, 3, ...
  | 'bad-version' // IP version other than 4 or 6
  | 'bad-header-length' // RFC 791 IHL < 5, or an IPv6 extension header overrun
  | 'bad-spi' // RFC 4303 §2.1: SPI zero is reserved
  | 'bad-eap'; // RFC 3748 §4: an EAP code other than 1-4, or a field of the wrong size for its method

export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    readonly reason: WireReason,
    readonly offset: number,
    detail?: string,
  ) {
    super(`wire: ${reason} at offset ${offset}${detail ? ` (${detail})` : ''}`);
  }
}
