// A minimal DER (ITU-T X.690) reader and writer: just what IKE authentication needs for
// Distinguished Names (RFC 5280 §4.1.2.4), AlgorithmIdentifiers (RFC 7427 §3), ECDSA
// signature values (RFC 3279 §2.2.3) and a few certificate extensions. Definite lengths
// only; every length is checked against the buffer before it is used.

/** Malformed DER. `offset` is the byte where decoding stopped. */
export class DerError extends Error {
  constructor(readonly reason: string, readonly offset: number) {
    super(`DER: ${reason} at offset ${offset}`);
    this.name = 'DerError';
  }
}

// X.690 §8.1.2: universal tag numbers used here (constructed bit included for SEQ/SET)
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One decoded TLV: `tag` byte, content is `buf.subarray(start, end)`, `next` follows it. */
export interface Tlv {
  tag: number;
  start: number;
  end: number;
  next: number;
  content: Uint8Array;
  /** The whole encoding, header included. */
  raw: Uint8Array;
}

/** Reads the TLV at `offset`, staying within `limit` (defaults to the buffer's end). */
export function readTlv(buf: Uint8Array, offset = 0, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated header', offset);
  const tag = buf[offset];
  // X.690 §8.1.2.4: high tag numbers (0x1f) never occur in the structures we read
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tag not supported', offset);
  let len = buf[offset + 1];
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // X.690 §10.1: DER uses the definite form; 0x80 (indefinite) is BER only
    if (n === 0 || n > 4) throw new DerError('unsupported length form', offset + 1);
    if (pos + n > limit) throw new DerError('truncated length', offset + 1);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i];
    pos += n;
  }
  const end = pos + len;
  if (end > limit) throw new DerError('length exceeds buffer', offset);
  return { tag, start: pos, end, next: end, content: buf.subarray(pos, end), raw: buf.subarray(offset, end) };
}

/** Reads one TLV that must fill `buf` exactly and carry `tag` (when given). */
export function readOnly(buf: Uint8Array, tag?: number): Tlv {
  const t = readTlv(buf, 0);
  if (t.next !== buf.length) throw new DerError('trailing bytes', t.next);
  if (tag !== undefined && t.tag !== tag) throw new DerError(`expected tag 0x${hex2(tag)}, got 0x${hex2(t.tag)}`, 0);
  return t;
}

/** The TLVs inside a constructed value's content, in order. */
export function children(content: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let pos = 0;
  while (pos < content.length) {
    const t = readTlv(content, pos);
    out.push(t);
    pos = t.next;
  }
  return out;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function encodeLength(len: number): number[] {
  if (len < 0x80) return [len];
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** Encodes one TLV. */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const len = content.reduce((n, c) => n + c.length, 0);
  const head = [tag, ...encodeLength(len)];
  const out = new Uint8Array(head.length + len);
  out.set(head, 0);
  let pos = head.length;
  for (const c of content) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

export const seq = (...c: Uint8Array[]): Uint8Array => tlv(Tag.SEQUENCE, ...c);
export const set = (...c: Uint8Array[]): Uint8Array => tlv(Tag.SET, ...c);
export const derNull = (): Uint8Array => new Uint8Array([Tag.NULL, 0]);

/** X.690 §8.19: OBJECT IDENTIFIER from dotted text. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new DerError(`bad OID arc "${a}"`, 0);
    return Number(a);
  });
  if (arcs.length < 2 || arcs[0] > 2) throw new DerError(`bad OID "${dotted}"`, 0);
  const body: number[] = [];
  const first = [arcs[0] * 40 + arcs[1], ...arcs.slice(2)];
  for (const arc of first) {
    const group: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) group.unshift(0x80 | (v & 0x7f));
    body.push(...group);
  }
  return tlv(Tag.OID, new Uint8Array(body));
}

/** X.690 §8.19: dotted text from an OID's content octets. */
export function oidText(content: Uint8Array): string {
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < content.length; i++) {
    v = v * 128 + (content[i] & 0x7f);
    if (!(content[i] & 0x80)) {
      arcs.push(v);
      v = 0;
    } else if (i === content.length - 1) throw new DerError('OID ends inside an arc', i);
  }
  if (arcs.length === 0) throw new DerError('empty OID', 0);
  const first = arcs[0] < 80 ? Math.floor(arcs[0] / 40) : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join('.');
}

/** X.690 §8.3: a non-negative INTEGER from big-endian magnitude bytes. */
export function uint(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  const body = m.length === 0 ? new Uint8Array([0]) : m[0] & 0x80 ? concat(new Uint8Array([0]), m) : m;
  return tlv(Tag.INTEGER, body);
}

/** The magnitude of a non-negative INTEGER's content, left-padded to `width` bytes. */
export function uintBytes(content: Uint8Array, width: number): Uint8Array {
  if (content.length === 0 || content[0] & 0x80) throw new DerError('INTEGER is negative or empty', 0);
  let i = 0;
  while (i < content.length - 1 && content[i] === 0) i++;
  const m = content.subarray(i);
  if (m.length > width) throw new DerError('INTEGER too large', 0);
  const out = new Uint8Array(width);
  out.set(m, width - m.length);
  return out;
}

/** A small non-negative INTEGER's value. */
export function smallUint(content: Uint8Array): number {
  if (content.length === 0 || content.length > 4 || content[0] & 0x80) throw new DerError('bad small INTEGER', 0);
  return content.reduce((n, b) => n * 256 + b, 0);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** RFC 5280 §4.1.2.5: a UTCTime (YYMMDDHHMMSSZ, years 50-99 are 19xx) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
export function derTime(t: Tlv): Date {
  const text = new TextDecoder().decode(t.content);
  const m = t.tag === Tag.UTC_TIME ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : t.tag === Tag.GENERALIZED_TIME ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  if (!m) throw new DerError('bad Time', t.start);
  let year = Number(m[1]);
  if (t.tag === Tag.UTC_TIME) year += year >= 50 ? 1900 : 2000;
  const d = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  if (Number.isNaN(d.getTime())) throw new DerError('bad Time', t.start);
  return d;
}
