// IKE identities (RFC 7296 §3.5): configuration text <-> ID payload (type, data), and the
// check that a received ID is the one configured. Text follows strongSwan's conventions
// so an operator's swanctl.conf `id` values mean the same here.
import { IdType, nameOf } from '../../wire/constants.js';
import { DerError } from './der.js';
import { bytesToIp, parseIPv4, parseIPv6 } from '../../wire/ip-text.js';
import { DnSyntaxError, decodeDn, dnFromText, dnMatches, formatDn, parseDnText } from './dn.js';

/** Identity text that cannot be encoded; the message says which part and why. */
export class IdentitySyntaxError extends Error {
  constructor(readonly text: string, readonly reason: string) {
    super(`identity "${text}": ${reason}`);
    this.name = 'IdentitySyntaxError';
  }
}

export interface Identity { idType: number; data: Uint8Array }

/** The configured value that matches any received identity (strongSwan's %any). */
export const ANY_IDENTITY = '%any';

const enc = new TextEncoder();

function parseHex(text: string, original: string): Uint8Array {
  const h = text.replace(/^0x/i, '').replace(/[:\s]/g, '');
  if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(h)) {
    throw new IdentitySyntaxError(original, 'key ID is not an even number of hex digits');
  }
  return Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function dn(text: string, original: string): Uint8Array {
  try {
    return dnFromText(text);
  } catch (e) {
    if (e instanceof DnSyntaxError || e instanceof DerError) throw new IdentitySyntaxError(original, e.message);
    throw e;
  }
}

/**
 * Configuration text → ID payload type and data (RFC 7296 §3.5), strongSwan's rules:
 * IPv4/IPv6 literal → ID_IPV4_ADDR/ID_IPV6_ADDR; "C=CH, O=x, CN=y" → ID_DER_ASN1_DN;
 * "@#hex" or "keyid:hex" → ID_KEY_ID; "@host" → ID_FQDN (forced); "a@b" → ID_RFC822_ADDR;
 * anything else → ID_FQDN. Explicit prefixes "fqdn:", "email:", "ipv4:", "ipv6:",
 * "asn1dn:" force a type.
 */
export function parseIdentity(text: string): Identity {
  const t = text.trim();
  if (t === '') throw new IdentitySyntaxError(text, 'empty identity');
  if (t === ANY_IDENTITY) throw new IdentitySyntaxError(text, '%any matches identities but cannot be sent as one');
  const prefix = /^(fqdn|dns|email|rfc822|ipv4|ipv6|keyid|asn1dn):(.*)$/i.exec(t);
  if (prefix) {
    const [, kind, rest] = prefix;
    switch (kind.toLowerCase()) {
      case 'fqdn':
      case 'dns':
        return { idType: IdType.ID_FQDN, data: enc.encode(rest) };
      case 'email':
      case 'rfc822':
        return { idType: IdType.ID_RFC822_ADDR, data: enc.encode(rest) };
      case 'ipv4': {
        const a = parseIPv4(rest);
        if (!a) throw new IdentitySyntaxError(text, 'not an IPv4 address');
        return { idType: IdType.ID_IPV4_ADDR, data: a };
      }
      case 'ipv6': {
        const a = parseIPv6(rest);
        if (!a) throw new IdentitySyntaxError(text, 'not an IPv6 address');
        return { idType: IdType.ID_IPV6_ADDR, data: a };
      }
      case 'keyid':
        return { idType: IdType.ID_KEY_ID, data: parseHex(rest, text) };
      default:
        return { idType: IdType.ID_DER_ASN1_DN, data: dn(rest, text) };
    }
  }
  if (t.startsWith('@#')) return { idType: IdType.ID_KEY_ID, data: parseHex(t.slice(2), text) };
  if (t.startsWith('@@')) return { idType: IdType.ID_RFC822_ADDR, data: enc.encode(t.slice(2)) };
  if (t.startsWith('@')) return { idType: IdType.ID_FQDN, data: enc.encode(t.slice(1)) };
  const v4 = parseIPv4(t);
  if (v4) return { idType: IdType.ID_IPV4_ADDR, data: v4 };
  const v6 = parseIPv6(t);
  if (v6) return { idType: IdType.ID_IPV6_ADDR, data: v6 };
  if (t.includes('=')) return { idType: IdType.ID_DER_ASN1_DN, data: dn(t, text) };
  if (t.includes('@')) return { idType: IdType.ID_RFC822_ADDR, data: enc.encode(t) };
  return { idType: IdType.ID_FQDN, data: enc.encode(t) };
}

/** ID payload → text, the inverse of parseIdentity for every type it produces. */
export function formatIdentity(idType: number, data: Uint8Array): string {
  const dec = new TextDecoder('utf-8', { fatal: false });
  switch (idType) {
    case IdType.ID_IPV4_ADDR:
      return data.length === 4 ? Array.from(data).join('.') : `(invalid ID_IPV4_ADDR ${toHex(data)})`;
    case IdType.ID_IPV6_ADDR:
      return data.length === 16 ? bytesToIp(data) : `(invalid ID_IPV6_ADDR ${toHex(data)})`;
    case IdType.ID_FQDN: {
      const s = dec.decode(data);
      // a name that would otherwise read back as another type keeps strongSwan's "@" marker
      return s.includes('@') || s.includes('=') || parseIPv4(s) || parseIPv6(s) ? `fqdn:${s}` : s;
    }
    case IdType.ID_RFC822_ADDR: {
      const s = dec.decode(data);
      return s.includes('@') && !s.startsWith('@') && !s.includes('=') ? s : `email:${s}`;
    }
    case IdType.ID_DER_ASN1_DN:
      try {
        return formatDn(data);
      } catch {
        return `(invalid ID_DER_ASN1_DN ${toHex(data)})`;
      }
    case IdType.ID_KEY_ID:
      return `@#${toHex(data)}`;
    default:
      return `${nameOf(IdType, idType)}:#${toHex(data)}`;
  }
}

function bytesEq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** "*.example.com" / "*@example.com" style wildcard, case-insensitive (DNS names are). */
function nameMatches(pattern: string, value: string): boolean {
  const p = pattern.toLowerCase();
  const v = value.toLowerCase();
  if (p.startsWith('*')) return v.endsWith(p.slice(1));
  return p === v;
}

/**
 * Whether a received ID payload is the configured identity. "%any" matches everything;
 * a DN compares as a decoded DN (attribute order, types and values, "*" wildcards);
 * FQDN and RFC822 compare case-insensitively, with a leading "*" wildcard; the rest
 * compare as bytes. A malformed received DN never matches.
 */
export function identityMatches(configured: string, received: Identity): boolean {
  const c = configured.trim();
  if (c === ANY_IDENTITY) return true;
  const want = parseIdentity(c);
  if (want.idType !== received.idType) return false;
  const dec = new TextDecoder();
  switch (want.idType) {
    case IdType.ID_DER_ASN1_DN: {
      const text = c.replace(/^asn1dn:/i, '');
      try {
        return dnMatches(parseDnText(text), decodeDn(received.data));
      } catch {
        return false;
      }
    }
    case IdType.ID_FQDN:
    case IdType.ID_RFC822_ADDR:
      return nameMatches(dec.decode(want.data), dec.decode(received.data));
    default:
      return bytesEq(want.data, received.data);
  }
}
