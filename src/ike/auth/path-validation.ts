// X.509 certification path validation for IKE_AUTH (RFC 5280 §6.1, RFC 4945 §5): build a path
// from the peer's end-entity certificate through the intermediates it sent to one of our trust
// anchors, then check every certificate on it. A pure function of bytes and the caller's clock:
// every refusal, malformed DER included, is a verdict naming the check, the certificate (by
// subject) and the field, for failure map row F3; nothing here throws on peer input.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { type Crl, crlSignedBy, serialKey } from './crl.js';
import { bytesEqual } from './der.js';
import { decodeDn, dnMatches, formatDn } from './dn.js';
import { constrainedNames, nameConstraintViolation, parseNameConstraints, type NameConstraints } from './name-constraints.js';
import { SchemeError, parseAlgorithmIdentifier, schemeName } from './sig-algorithms.js';
import {
  OID_BASIC_CONSTRAINTS,
  OID_EKU,
  OID_KEY_USAGE,
  OID_NAME_CONSTRAINTS,
  OID_SAN,
  OID_SKI,
  altNames,
  basicConstraints,
  certFields,
  extendedKeyUsage,
  keyUsage,
  type AltName,
  type CertFields,
  type KeyUsageBit,
} from './x509-fields.js';

export type ChainCheck =
  | 'parse' // not a DER X.509 certificate at all
  | 'malformed' // an extension or field this code reads is not valid DER for its type
  | 'chain' // no path to a trust anchor
  | 'ca' // the path ends at a certificate that is not a trust anchor (self-signed leaf included)
  | 'signature' // a certificate's signature does not verify with its issuer's key
  | 'validity'
  | 'algorithm' // SHA-1 signature or RSA key under 2048 bits
  | 'critical-extension' // a critical extension this code does not process
  | 'basic-constraints' // an issuer that is not a CA, or pathLenConstraint exceeded
  | 'key-usage'
  | 'eku'
  | 'name-constraints'
  | 'revoked';
export type ChainResult =
  | { ok: true; leaf: X509Certificate; path: X509Certificate[] }
  | { ok: false; check: ChainCheck; detail: string };

export interface ChainInput {
  /** The peer's end-entity certificate (first CERT payload), DER. */
  leaf: Uint8Array;
  /** Further CERT payloads, DER, in any order. */
  intermediates: Uint8Array[];
  /** Our trusted CA certificates, DER. */
  trustAnchors: Uint8Array[];
  /** Parsed CRLs from the configuration (crl.ts); none: revocation is not checked. */
  crls?: Crl[];
  now: Date;
}

/** A limit on path length so a malicious bundle cannot make us loop (RFC 5280 §6.1 has none). */
export const MAX_CHAIN_DEPTH = 8;

/** Smallest RSA modulus accepted anywhere on the path (RFC 8247 §3.2 / NIST SP 800-131A: 112-bit security). */
export const MIN_RSA_BITS = 2048;

// Which extendedKeyUsage allows IKE when the end-entity certificate has one (RFC 5280
// §4.2.1.12: a certificate with the extension is only for the purposes it lists). The set is
// RFC 4945 §5.1.3.12 (ipsecIKE; the extension SHOULD NOT be required), anyExtendedKeyUsage,
// serverAuth and clientAuth (what strongSwan's `pki --flag` writes and Windows/macOS ask
// for), iKEIntermediate (`pki --flag ikeIntermediate`) and the RFC 4945-era ipsec* purposes.
// Source for strongSwan: its x509 plugin (x509_cert.c, parse_extendedKeyUsage) turns
// serverAuth, clientAuth and iKEIntermediate into certificate flags that pki and listings
// show; we found no place where charon refuses an IKE peer over its EKU. tsvpn is stricter
// only for an EKU that lists none of the purposes here (e.g. codeSigning only).
const IKE_EKUS = new Set([
  '2.5.29.37.0', // anyExtendedKeyUsage
  '1.3.6.1.5.5.7.3.1', // id-kp-serverAuth
  '1.3.6.1.5.5.7.3.2', // id-kp-clientAuth
  '1.3.6.1.5.5.7.3.5', // id-kp-ipsecEndSystem
  '1.3.6.1.5.5.7.3.6', // id-kp-ipsecTunnel
  '1.3.6.1.5.5.7.3.7', // id-kp-ipsecUser
  '1.3.6.1.5.5.7.3.17', // id-kp-ipsecIKE (RFC 4945 §5.1.3.12)
  '1.3.6.1.5.5.8.2.2', // iKEIntermediate
]);

