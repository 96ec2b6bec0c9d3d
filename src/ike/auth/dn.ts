// X.501 Distinguished Names as IKE identities (RFC 7296 §3.5 ID_DER_ASN1_DN, RFC 5280
// §4.1.2.4 Name). Text follows strongSwan's style: "C=CH, O=strongSwan, CN=left", RDNs in
// DER order, ',' separating them (or '/' when the text starts with '/').
import { Tag, children, oid, oidText, readOnly, seq, set, tlv, DerError } from './der.js';

/** A DN text that cannot be turned into a Name; the message names the offending part. */
export class DnSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnSyntaxError';
  }
}

interface Attr { names: string[]; oid: string; tag: number }

// RFC 5280 §4.1.2.4 and Appendix A.1 attribute types; the first name is the one printed.
// String types as strongSwan encodes them: PrintableString when the value fits its
// alphabet (X.680 §41.4), otherwise UTF8String; emailAddress is an IA5String (RFC 5280 A.1).
const ATTRS: Attr[] = [
  { names: ['C'], oid: '2.5.4.6', tag: Tag.PRINTABLE_STRING },
  { names: ['ST', 'S_OR_P'], oid: '2.5.4.8', tag: Tag.PRINTABLE_STRING },
  { names: ['L'], oid: '2.5.4.7', tag: Tag.PRINTABLE_STRING },
  { names: ['O'], oid: '2.5.4.10', tag: Tag.PRINTABLE_STRING },
  { names: ['OU'], oid: '2.5.4.11', tag: Tag.PRINTABLE_STRING },
  { names: ['CN'], oid: '2.5.4.3', tag: Tag.PRINTABLE_STRING },
  { names: ['E', 'Email', 'emailAddress'], oid: '1.2.840.113549.1.9.1', tag: Tag.IA5_STRING },
  { names: ['DC'], oid: '0.9.2342.19200300.100.1.25', tag: Tag.PRINTABLE_STRING },
  { names: ['UID'], oid: '0.9.2342.19200300.100.1.1', tag: Tag.PRINTABLE_STRING },
  { names: ['S', 'surname'], oid: '2.5.4.4', tag: Tag.PRINTABLE_STRING },
  { names: ['SN', 'serialNumber'], oid: '2.5.4.5', tag: Tag.PRINTABLE_STRING },
  { names: ['STREET'], oid: '2.5.4.9', tag: Tag.PRINTABLE_STRING },
  { names: ['T', 'title'], oid: '2.5.4.12', tag: Tag.PRINTABLE_STRING },
  { names: ['D', 'description'], oid: '2.5.4.13', tag: Tag.PRINTABLE_STRING },
  { names: ['postalCode'], oid: '2.5.4.17', tag: Tag.PRINTABLE_STRING },
  { names: ['N', 'name'], oid: '2.5.4.41', tag: Tag.PRINTABLE_STRING },
  { names: ['G', 'givenName'], oid: '2.5.4.42', tag: Tag.PRINTABLE_STRING },
  { names: ['I', 'initials'], oid: '2.5.4.43', tag: Tag.PRINTABLE_STRING },
  { names: ['dnQualifier'], oid: '2.5.4.46', tag: Tag.PRINTABLE_STRING },
  { names: ['pseudonym'], oid: '2.5.4.65', tag: Tag.PRINTABLE_STRING },
];
const EMAIL_OID = '1.2.840.113549.1.9.1';

const byName = new Map<string, Attr>();
for (const a of ATTRS) for (const n of a.names) byName.set(n.toLowerCase(), a);
const byOid = new Map(ATTRS.map((a) => [a.oid, a]));

// X.680 §41.4: the PrintableString alphabet
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** One attribute of a DN, decoded. */
export interface Rdn { oid: string; tag: number; value: string }

/** Splits DN text on the separator, honouring "\," escapes. */
function splitRdns(text: string): { sep: string; parts: string[] } {
  const sep = text.trimStart().startsWith('/') ? '/' : ',';
  const body = sep === '/' ? text.trimStart().slice(1) : text;
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === '\\' && i + 1 < body.length) {
      cur += body[++i];
    } else if (ch === sep) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return { sep, parts };
}

