// RFC 7296 §3.2 payload chains: each payload starts with the generic header, whose Next
// Payload field names the type of the following payload (0 = none).
//
// RFC 7296 §3.2 Generic Payload Header
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import { PayloadType } from './constants.js';
import { WireError } from './errors.js';
import { Reader } from './reader.js';
import { Builder } from './builder.js';
import type { Payload, PayloadKind } from './types.js';
import { decodeSa, encodeSa } from './payloads/sa.js';
import { decodeTs, encodeTs } from './payloads/ts.js';
import { decodeCp, encodeCp } from './payloads/cp.js';
import { decodeDelete, decodeNotify, encodeDelete, encodeNotify } from './payloads/notify.js';
import {
  decodeAuth,
  decodeCert,
  decodeId,
  decodeKe,
  decodeNonce,
  decodeOpaque,
  encodeAuth,
  encodeCert,
  encodeId,
  encodeKe,
} from './payloads/simple.js';

export const GENERIC_HEADER_LENGTH = 4;
const CRITICAL = 0x80; // RFC 7296 §3.2: the C bit

const TYPE_OF_KIND: Record<Exclude<PayloadKind, 'UNKNOWN'>, number> = {
  SA: PayloadType.SA,
  KE: PayloadType.KE,
  IDi: PayloadType.IDi,
  IDr: PayloadType.IDr,
  CERT: PayloadType.CERT,
  CERTREQ: PayloadType.CERTREQ,
  AUTH: PayloadType.AUTH,
  NONCE: PayloadType.NONCE,
  N: PayloadType.N,
  D: PayloadType.D,
  V: PayloadType.V,
  TSi: PayloadType.TSi,
  TSr: PayloadType.TSr,
  SK: PayloadType.SK,
  CP: PayloadType.CP,
  EAP: PayloadType.EAP,
};

/** The IANA payload type number of a record. */
export function payloadTypeOf(p: Payload): number {
  return p.kind === 'UNKNOWN' ? p.payloadType : TYPE_OF_KIND[p.kind];
}

/** Decodes one payload body (after the generic header) into its record. */
function decodeBody(type: number, critical: boolean, r: Reader): Payload {
  switch (type) {
    case PayloadType.SA:
      return { kind: 'SA', critical, proposals: decodeSa(r) };
    case PayloadType.KE:
      return { kind: 'KE', critical, ...decodeKe(r) };
    case PayloadType.IDi:
      return { kind: 'IDi', critical, ...decodeId(r) };
    case PayloadType.IDr:
      return { kind: 'IDr', critical, ...decodeId(r) };
    case PayloadType.CERT:
      return { kind: 'CERT', critical, ...decodeCert(r) };
    case PayloadType.CERTREQ:
      return { kind: 'CERTREQ', critical, ...decodeCert(r) };
    case PayloadType.AUTH:
      return { kind: 'AUTH', critical, ...decodeAuth(r) };
    case PayloadType.NONCE:
      return { kind: 'NONCE', critical, data: decodeNonce(r) };
    case PayloadType.N:
      return { kind: 'N', critical, ...decodeNotify(r) };
    case PayloadType.D:
      return { kind: 'D', critical, ...decodeDelete(r) };
    case PayloadType.V:
      return { kind: 'V', critical, data: decodeOpaque(r) };
    case PayloadType.TSi:
      return { kind: 'TSi', critical, selectors: decodeTs(r) };
    case PayloadType.TSr:
      return { kind: 'TSr', critical, selectors: decodeTs(r) };
    case PayloadType.CP:
      return { kind: 'CP', critical, ...decodeCp(r) };
    case PayloadType.EAP:
      return { kind: 'EAP', critical, data: decodeOpaque(r) };
    default:
      // RFC 7296 §2.5: unknown payloads are kept with their critical bit so the rules can
      // skip them (C = 0) or refuse the message with UNSUPPORTED_CRITICAL_PAYLOAD (C = 1)
      return { kind: 'UNKNOWN', critical, payloadType: type, data: decodeOpaque(r) };
  }
}

/**
 * Walks a payload chain. When `message` is given (the outer chain of a whole datagram,
 * with `bytes` being its tail), an SK or SKF payload ends the chain and is kept sealed.
 * @internal shared by decodePayloads and decodeMessage
 */