// RFC 5280 §4.2: extensions this code processes or that need no processing to validate a path.
// A critical extension not listed here refuses the certificate (§6.1.4 (o), §6.1.5 (f)).
const UNDERSTOOD_EXTENSIONS = new Map<string, string>([
  [OID_BASIC_CONSTRAINTS, 'basicConstraints'], // §4.2.1.9, checked on every issuer
  [OID_KEY_USAGE, 'keyUsage'], // §4.2.1.3, checked on issuers and the end entity
  [OID_EKU, 'extendedKeyUsage'], // §4.2.1.12, checked on the end entity
  [OID_SAN, 'subjectAltName'], // §4.2.1.6, identity and name constraints
  [OID_NAME_CONSTRAINTS, 'nameConstraints'], // §4.2.1.10, applied below each CA
  [OID_SKI, 'subjectKeyIdentifier'], // §4.2.1.2, informational
  ['2.5.29.35', 'authorityKeyIdentifier'], // §4.2.1.1, informational
  ['2.5.29.18', 'issuerAltName'], // §4.2.1.7, informational
  // §4.2.1.4: no certificate policy is required (initial-policy-set anyPolicy, explicit policy off)
  ['2.5.29.32', 'certificatePolicies'],
]);

interface Cert {
  x: X509Certificate;
  key: KeyObject;
  f: CertFields;
  der: Uint8Array;
  name: string;
  /** the first extension that failed to decode, with why */
  malformed?: { field: string; reason: string };
  bc?: { ca: boolean; pathLen?: number };
  ku?: Set<KeyUsageBit>;
  eku?: string[];
  nc?: NameConstraints;
  alts: AltName[];
}

const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');
const fail = (check: ChainCheck, detail: string): ChainResult => ({ ok: false, check, detail });
const why = (e: unknown) => (e instanceof Error ? e.message : String(e));

function dnText(der: Uint8Array, fallback: string): string {
  try {
    return formatDn(der) || '(empty subject)';
  } catch {
    return fallback;
  }
}

/** Decodes the certificate and each extension the checks read, keeping the first failure. */
function load(der: Uint8Array, role: string): Cert | string {
  let x: X509Certificate;
  let f: CertFields;
  let key: KeyObject;
  try {
    x = new X509Certificate(der);
    f = certFields(der);
  } catch (e) {
    return `${role} is not a DER X.509 certificate (${why(e)})`;
  }
  const name = `"${dnText(f.subject, '(unreadable subject)')}"`;
  try {
    key = x.publicKey;
  } catch (e) {
    return `${role} ${name} has a public key node:crypto cannot use (${why(e)})`;
  }
  const c: Cert = { x, key, f, der, name, alts: [] };
  const fields: [string, () => void][] = [
    ['subject', () => decodeDn(f.subject)],
    ['issuer', () => decodeDn(f.issuer)],
    ['basicConstraints', () => (c.bc = basicConstraints(f))],
    ['keyUsage', () => (c.ku = keyUsage(f))],
    ['extendedKeyUsage', () => (c.eku = extendedKeyUsage(f))],
    ['subjectAltName', () => (c.alts = altNames(f))],
    ['nameConstraints', () => (c.nc = f.extensions.has(OID_NAME_CONSTRAINTS) ? parseNameConstraints(f.extensions.get(OID_NAME_CONSTRAINTS)!.value) : undefined)],
  ];
  for (const [field, read] of fields) {
    try {
      read();
    } catch (e) {
      c.malformed = { field, reason: why(e) };
      break;
    }
  }
  return c;
}

/** RFC 5280 §6.1.4 (a)(b): the issuer's subject names the certificate's issuer (DER equal, or equal after decoding). */
function namesIssuer(issuer: Cert, c: Cert): boolean {
  if (bytesEqual(issuer.f.subject, c.f.issuer)) return true;
  try {
    return dnMatches(decodeDn(issuer.f.subject), decodeDn(c.f.issuer), false);
  } catch {
    return false;
  }
}

function verifies(c: Cert, issuer: Cert): boolean {
  try {
    return c.x.verify(issuer.key);
  } catch {
    return false;
  }
}

const selfIssued = (c: Cert) => bytesEqual(c.f.subject, c.f.issuer);

