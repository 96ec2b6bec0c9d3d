// RFC 7296 §3.15 Configuration payload and §3.15.1 configuration attributes.
//
// RFC 7296 §3.15 payload body
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   CFG Type    |                    RESERVED                   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                   Configuration Attributes                    ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// RFC 7296 §3.15.1 Configuration Attribute
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |R|         Attribute Type      |            Length             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                             Value                             ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import type { Reader } from '../reader.js';
import type { Builder } from '../builder.js';
import type { CfgAttribute } from '../types.js';

export function decodeCp(r: Reader): { cfgType: number; attributes: CfgAttribute[] } {
  const cfgType = r.u8();
  r.skip(3);
  const attributes: CfgAttribute[] = [];
  while (r.remaining > 0) {
    const type = r.u16() & 0x7fff; // RFC 7296 §3.15.1: R bit reserved, ignored
    const length = r.u16();
    attributes.push({ type, value: r.bytesCopy(length) });
  }
  return { cfgType, attributes };
}

export function encodeCp(b: Builder, cfgType: number, attributes: CfgAttribute[]): void {
  b.u8(cfgType).zeros(3);
  for (const a of attributes) b.u16(a.type & 0x7fff).u16(a.value.length).bytes(a.value);
}
