// SPIs as numbers, bytes and text. ESP SPIs are 4 bytes (RFC 4303 §2.1), IKE SPIs 8 (RFC 7296
// §3.1); logs, events and status print both as lower-case hex.

/** A 4-byte SPI as big-endian bytes (RFC 7296 §3.10, §3.11 carry it so). */
export const spiBytes = (v: number): Uint8Array => Uint8Array.from([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);

/** The number in 4 big-endian SPI bytes. */
export const spiNumber = (b: Uint8Array): number => ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;

/** Hex of an SPI for logs, events and status: 8 digits for ESP, 16 for IKE. */
export function spiHex(spi: Uint8Array | number): string {
  if (typeof spi === 'number') return (spi >>> 0).toString(16).padStart(8, '0');
  return Array.from(spi, (b) => b.toString(16).padStart(2, '0')).join('');
}