/** The path from the leaf up to (and including) a trust anchor, or a verdict. */
function buildPath(leaf: Cert, inter: Cert[], anchors: Cert[]): { path: Cert[]; anchor: Cert; pinned: boolean } | ChainResult {
  // a leaf that is itself one of our trust anchors is trusted as configured (a pinned certificate)
  const pinned = anchors.find((a) => bytesEqual(a.der, leaf.der));
  if (pinned) return { path: [], anchor: pinned, pinned: true };
  const path: Cert[] = [leaf];
  let cur = leaf;
  for (;;) {
    const candidates = [...anchors.filter((a) => namesIssuer(a, cur)), ...inter.filter((c) => !path.includes(c) && c !== cur && namesIssuer(c, cur))];
    if (candidates.length === 0) {
      if (selfIssued(cur) && verifies(cur, cur)) return fail('ca', `${cur.name} is self-signed and not one of our ${anchors.length} trust anchor(s)`);
      const where = cur === leaf && inter.length === 0 ? 'ca' : 'chain';
      return fail(where, `no trust anchor${inter.length ? ' or intermediate' : ''} issued ${cur.name} (its issuer is "${dnText(cur.f.issuer, '(unreadable issuer)')}")`);
    }
    const issuer = candidates.find((c) => verifies(cur, c));
    if (!issuer) return fail('signature', `certificate ${cur.name}: signature does not verify with the key of ${candidates[0].name}`);
    if (anchors.includes(issuer)) return { path, anchor: issuer, pinned: false };
    path.push(issuer);
    cur = issuer;
    if (path.length > MAX_CHAIN_DEPTH) return fail('chain', `chain from ${leaf.name} is longer than ${MAX_CHAIN_DEPTH} certificates`);
  }
}

/** RFC 5280 §4.1.2.5: valid from notBefore through notAfter, inclusive. */
function validityProblem(c: Cert, now: Date): ChainResult | undefined {
  const from = new Date(c.x.validFrom);
  const to = new Date(c.x.validTo);
  if (now.getTime() < from.getTime()) return fail('validity', `certificate ${c.name} field notBefore: not valid before ${iso(from)} (now ${iso(now)})`);
  if (now.getTime() > to.getTime()) return fail('validity', `certificate ${c.name} field notAfter: expired ${iso(to)} (now ${iso(now)})`);
  return undefined;
}

/** Checks of one certificate on its own: decoding, critical extensions, validity, algorithms. */
function ownProblem(c: Cert, now: Date, checkSignatureAlgorithm: boolean): ChainResult | undefined {
  if (c.malformed) return fail('malformed', `certificate ${c.name} field ${c.malformed.field}: ${c.malformed.reason}`);
  for (const [oid, ext] of c.f.extensions) {
    if (ext.critical && !UNDERSTOOD_EXTENSIONS.has(oid)) return fail('critical-extension', `certificate ${c.name} has critical extension ${oid}, which tsvpn does not process`);
  }
  const v = validityProblem(c, now);
  if (v) return v;
  const bits = c.key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined && bits < MIN_RSA_BITS) return fail('algorithm', `certificate ${c.name} field subjectPublicKeyInfo: RSA key of ${bits} bits (at least ${MIN_RSA_BITS} required)`);
  if (checkSignatureAlgorithm) {
    try {
      const s = parseAlgorithmIdentifier(c.f.signatureAlgorithm);
      if (s.kind !== 'ed25519' && s.kind !== 'ed448' && s.hash === 'sha1') {
        return fail('algorithm', `certificate ${c.name} field signatureAlgorithm: ${schemeName(s)} (SHA-1 signatures are refused, RFC 8247 §3.2)`);
      }
    } catch (e) {
      if (!(e instanceof SchemeError)) throw e;
      return fail('algorithm', `certificate ${c.name} field signatureAlgorithm: ${e.message}`);
    }
  }
  return undefined;
}

/** RFC 5280 §6.1.4 (k)(l)(m)(n): what a certificate needs to issue the one below it. */
function issuerProblem(c: Cert, below: number): ChainResult | undefined {
  if (!c.bc?.ca) return fail('basic-constraints', `certificate ${c.name} field basicConstraints: issues certificates but is not a CA (cA is not set)`);
  // §4.2.1.9: pathLenConstraint counts the non-self-issued intermediates below it
  if (c.bc.pathLen !== undefined && below > c.bc.pathLen) {
    return fail('basic-constraints', `certificate ${c.name} field basicConstraints: pathLenConstraint ${c.bc.pathLen}, the chain has ${below} intermediate CA(s) below it`);
  }
  if (c.ku && !c.ku.has('keyCertSign')) return fail('key-usage', `certificate ${c.name} field keyUsage: issues certificates without keyCertSign (has ${[...c.ku].join(', ') || 'none'})`);
  return undefined;
}

/** RFC 5280 §4.2.1.3, §4.2.1.12: what the end entity needs to sign IKE AUTH. */
function leafProblem(c: Cert): ChainResult | undefined {
  // RFC 4945 §5.1.3.2: digitalSignature or nonRepudiation; strongSwan and this code want digitalSignature
  if (c.ku && !c.ku.has('digitalSignature')) return fail('key-usage', `certificate ${c.name} field keyUsage: lacks digitalSignature (has ${[...c.ku].join(', ') || 'none'})`);
  if (c.eku && !c.eku.some((p) => IKE_EKUS.has(p))) return fail('eku', `certificate ${c.name} field extendedKeyUsage: ${c.eku.join(', ')}, none of which allows IKE`);
  return undefined;
}

