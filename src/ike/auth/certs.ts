// X.509 certificate checks for IKE_AUTH (RFC 7296 §3.6, RFC 4945 §5, RFC 5280 §6): build a
// path from the peer's end-entity certificate through the intermediates it sent to one of
// our trust anchors, and check that the certificate carries the identity the peer claims.
// Every failure names the certificate (by subject) and the check, for failure map row F3.
import { X509Certificate } from 'node:crypto';
import { IdType } from '../../wire/constants.js';
import { bytesEqual } from './der.js';
import { decodeDn, dnMatches, formatDn } from './dn.js';
import type { Identity } from './identity.js';
import { altNames, basicConstraints, certFields, extendedKeyUsage, keyIdentifiers, type AltName, type CertFields } from './x509-fields.js';

export type ChainCheck = 'parse' | 'chain' | 'ca' | 'validity' | 'signature' | 'eku' | 'basic-constraints';
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
  now: Date;
}

/** A limit on path length so a malicious bundle cannot make us loop (RFC 5280 §6.1 has none). */
export const MAX_CHAIN_DEPTH = 8;

// RFC 4945 §5.1.3.12 and RFC 5280 §4.2.1.12: key purposes that allow IKE use
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

interface Cert { x: X509Certificate; f: CertFields; der: Uint8Array; name: string }

function load(der: Uint8Array, role: string): Cert | string {
  try {
    const x = new X509Certificate(der);
    const f = certFields(der);
    return { x, f, der, name: subjectText(f) };
  } catch (e) {
    return `${role} is not a DER X.509 certificate (${e instanceof Error ? e.message : String(e)})`;
  }
}

function subjectText(f: CertFields): string {
  try {
    return formatDn(f.subject) || '(empty subject)';
  } catch {
    return '(unreadable subject)';
  }
}

function issuerText(f: CertFields): string {
  try {
    return formatDn(f.issuer);
  } catch {
    return '(unreadable issuer)';
  }
}

const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');
const fail = (check: ChainCheck, detail: string): ChainResult => ({ ok: false, check, detail });

function isSelfIssued(c: Cert): boolean {
  return bytesEqual(c.f.subject, c.f.issuer) && c.x.checkIssued(c.x);
}

/** The CA-ness a certificate must have to issue others (RFC 5280 §4.2.1.9, §6.1.4 (k)). */
function caProblem(issuer: Cert, below: number, role: string): string | undefined {
  const bc = basicConstraints(issuer.f);
  if (!bc?.ca) return `${role} ${issuer.name} is not a CA (basicConstraints cA is not set)`;
  // RFC 5280 §4.2.1.9: pathLenConstraint counts the non-self-issued intermediates below it
  if (bc.pathLen !== undefined && below > bc.pathLen) {
    return `${role} ${issuer.name} allows ${bc.pathLen} intermediate CA(s) below it, the chain has ${below}`;
  }
  return undefined;
}

