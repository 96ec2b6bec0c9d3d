// Building and opening IKE messages: plain for IKE_SA_INIT, inside the Encrypted payload
// (RFC 7296 §3.14, RFC 5282 for AEAD) for everything after it.
import { decodePayloads, encodeMessage, encodePayloads, encodeSkPrefix, type HeaderFields } from '../wire/message.js';
import type { IkeMessage, Payload } from '../wire/types.js';
import type { SkCipher } from './sa-context.js';

export function buildPlain(h: HeaderFields, payloads: Payload[]): Uint8Array {
  return encodeMessage(h, payloads);
}

/** RFC 7296 §3.14: header | SK generic header | IV | encrypted inner payloads | ICV. */
export function buildProtected(h: HeaderFields, inner: Payload[], cipher: SkCipher, random: (n: number) => Uint8Array): Uint8Array {
  const { firstType, bytes } = encodePayloads(inner);
  const aad = encodeSkPrefix(h, firstType, cipher.sealedLength(bytes.length));
  const body = cipher.seal(aad, bytes, random(cipher.ivLength)); // RFC 7296 §3.14: a fresh IV per message
  bytes.fill(0);
  const out = new Uint8Array(aad.length + body.length);
  out.set(aad, 0);
  out.set(body, aad.length);
  return out;
}

export type OpenResult =
  | { ok: true; inner: Payload[] }
  | { ok: false; why: 'unprotected' }; // no SK payload where one is required

/**
 * Open the SK payload of `msg`; throws IntegrityError (bad ICV) or WireError (bad inner
 * payloads), both typed. The SK payload must be the only outer payload (RFC 7296 §3.14).
 */
export function openProtected(msg: IkeMessage, cipher: SkCipher): OpenResult {
  const sk = msg.payloads[msg.payloads.length - 1];
  if (!sk || sk.kind !== 'SK' || msg.payloads.length !== 1) return { ok: false, why: 'unprotected' };
  const plain = cipher.open(sk.aad, sk.body);
  try {
    return { ok: true, inner: decodePayloads(sk.firstInner, plain, sk.aad.length) };
  } finally {
    plain.fill(0);
  }
}