/** RFC 5280 §6.1.3 (b)(c), §6.1.4 (g): each CA's name constraints apply to every certificate below it. */
function nameConstraintProblem(chain: Cert[]): ChainResult | undefined {
  // chain: leaf first, anchor last
  for (let i = chain.length - 1; i >= 1; i--) {
    const nc = chain[i].nc;
    if (!nc) continue;
    for (let j = i - 1; j >= 0; j--) {
      const c = chain[j];
      if (j > 0 && selfIssued(c)) continue; // §6.1.3 (b): self-issued intermediates are exempt
      let problem: string | undefined;
      try {
        problem = nameConstraintViolation(nc, constrainedNames(c.f.subject, c.alts));
      } catch (e) {
        return fail('malformed', `certificate ${c.name} field subject or subjectAltName: ${why(e)}`);
      }
      if (problem) return fail('name-constraints', `certificate ${c.name} breaks nameConstraints of ${chain[i].name}: ${problem}`);
    }
  }
  return undefined;
}

/**
 * RFC 5280 §6.3 with complete CRLs: a certificate listed by a CRL that its issuer signed is
 * revoked. A CRL past its nextUpdate still revokes what it lists; for the rest it is treated
 * as unavailable (as strongSwan does), so a stale CRL never refuses an unlisted certificate.
 * A CRL not yet valid or with a critical extension we do not process is not used.
 */
function revocationProblem(chain: Cert[], crls: Crl[], now: Date): ChainResult | undefined {
  for (let i = 0; i + 1 < chain.length; i++) {
    const c = chain[i];
    const issuer = chain[i + 1];
    const serial = serialKey(c.f.serial);
    for (const crl of crls) {
      if (crl.unknownCritical.length > 0 || crl.thisUpdate.getTime() > now.getTime()) continue;
      if (!bytesEqual(crl.issuer, c.f.issuer) && !bytesEqual(crl.issuer, issuer.f.subject)) continue;
      const when = crl.revoked.get(serial);
      if (!when) continue;
      // §6.3.3 (f): the CRL issuer's key signs it, with cRLSign when keyUsage is present
      if (issuer.ku && !issuer.ku.has('cRLSign')) continue;
      if (!crlSignedBy(crl, issuer.key)) continue;
      return fail('revoked', `certificate ${c.name} serial ${serial} was revoked ${iso(when)} (CRL of ${issuer.name})`);
    }
  }
  return undefined;
}

/**
 * RFC 5280 §6.1 path validation for what IKE uses, at the caller's clock `now`: issuer and
 * subject chain with signatures, validity, basicConstraints cA and pathLenConstraint,
 * keyUsage (keyCertSign on CAs, digitalSignature on the end entity when present),
 * extendedKeyUsage on the end entity, name constraints, no unknown critical extension, no
 * SHA-1 signature nor RSA key under 2048 bits, and CRLs when configured. A self-signed leaf
 * is refused unless it is byte for byte one of the trust anchors (pinned; then only its
 * validity is checked).
 */
export function verifyCertificateChain(o: ChainInput): ChainResult {
  const leaf = load(o.leaf, 'peer certificate');
  if (typeof leaf === 'string') return fail('parse', leaf);
  const inter: Cert[] = [];
  for (const [i, d] of o.intermediates.entries()) {
    const c = load(d, `intermediate certificate #${i + 1}`);
    if (typeof c === 'string') return fail('parse', c);
    inter.push(c);
  }
  const anchors: Cert[] = [];
  for (const [i, d] of o.trustAnchors.entries()) {
    const c = load(d, `trust anchor #${i + 1}`);
    if (typeof c === 'string') return fail('parse', c);
    anchors.push(c);
  }
  const built = buildPath(leaf, inter, anchors);
  if ('ok' in built) return built;
  const { path, anchor, pinned } = built;
  if (pinned) {
    const v = validityProblem(anchor, o.now);
    return v ?? { ok: true, leaf: leaf.x, path: [] };
  }
  const chain = [...path, anchor];
  for (const [i, c] of chain.entries()) {
    // the signature on a self-signed trust anchor is not relied on, so its algorithm is not judged
    const p = ownProblem(c, o.now, !(c === anchor && selfIssued(c)));
    if (p) return p;
    if (i === 0) {
      const l = leafProblem(c);
      if (l) return l;
    } else {
      const below = chain.slice(1, i).filter((x) => !selfIssued(x)).length;
      const q = issuerProblem(c, below);
      if (q) return q;
    }
  }
  const nc = nameConstraintProblem(chain);
  if (nc) return nc;
  const rev = o.crls?.length ? revocationProblem(chain, o.crls, o.now) : undefined;
  if (rev) return rev;
  return { ok: true, leaf: leaf.x, path: path.map((c) => c.x) };
}