/** Parses strongSwan-style DN text into RDNs; throws DnSyntaxError. */
export function parseDnText(text: string): Rdn[] {
  const { parts } = splitRdns(text);
  const rdns: Rdn[] = [];
  for (const raw of parts) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new DnSyntaxError(`DN part "${part}" is not ATTRIBUTE=value`);
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    const attr = byName.get(name.toLowerCase());
    let attrOid: string;
    let tag: number;
    if (attr) {
      attrOid = attr.oid;
      tag = attr.tag;
    } else if (/^\d+(\.\d+)+$/.test(name)) {
      attrOid = name; // a dotted OID names any attribute type
      tag = Tag.PRINTABLE_STRING;
    } else throw new DnSyntaxError(`unknown DN attribute "${name}"`);
    if (value === '') throw new DnSyntaxError(`DN attribute ${name} has an empty value`);
    if (tag === Tag.PRINTABLE_STRING && !PRINTABLE.test(value)) tag = Tag.UTF8_STRING;
    if (tag === Tag.IA5_STRING && !/^[\x00-\x7f]*$/.test(value)) tag = Tag.UTF8_STRING;
    rdns.push({ oid: attrOid, tag, value });
  }
  if (rdns.length === 0) throw new DnSyntaxError('DN has no attributes');
  return rdns;
}

/** RFC 5280 §4.1.2.4: Name ::= SEQUENCE OF SET OF AttributeTypeAndValue, one per RDN. */
export function encodeDn(rdns: Rdn[]): Uint8Array {
  const enc = new TextEncoder();
  return seq(...rdns.map((r) => set(seq(oid(r.oid), tlv(r.tag, enc.encode(r.value))))));
}

/** DN text → DER Name. */
export function dnFromText(text: string): Uint8Array {
  return encodeDn(parseDnText(text));
}

function decodeString(tag: number, b: Uint8Array): string {
  switch (tag) {
    case Tag.UTF8_STRING:
      return new TextDecoder('utf-8', { fatal: false }).decode(b);
    case Tag.BMP_STRING: {
      let s = '';
      for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode((b[i] << 8) | b[i + 1]);
      return s;
    }
    case Tag.UNIVERSAL_STRING: {
      let s = '';
      for (let i = 0; i + 3 < b.length; i += 4) {
        const cp = ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
        // UCS-4 (X.680 §41): a character is at most U+10FFFF, and never a UTF-16 surrogate
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new DerError(`UniversalString character U+${cp.toString(16)} is no Unicode character`, i);
        s += String.fromCodePoint(cp);
      }
      return s;
    }
    default: // PrintableString, IA5String, T61String, ...: byte per character
      return String.fromCharCode(...b);
  }
}

/** Decodes a DER Name into its attributes, in order; throws DerError on malformed input. */
export function decodeDn(der: Uint8Array): Rdn[] {
  const name = readOnly(der, Tag.SEQUENCE);
  const out: Rdn[] = [];
  for (const rdnSet of children(name.content)) {
    if (rdnSet.tag !== Tag.SET) throw new DerError('RDN is not a SET', rdnSet.start);
    // a multi-valued RDN contributes each of its AttributeTypeAndValue in order
    for (const atv of children(rdnSet.content)) {
      if (atv.tag !== Tag.SEQUENCE) throw new DerError('AttributeTypeAndValue is not a SEQUENCE', atv.start);
      const [type, value] = children(atv.content);
      if (!type || type.tag !== Tag.OID || !value) throw new DerError('bad AttributeTypeAndValue', atv.start);
      out.push({ oid: oidText(type.content), tag: value.tag, value: decodeString(value.tag, value.content) });
    }
  }
  return out;
}

/** DER Name → strongSwan-style text ("C=CH, O=strongSwan, CN=left"). */
export function formatDn(der: Uint8Array): string {
  return decodeDn(der)
    .map((r) => `${byOid.get(r.oid)?.names[0] ?? r.oid}=${r.value.replace(/,/g, '\\,')}`)
    .join(', ');
}

/**
 * Whether a received DN matches a configured one, compared attribute by attribute as
 * decoded text (strongSwan compares RDNs in order, PrintableString and email values
 * case-insensitively). A configured value of "*" matches any value of that attribute.
 */
export function dnMatches(configured: Rdn[], received: Rdn[], wildcards = true): boolean {
  if (configured.length !== received.length) return false;
  for (let i = 0; i < configured.length; i++) {
    const c = configured[i];
    const r = received[i];
    if (c.oid !== r.oid) return false;
    if (wildcards && c.value === '*') continue;
    const fold = (c.tag === Tag.PRINTABLE_STRING && r.tag === Tag.PRINTABLE_STRING) || c.oid === EMAIL_OID;
    if (fold ? c.value.toLowerCase() !== r.value.toLowerCase() : c.value !== r.value) return false;
  }
  return true;
}
