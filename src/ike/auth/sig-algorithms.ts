// Signature schemes for IKEv2 Digital Signature authentication (RFC 7427) and their ASN.1
// AlgorithmIdentifiers, plus the SIGNATURE_HASH_ALGORITHMS notify data (RFC 7427 §4).
import { HashAlgorithm } from '../../wire/constants.js';
import { DerError, Tag, bytesEqual, children, derNull, oid, oidText, readOnly, seq, smallUint, tlv, uint } from './der.js';

export type Hash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** A signature scheme as carried in an AlgorithmIdentifier. */
export type Scheme =
  | { kind: 'rsa-pkcs1'; hash: Hash }
  | { kind: 'rsa-pss'; hash: Hash; mgfHash: Hash; saltLength: number }
  | { kind: 'ecdsa'; hash: Hash }
  | { kind: 'ed25519' }
  | { kind: 'ed448' };

const HASH_OIDS: Record<string, Hash> = {
  '1.3.14.3.2.26': 'sha1', // RFC 3279 §2.2.1 id-sha1
  '2.16.840.1.101.3.4.2.1': 'sha256', // RFC 5754 §2 id-sha256
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const OID_OF_HASH: Record<Hash, string> = Object.fromEntries(
  Object.entries(HASH_OIDS).map(([o, h]) => [h, o]),
) as Record<Hash, string>;

// RFC 4055 §5 / RFC 5754 §3.2: sha*WithRSAEncryption
const RSA_PKCS1_OIDS: Record<string, Hash> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};
// RFC 5758 §3.2: ecdsa-with-SHA*
const ECDSA_OIDS: Record<string, Hash> = {
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};
const OID_RSASSA_PSS = '1.2.840.113549.1.1.10'; // RFC 4055 §3.1 id-RSASSA-PSS
const OID_MGF1 = '1.2.840.113549.1.1.8'; // RFC 4055 §2.2 id-mgf1
const OID_ED25519 = '1.3.101.112'; // RFC 8410 §3 id-Ed25519 (RFC 8420 §2 for IKEv2)
const OID_ED448 = '1.3.101.113'; // RFC 8410 §3 id-Ed448

export const HASH_LENGTH: Record<Hash, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** RFC 7427 §7 / IANA "IKEv2 Hash Algorithms" id ↔ hash. */
export const HASH_BY_ID: Record<number, Hash> = {
  [HashAlgorithm.SHA1]: 'sha1',
  [HashAlgorithm.SHA2_256]: 'sha256',
  [HashAlgorithm.SHA2_384]: 'sha384',
  [HashAlgorithm.SHA2_512]: 'sha512',
};
export const ID_OF_HASH: Record<Hash, number> = { sha1: 1, sha256: 2, sha384: 3, sha512: 4 };

/** A signature scheme that cannot be used; `reason` is 'unsupported-algorithm' or 'malformed-algorithm'. */
export class SchemeError extends Error {
  constructor(readonly reason: 'unsupported-algorithm' | 'malformed-algorithm', detail: string) {
    super(detail);
    this.name = 'SchemeError';
  }
}

function hashAlgId(hash: Hash): Uint8Array {
  // RFC 4055 §2.1: SHA-2 AlgorithmIdentifiers carry NULL parameters (as RFC 7427 A.4.3 shows)
  return seq(oid(OID_OF_HASH[hash]), derNull());
}

/** The DER AlgorithmIdentifier for a scheme (RFC 7427 Appendix A, RFC 8420 §2). */
export function encodeAlgorithmIdentifier(s: Scheme): Uint8Array {
  switch (s.kind) {
    case 'rsa-pkcs1': {
      const o = Object.keys(RSA_PKCS1_OIDS).find((k) => RSA_PKCS1_OIDS[k] === s.hash)!;
      return seq(oid(o), derNull()); // RFC 4055 §5: parameters MUST be NULL
    }
    case 'ecdsa': {
      const o = Object.keys(ECDSA_OIDS).find((k) => ECDSA_OIDS[k] === s.hash)!;
      return seq(oid(o)); // RFC 5758 §3.2: parameters MUST be absent
    }
    case 'rsa-pss': {
      // RFC 4055 §3.1: RSASSA-PSS-params; DER omits fields equal to their DEFAULT (trailerField 1)
      const params: Uint8Array[] = [];
      if (s.hash !== 'sha1') params.push(tlv(0xa0, hashAlgId(s.hash)));
      if (s.mgfHash !== 'sha1') params.push(tlv(0xa1, seq(oid(OID_MGF1), hashAlgId(s.mgfHash))));
      if (s.saltLength !== 20) params.push(tlv(0xa2, uint(new Uint8Array([s.saltLength >> 8, s.saltLength & 0xff]))));
      return seq(oid(OID_RSASSA_PSS), seq(...params));
    }
    case 'ed25519':
      return seq(oid(OID_ED25519)); // RFC 8410 §3: parameters MUST be absent
    case 'ed448':
      return seq(oid(OID_ED448));
  }
}

