// RFC 7296 §3.10 Notify and §3.11 Delete payloads: both start with Protocol ID and SPI Size.

import { WireError } from '../errors.js';
import type { Reader } from '../reader.js';
import type { Builder } from '../builder.js';

// RFC 7296 §3.10 Notify payload body
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Protocol ID  |   SPI Size    |      Notify Message Type      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                Security Parameter Index (SPI)                 ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                       Notification Data                       ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
export function decodeNotify(r: Reader): {
  protocol: number;
  spi: Uint8Array;
  notifyType: number;
  data: Uint8Array;
} {
  const protocol = r.u8();
  const spiSize = r.u8();
  const notifyType = r.u16();
  const spi = r.bytesCopy(spiSize);
  return { protocol, spi, notifyType, data: r.rest() };
}
export function encodeNotify(
  b: Builder,
  protocol: number,
  spi: Uint8Array,
  notifyType: number,
  data: Uint8Array,
): void {
  b.u8(protocol).u8(spi.length).u16(notifyType).bytes(spi).bytes(data);
}

// RFC 7296 §3.11 Delete payload body
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Protocol ID   |   SPI Size    |          Num of SPIs          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~               Security Parameter Index(es) (SPI)              ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
export function decodeDelete(r: Reader): { protocol: number; spiSize: number; spis: Uint8Array[] } {
  const protocol = r.u8();
  const spiSize = r.u8();
  const countAt = r.offset;
  const count = r.u16();
  // RFC 7296 §3.11: the SPIs fill the rest of the payload, Num of SPIs of SPI Size each
  if (count * spiSize !== r.remaining) throw new WireError('count-mismatch', countAt, 'SPIs');
  // RFC 7296 §3.11: an IKE SA's Delete has SPI Size 0 and no SPIs; a count of empty SPIs is
  // refused, or 8 bytes would make 65,535 of them
  if (spiSize === 0 && count !== 0) throw new WireError('count-mismatch', countAt, 'SPIs of size 0');
  const spis: Uint8Array[] = [];
  for (let i = 0; i < count; i++) spis.push(r.bytesCopy(spiSize));
  return { protocol, spiSize, spis };
}
export function encodeDelete(b: Builder, protocol: number, spiSize: number, spis: Uint8Array[]): void {
  b.u8(protocol).u8(spiSize).u16(spis.length);
  for (const spi of spis) b.bytes(spi);
}
