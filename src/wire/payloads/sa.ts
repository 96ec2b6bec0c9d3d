// RFC 7296 §3.3 Security Association payload: proposals > transforms > attributes.
// The generic payload header is handled by ../chain.ts; these functions see the body.

import { TransformAttributeType } from '../constants.js';
import { WireError } from '../errors.js';
import type { Reader } from '../reader.js';
import type { Builder } from '../builder.js';
import type { Proposal, Transform, TransformAttribute } from '../types.js';

// RFC 7296 §3.3.1 Proposal Substructure
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Last Substruc |   RESERVED    |         Proposal Length       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                        SPI (variable)                         ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                        <Transforms>                           ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// RFC 7296 §3.3.2 Transform Substructure
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Last Substruc |   RESERVED    |        Transform Length       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Transform Type |   RESERVED    |          Transform ID         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                      Transform Attributes                     ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// RFC 7296 §3.3.5 Data Attributes
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |A|       Attribute Type        |    AF=0  Attribute Length     |
// |F|                             |    AF=1  Attribute Value      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                   AF=0  Attribute Value                       |
// |                   AF=1  Not Transmitted                       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

const LAST = 0; // RFC 7296 §3.3.1/§3.3.2: last substructure
const MORE_PROPOSALS = 2; // RFC 7296 §3.3.1: another proposal follows
const MORE_TRANSFORMS = 3; // RFC 7296 §3.3.2: another transform follows
const PROPOSAL_FIXED = 8;
const TRANSFORM_FIXED = 8;
const AF_TV = 0x8000; // RFC 7296 §3.3.5: Attribute Format bit, 1 = TV

/** Decodes the SA payload body (RFC 7296 §3.3): one or more proposals. */
export function decodeSa(r: Reader): Proposal[] {
  const proposals: Proposal[] = [];
  while (r.remaining > 0) {
    const start = r.offset;
    const last = r.u8();
    r.skip(1); // RFC 7296 §2.5: RESERVED, ignored on receipt
    const length = r.u16();
    if (length < PROPOSAL_FIXED) throw new WireError('bad-length', start + 2, 'proposal');
    const pr = r.sub(length - 4);
    // RFC 7296 §3.3.1: 0 for the last proposal, 2 when another one follows
    if ((last === MORE_PROPOSALS) !== r.remaining > 0 || (last !== LAST && last !== MORE_PROPOSALS)) {
      throw new WireError('bad-last-substructure', start);
    }
    const numberAt = pr.offset;
    const number = pr.u8();
    // RFC 7296 §3.3.1: the first proposal is numbered 1 in a request (a response echoes the
    // chosen number); each subsequent proposal is one more than the previous one
    const prev = proposals[proposals.length - 1];
    if (number === 0 || (prev !== undefined && number !== prev.number + 1)) {
      throw new WireError('bad-proposal-number', numberAt);
    }
    const protocol = pr.u8();
    const spiSize = pr.u8();
    const countAt = pr.offset;
    const numTransforms = pr.u8();
    const spi = pr.bytesCopy(spiSize);
    const transforms: Transform[] = [];
    while (pr.remaining > 0) transforms.push(decodeTransform(pr));
    if (transforms.length !== numTransforms) throw new WireError('count-mismatch', countAt, 'transforms');
    proposals.push({ number, protocol, spi, transforms });
  }
  return proposals;
}

function decodeTransform(pr: Reader): Transform {
  const start = pr.offset;
  const last = pr.u8();
  pr.skip(1);
  const length = pr.u16();
  if (length < TRANSFORM_FIXED) throw new WireError('bad-length', start + 2, 'transform');
  const tr = pr.sub(length - 4); // a transform running past its proposal is 'truncated'
  // RFC 7296 §3.3.2: 0 for the last transform of the proposal, 3 when another follows
  if ((last === MORE_TRANSFORMS) !== pr.remaining > 0 || (last !== LAST && last !== MORE_TRANSFORMS)) {
    throw new WireError('bad-last-substructure', start);
  }
  const type = tr.u8();
  tr.skip(1);
  const id = tr.u16();
  const t: Transform = { type, id };
  const others: TransformAttribute[] = [];
  while (tr.remaining > 0) {
    const at = tr.offset;
    const word = tr.u16();
    const attrType = word & 0x7fff;
    const tv = (word & AF_TV) !== 0;
    let value: Uint8Array;
    if (tv) {
      value = tr.bytesCopy(2);
    } else {
      const len = tr.u16();
      value = tr.bytesCopy(len);
    }
    if (attrType === TransformAttributeType.KEY_LENGTH) {
      // RFC 7296 §3.3.5: Key Length is a TV attribute and appears once
      if (!tv || t.keyLength !== undefined) throw new WireError('bad-attribute', at, 'key length');
      t.keyLength = (value[0] << 8) | value[1];
    } else {
      others.push({ type: attrType, tv, value });
    }
  }
  if (others.length > 0) t.otherAttributes = others;
  return t;
}

/** Encodes the SA payload body; lengths and counts are filled in after the contents. */
export function encodeSa(b: Builder, proposals: Proposal[]): void {
  proposals.forEach((p, i) => {
    const start = b.length;
    b.u8(i === proposals.length - 1 ? LAST : MORE_PROPOSALS).u8(0);
    const lenAt = b.placeholder16();
    b.u8(p.number).u8(p.protocol).u8(p.spi.length);
    const countAt = b.placeholder8();
    b.bytes(p.spi);
    p.transforms.forEach((t, j) => encodeTransform(b, t, j === p.transforms.length - 1));
    b.patch8(countAt, p.transforms.length);
    b.fillLength16(lenAt, start);
  });
}

function encodeTransform(b: Builder, t: Transform, isLast: boolean): void {
  const start = b.length;
  b.u8(isLast ? LAST : MORE_TRANSFORMS).u8(0);
  const lenAt = b.placeholder16();
  b.u8(t.type).u8(0).u16(t.id);
  // RFC 7296 §3.3.5: Key Length, TV form, value in bits
  if (t.keyLength !== undefined) b.u16(AF_TV | TransformAttributeType.KEY_LENGTH).u16(t.keyLength);
  for (const a of t.otherAttributes ?? []) {
    if (a.tv) {
      b.u16(AF_TV | a.type).bytes(a.value.subarray(0, 2));
    } else {
      b.u16(a.type & 0x7fff).u16(a.value.length).bytes(a.value);
    }
  }
  b.fillLength16(lenAt, start);
}