/**
 * RFC 5280 §6.1 path validation, simplified to what IKE peers send: names and key
 * identifiers must link (X509Certificate.checkIssued), each signature must verify with
 * the issuer's key, every issuer must be a CA, every certificate in the path (anchor
 * included) must be valid at `now`, and the end-entity's extendedKeyUsage, if present,
 * must allow IKE. Revocation is not checked.
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

  const path: Cert[] = [leaf];
  let cur = leaf;
  let anchor: Cert | undefined;
  for (;;) {
    // a certificate that is itself a trust anchor ends the path (a pinned end-entity or CA)
    const pinned = anchors.find((a) => bytesEqual(a.der, cur.der));
    if (pinned) {
      anchor = pinned;
      path.pop();
      break;
    }
    const byName = (c: Cert) => c !== cur && cur.x.checkIssued(c.x);
    const issuers = [...anchors.filter(byName).map((c) => ({ c, trusted: true })), ...inter.filter((c) => !path.includes(c) && byName(c)).map((c) => ({ c, trusted: false }))];
    if (issuers.length === 0) {
      if (isSelfIssued(cur)) return fail('ca', `${cur.name} is self-signed and not one of our ${anchors.length} trust anchor(s)`);
      const where = cur === leaf && inter.length === 0 ? 'ca' : 'chain';
      return fail(where, `no trust anchor${inter.length ? ' or intermediate' : ''} issued ${cur.name} (its issuer is ${issuerText(cur.f)})`);
    }
    const good = issuers.find((i) => cur.x.verify(i.c.x.publicKey));
    if (!good) return fail('signature', `signature on ${cur.name} does not verify with the key of ${issuers[0].c.name}`);
    const below = path.length - 1; // intermediates under this issuer (the leaf does not count)
    const problem = caProblem(good.c, below, good.trusted ? 'trust anchor' : 'intermediate');
    if (problem) return fail('basic-constraints', problem);
    if (good.trusted) {
      anchor = good.c;
      break;
    }
    path.push(good.c);
    cur = good.c;
    if (path.length > MAX_CHAIN_DEPTH) return fail('chain', `chain from ${leaf.name} is longer than ${MAX_CHAIN_DEPTH} certificates`);
  }

  const now = o.now.getTime();
  for (const c of [...path, anchor!]) {
    const from = new Date(c.x.validFrom);
    const to = new Date(c.x.validTo);
    // RFC 5280 §4.1.2.5: valid from notBefore through notAfter, inclusive
    if (now < from.getTime()) return fail('validity', `certificate ${c.name} is not valid before ${iso(from)} (now ${iso(o.now)})`);
    if (now > to.getTime()) return fail('validity', `certificate ${c.name} expired ${iso(to)} (now ${iso(o.now)})`);
  }
  // a pinned end-entity (the leaf is itself a trust anchor) is trusted as configured
  const eku = path.length > 0 ? extendedKeyUsage(leaf.f) : undefined;
  if (eku && !eku.some((p) => IKE_EKUS.has(p))) {
    return fail('eku', `certificate ${leaf.name} has extendedKeyUsage ${eku.join(', ')}, none of which allows IKE`);
  }
  return { ok: true, leaf: leaf.x, path: path.map((c) => c.x) };
}

function fieldsOf(cert: X509Certificate): CertFields | undefined {
  try {
    return certFields(new Uint8Array(cert.raw));
  } catch {
    return undefined;
  }
}

/**
 * Whether the certificate vouches for the peer's ID payload (RFC 4945 §3.1, as strongSwan
 * does): an ID_DER_ASN1_DN equals the subject (or a directoryName alt name); FQDN, RFC822
 * and IP IDs equal a subjectAltName dNSName, rfc822Name or iPAddress; an ID_KEY_ID equals
 * the subjectKeyIdentifier or the SHA-1 of the public key.
 */
export function certMatchesIdentity(cert: X509Certificate, id: Identity): boolean {
  const f = fieldsOf(cert);
  if (!f) return false;
  let alts: AltName[];
  try {
    alts = altNames(f);
  } catch {
    alts = [];
  }
  const dec = new TextDecoder();
  switch (id.idType) {
    case IdType.ID_DER_ASN1_DN: {
      let want;
      try {
        want = decodeDn(id.data);
      } catch {
        return false;
      }
      const same = (dn: Uint8Array) => {
        try {
          return dnMatches(want, decodeDn(dn), false);
        } catch {
          return false;
        }
      };
      return same(f.subject) || alts.some((a) => a.type === 'dn' && same(a.value));
    }
    case IdType.ID_FQDN: {
      const name = dec.decode(id.data).toLowerCase();
      return alts.some((a) => a.type === 'dns' && a.value.toLowerCase() === name);
    }
    case IdType.ID_RFC822_ADDR: {
      const name = dec.decode(id.data).toLowerCase();
      return alts.some((a) => a.type === 'email' && a.value.toLowerCase() === name);
    }
    case IdType.ID_IPV4_ADDR:
    case IdType.ID_IPV6_ADDR:
      return alts.some((a) => a.type === 'ip' && bytesEqual(a.value, id.data));
    case IdType.ID_KEY_ID:
      try {
        return keyIdentifiers(f).some((k) => bytesEqual(k, id.data));
      } catch {
        return false;
      }
    default:
      return false;
  }
}