export function walkChain(
  firstType: number,
  bytes: Uint8Array,
  baseOffset: number,
  message: Uint8Array | null,
): Payload[] {
  const r = new Reader(bytes, baseOffset);
  const out: Payload[] = [];
  let type = firstType;
  while (type !== PayloadType.NONE) {
    const start = r.offset;
    const next = r.u8();
    const critical = (r.u8() & CRITICAL) !== 0; // RFC 7296 §2.5: RESERVED bits ignored
    const length = r.u16();
    if (length < GENERIC_HEADER_LENGTH) throw new WireError('bad-length', start + 2, 'payload');
    const body = r.sub(length - GENERIC_HEADER_LENGTH);
    if (type === PayloadType.SK || type === PayloadType.SKF) {
      if (message === null) throw new WireError('nested-sk', start);
      // RFC 7296 §3.14 (and RFC 7383 §2.5 for SKF): the Encrypted payload is the last one;
      // its Next Payload field names the first inner payload, not a following one
      if (r.remaining > 0) throw new WireError('sk-not-last', start);
      const aadEnd = start + GENERIC_HEADER_LENGTH;
      if (type === PayloadType.SK) {
        out.push({ kind: 'SK', critical, firstInner: next, body: body.rest(), aad: message.slice(0, aadEnd) });
      } else {
        // RFC 7383 fragments are not reassembled here; kept opaque for the rules to skip
        out.push({ kind: 'UNKNOWN', critical, payloadType: type, data: body.rest() });
      }
      return out;
    }
    out.push(decodeBody(type, critical, body));
    type = next;
  }
  if (r.remaining > 0) throw new WireError('trailing-bytes', r.offset);
  return out;
}

/**
 * Decodes a payload chain that is not a whole message, e.g. the decrypted inner payloads
 * of an SK payload (RFC 7296 §3.14). Error offsets are `baseOffset` + position in `bytes`.
 */
export function decodePayloads(firstType: number, bytes: Uint8Array, baseOffset = 0): Payload[] {
  return walkChain(firstType, bytes, baseOffset, null);
}

/** Writes a payload chain into `b`; returns the type of the first payload (0 if none). */
export function writeChain(b: Builder, payloads: Payload[]): number {
  payloads.forEach((p, i) => {
    const following = payloads[i + 1];
    const start = b.length;
    if (p.kind === 'SK') {
      // RFC 7296 §3.14: SK is last and its Next Payload is the first inner payload's type
      if (following !== undefined) throw new TypeError('an SK payload must be the last payload');
      b.u8(p.firstInner);
    } else {
      b.u8(following === undefined ? PayloadType.NONE : payloadTypeOf(following));
    }
    b.u8(p.critical ? CRITICAL : 0);
    const lenAt = b.placeholder16();
    writeBody(b, p);
    b.fillLength16(lenAt, start);
  });
  return payloads.length === 0 ? PayloadType.NONE : payloadTypeOf(payloads[0]);
}

function writeBody(b: Builder, p: Payload): void {
  switch (p.kind) {
    case 'SA':
      return encodeSa(b, p.proposals);
    case 'KE':
      return encodeKe(b, p.group, p.data);
    case 'IDi':
    case 'IDr':
      return encodeId(b, p.idType, p.data);
    case 'CERT':
    case 'CERTREQ':
      return encodeCert(b, p.encoding, p.data);
    case 'AUTH':
      return encodeAuth(b, p.method, p.data);
    case 'N':
      return encodeNotify(b, p.protocol, p.spi, p.notifyType, p.data);
    case 'D':
      return encodeDelete(b, p.protocol, p.spiSize, p.spis);
    case 'TSi':
    case 'TSr':
      return encodeTs(b, p.selectors);
    case 'CP':
      return encodeCp(b, p.cfgType, p.attributes);
    case 'SK':
      b.bytes(p.body);
      return;
    case 'NONCE':
    case 'V':
    case 'EAP':
    case 'UNKNOWN':
      b.bytes(p.data);
      return;
  }
}

/** Encodes a payload chain, e.g. the inner payloads before sealing them into SK. */
export function encodePayloads(payloads: Payload[]): { firstType: number; bytes: Uint8Array } {
  const b = new Builder();
  const firstType = writeChain(b, payloads);
  return { firstType, bytes: b.finish() };
}
