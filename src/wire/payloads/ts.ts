// RFC 7296 §3.13 Traffic Selector payloads (TSi, TSr) and §3.13.1 selectors.
//
// RFC 7296 §3.13 payload body
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Number of TSs |                 RESERVED                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                       <Traffic Selectors>                     ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// RFC 7296 §3.13.1 Traffic Selector
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   TS Type     |IP Protocol ID*|       Selector Length         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           Start Port*         |           End Port*           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                         Starting Address*                     ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                         Ending Address*                       ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import { TsType } from '../constants.js';
import { WireError } from '../errors.js';
import type { Reader } from '../reader.js';
import type { Builder } from '../builder.js';
import type { TrafficSelector } from '../types.js';

/** Address size for each selector type we can parse (RFC 7296 §3.13.1). */
const ADDR_BYTES: Record<number, number> = {
  [TsType.TS_IPV4_ADDR_RANGE]: 4, // selector length 16
  [TsType.TS_IPV6_ADDR_RANGE]: 16, // selector length 40
};

export function decodeTs(r: Reader): TrafficSelector[] {
  const countAt = r.offset;
  const count = r.u8();
  r.skip(3); // RESERVED
  const selectors: TrafficSelector[] = [];
  while (r.remaining > 0) {
    const start = r.offset;
    const tsType = r.u8();
    const ipProtocol = r.u8();
    const length = r.u16();
    const addrBytes = ADDR_BYTES[tsType];
    // RFC 7296 §3.13.1: a type we do not know cannot be skipped safely inside a selector set
    if (addrBytes === undefined) throw new WireError('unknown-ts-type', start);
    if (length !== 8 + 2 * addrBytes) throw new WireError('bad-length', start + 2, 'traffic selector');
    const s = r.sub(length - 4);
    const startPort = s.u16();
    const endPort = s.u16();
    const startAddr = s.bytesCopy(addrBytes);
    const endAddr = s.bytesCopy(addrBytes);
    selectors.push({ tsType, ipProtocol, startPort, endPort, startAddr, endAddr });
  }
  if (selectors.length !== count) throw new WireError('count-mismatch', countAt, 'traffic selectors');
  return selectors;
}

export function encodeTs(b: Builder, selectors: TrafficSelector[]): void {
  b.u8(selectors.length).zeros(3);
  for (const ts of selectors) {
    const start = b.length;
    b.u8(ts.tsType).u8(ts.ipProtocol);
    const lenAt = b.placeholder16();
    b.u16(ts.startPort).u16(ts.endPort).bytes(ts.startAddr).bytes(ts.endAddr);
    b.fillLength16(lenAt, start);
  }
}