function parseHashAlgId(der: Uint8Array): Hash {
  const t = readOnly(der, Tag.SEQUENCE);
  const [o, p] = children(t.content);
  if (!o || o.tag !== Tag.OID) throw new SchemeError('malformed-algorithm', 'hash AlgorithmIdentifier without OID');
  const h = HASH_OIDS[oidText(o.content)];
  if (!h) throw new SchemeError('unsupported-algorithm', `hash ${oidText(o.content)}`);
  if (p && p.tag !== Tag.NULL) throw new SchemeError('malformed-algorithm', 'hash parameters are not NULL');
  return h;
}

function parsePssParams(content: Uint8Array): Scheme {
  // RFC 4055 §3.1: every field has a DEFAULT: sha1, mgf1SHA1, 20, 1
  let hash: Hash = 'sha1';
  let mgfHash: Hash = 'sha1';
  let saltLength = 20;
  for (const f of children(content)) {
    const inner = f.content;
    switch (f.tag) {
      case 0xa0:
        hash = parseHashAlgId(inner);
        break;
      case 0xa1: {
        const mgf = readOnly(inner, Tag.SEQUENCE);
        const [mo, mp] = children(mgf.content);
        if (!mo || mo.tag !== Tag.OID || oidText(mo.content) !== OID_MGF1 || !mp) {
          throw new SchemeError('unsupported-algorithm', 'PSS mask generation function is not MGF1');
        }
        mgfHash = parseHashAlgId(mp.raw);
        break;
      }
      case 0xa2:
        saltLength = smallUint(readOnly(inner, Tag.INTEGER).content);
        break;
      case 0xa3:
        // RFC 4055 §3.1: trailerField MUST be 1 (trailerFieldBC)
        if (smallUint(readOnly(inner, Tag.INTEGER).content) !== 1) {
          throw new SchemeError('unsupported-algorithm', 'PSS trailerField is not 1');
        }
        break;
      default:
        throw new SchemeError('malformed-algorithm', `unexpected PSS parameter tag 0x${f.tag.toString(16)}`);
    }
  }
  return { kind: 'rsa-pss', hash, mgfHash, saltLength };
}

/** DER AlgorithmIdentifier → scheme; throws SchemeError. */
export function parseAlgorithmIdentifier(der: Uint8Array): Scheme {
  try {
    const t = readOnly(der, Tag.SEQUENCE);
    const [o, params, extra] = children(t.content);
    if (!o || o.tag !== Tag.OID || extra) throw new SchemeError('malformed-algorithm', 'not an AlgorithmIdentifier');
    const name = oidText(o.content);
    if (RSA_PKCS1_OIDS[name]) {
      if (params && params.tag !== Tag.NULL) throw new SchemeError('malformed-algorithm', `${name} parameters are not NULL`);
      return { kind: 'rsa-pkcs1', hash: RSA_PKCS1_OIDS[name] };
    }
    if (ECDSA_OIDS[name]) return { kind: 'ecdsa', hash: ECDSA_OIDS[name] };
    if (name === OID_ED25519) return { kind: 'ed25519' };
    if (name === OID_ED448) return { kind: 'ed448' };
    if (name === OID_RSASSA_PSS) {
      // RFC 7427 A.4.1 sends an empty SEQUENCE; absent parameters mean the same defaults
      if (!params) return parsePssParams(new Uint8Array(0));
      if (params.tag !== Tag.SEQUENCE) throw new SchemeError('malformed-algorithm', 'PSS parameters are not a SEQUENCE');
      return parsePssParams(params.content);
    }
    throw new SchemeError('unsupported-algorithm', `signature algorithm ${name}`);
  } catch (e) {
    if (e instanceof DerError) throw new SchemeError('malformed-algorithm', e.message);
    throw e;
  }
}

/** A short human name for logs and failure reports ("RSASSA-PSS SHA-256", "ECDSA SHA-384"). */
export function schemeName(s: Scheme): string {
  const H = (h: Hash) => h.toUpperCase().replace(/^SHA(\d)/, 'SHA-$1');
  switch (s.kind) {
    case 'rsa-pkcs1':
      return `RSA PKCS#1 v1.5 ${H(s.hash)}`;
    case 'rsa-pss':
      return `RSASSA-PSS ${H(s.hash)}${s.mgfHash !== s.hash ? ` MGF1-${H(s.mgfHash)}` : ''} salt ${s.saltLength}`;
    case 'ecdsa':
      return `ECDSA ${H(s.hash)}`;
    case 'ed25519':
      return 'Ed25519';
    case 'ed448':
      return 'Ed448';
  }
}

export function sameAlgorithmIdentifier(a: Uint8Array, b: Uint8Array): boolean {
  return bytesEqual(a, b);
}

/** RFC 7427 §4: SIGNATURE_HASH_ALGORITHMS notify data is a list of 2-octet hash ids. */
export function encodeHashAlgorithms(ids: readonly number[]): Uint8Array {
  const out = new Uint8Array(ids.length * 2);
  ids.forEach((id, i) => {
    out[2 * i] = id >> 8;
    out[2 * i + 1] = id & 0xff;
  });
  return out;
}

/** Inverse of encodeHashAlgorithms; a trailing odd octet is ignored (RFC 7427 §4 lists only pairs). */
export function decodeHashAlgorithms(data: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < data.length; i += 2) out.push((data[i] << 8) | data[i + 1]);
  return out;
}
