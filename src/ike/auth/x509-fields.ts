// The X.509 fields IKE authentication needs that node:crypto's X509Certificate does not
// expose as bytes: serial number, signature algorithm, subject and issuer Name DER, and the
// extensions path validation reads: subjectAltName, basicConstraints, keyUsage,
// extendedKeyUsage and the key identifier (RFC 5280 §4.1, §4.2.1).
import { createHash } from 'node:crypto';
import { DerError, Tag, children, oidText, readOnly, smallUint, type Tlv } from './der.js';

export interface Extension { critical: boolean; value: Uint8Array }

export interface CertFields {
  /** serialNumber INTEGER content octets (RFC 5280 §4.1.2.2) */
  serial: Uint8Array;
  /** the outer signatureAlgorithm DER (RFC 5280 §4.1.1.2) */
  signatureAlgorithm: Uint8Array;
  subject: Uint8Array; // DER Name
  issuer: Uint8Array; // DER Name
  /** the subjectPublicKey BIT STRING contents without the unused-bits octet */
  publicKeyBits: Uint8Array;
  extensions: Map<string, Extension>;
}

export type AltName =
  | { type: 'dns'; value: string }
  | { type: 'email'; value: string }
  | { type: 'ip'; value: Uint8Array }
  | { type: 'dn'; value: Uint8Array }
  | { type: 'other'; tag: number };

export const OID_SAN = '2.5.29.17';
export const OID_BASIC_CONSTRAINTS = '2.5.29.19';
export const OID_EKU = '2.5.29.37';
export const OID_SKI = '2.5.29.14';
export const OID_KEY_USAGE = '2.5.29.15';
export const OID_NAME_CONSTRAINTS = '2.5.29.30';

/** RFC 5280 §4.1: pulls the fields above out of a DER certificate; throws DerError. */
export function certFields(der: Uint8Array): CertFields {
  const cert = readOnly(der, Tag.SEQUENCE);
  const [tbs, sigAlg] = children(cert.content);
  if (!tbs || tbs.tag !== Tag.SEQUENCE) throw new DerError('no tbsCertificate', 0);
  if (!sigAlg || sigAlg.tag !== Tag.SEQUENCE) throw new DerError('no signatureAlgorithm', tbs.next);
  const f = children(tbs.content);
  let i = 0;
  if (f[i]?.tag === 0xa0) i++; // [0] EXPLICIT version, absent for v1
  const serial = f[i];
  if (serial?.tag !== Tag.INTEGER) throw new DerError('no serialNumber', tbs.start);
  i += 2; // serialNumber, signature
  const issuer = f[i++];
  i++; // validity
  const subject = f[i++];
  const spki = f[i++];
  if (!issuer || !subject || !spki || subject.tag !== Tag.SEQUENCE || spki.tag !== Tag.SEQUENCE) {
    throw new DerError('tbsCertificate is missing fields', tbs.start);
  }
  const bits = children(spki.content)[1];
  if (!bits || bits.tag !== Tag.BIT_STRING || bits.content.length < 1) throw new DerError('bad subjectPublicKey', spki.start);
  const extField = f.slice(i).find((t) => t.tag === 0xa3); // [3] EXPLICIT Extensions
  const extensions = extField ? parseExtensions(extField.content) : new Map<string, Extension>();
  return { serial: serial.content, signatureAlgorithm: sigAlg.raw, subject: subject.raw, issuer: issuer.raw, publicKeyBits: bits.content.subarray(1), extensions };
}

/** RFC 5280 §4.1 Extensions (SEQUENCE OF Extension, DER) by OID; also a CRL's (§5.1). Throws DerError. */
export function parseExtensions(der: Uint8Array): Map<string, Extension> {
  const extensions = new Map<string, Extension>();
  for (const ext of children(readOnly(der, Tag.SEQUENCE).content)) {
    const parts = children(ext.content);
    const critical = parts.length === 3 && parts[1].tag === Tag.BOOLEAN && parts[1].content[0] !== 0;
    const value = parts[parts.length - 1];
    if (parts[0]?.tag !== Tag.OID || value?.tag !== Tag.OCTET_STRING) throw new DerError('bad Extension', ext.start);
    const id = oidText(parts[0].content);
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension
    if (extensions.has(id)) throw new DerError(`extension ${id} appears twice`, ext.start);
    extensions.set(id, { critical, value: value.content });
  }
  return extensions;
}

/** RFC 5280 §4.2.1.6: GeneralNames from the subjectAltName extension. */
export function altNames(f: CertFields): AltName[] {
  const ext = f.extensions.get(OID_SAN);
  if (!ext) return [];
  return children(readOnly(ext.value, Tag.SEQUENCE).content).map((g) => generalName(g));
}

/** RFC 5280 §4.2.1.6: one GeneralName; `ipLengths` are the iPAddress lengths allowed (§4.2.1.10: 8 and 32 in name constraints). */
export function generalName(g: Tlv, ipLengths: readonly number[] = [4, 16]): AltName {
  const dec = new TextDecoder();
  switch (g.tag) {
    case 0x81: // [1] rfc822Name IA5String
      return { type: 'email', value: dec.decode(g.content) };
    case 0x82: // [2] dNSName IA5String
      return { type: 'dns', value: dec.decode(g.content) };
    case 0x87: // [7] iPAddress OCTET STRING
      if (!ipLengths.includes(g.content.length)) throw new DerError(`iPAddress of ${g.content.length} octets`, g.start);
      return { type: 'ip', value: g.content };
    case 0xa4: // [4] EXPLICIT directoryName Name
      return { type: 'dn', value: readOnly(g.content, Tag.SEQUENCE).raw };
    default:
      return { type: 'other', tag: g.tag };
  }
}

/** RFC 5280 §4.2.1.9: { cA, pathLenConstraint } or undefined when the extension is absent. */
export function basicConstraints(f: CertFields): { ca: boolean; pathLen?: number } | undefined {
  const ext = f.extensions.get(OID_BASIC_CONSTRAINTS);
  if (!ext) return undefined;
  let ca = false;
  let pathLen: number | undefined;
  for (const t of children(readOnly(ext.value, Tag.SEQUENCE).content)) {
    if (t.tag === Tag.BOOLEAN && t.content.length === 1) ca = t.content[0] !== 0;
    // pathLenConstraint INTEGER (0..MAX): a value past 32 bits limits nothing a path here can reach
    else if (t.tag === Tag.INTEGER) pathLen = t.content.length > 4 && !(t.content[0] & 0x80) ? Number.MAX_SAFE_INTEGER : smallUint(t.content);
    else throw new DerError(`unexpected tag 0x${t.tag.toString(16)} in basicConstraints`, t.start);
  }
  return { ca, pathLen };
}

/** RFC 5280 §4.2.1.3: the KeyUsage bit names asserted, or undefined when the extension is absent. */
export const KEY_USAGE_BITS = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'] as const;
export type KeyUsageBit = (typeof KEY_USAGE_BITS)[number];
export function keyUsage(f: CertFields): Set<KeyUsageBit> | undefined {
  const ext = f.extensions.get(OID_KEY_USAGE);
  if (!ext) return undefined;
  const bits = readOnly(ext.value, Tag.BIT_STRING).content;
  // X.690 §8.6.2: the first octet counts the unused bits of the last octet
  if (bits.length < 1 || bits[0] > 7 || (bits.length === 1 && bits[0] !== 0)) throw new DerError('bad keyUsage BIT STRING', 0);
  const out = new Set<KeyUsageBit>();
  KEY_USAGE_BITS.forEach((name, n) => {
    const byte = bits[1 + (n >> 3)];
    if (byte !== undefined && byte & (0x80 >> (n & 7))) out.add(name);
  });
  return out;
}

/** RFC 5280 §4.2.1.12: the KeyPurposeId OIDs, or undefined when the extension is absent. */
export function extendedKeyUsage(f: CertFields): string[] | undefined {
  const ext = f.extensions.get(OID_EKU);
  if (!ext) return undefined;
  return children(readOnly(ext.value, Tag.SEQUENCE).content).map((t) => {
    if (t.tag !== Tag.OID) throw new DerError('KeyPurposeId is not an OID', t.start);
    return oidText(t.content);
  });
}

/**
 * Key identifiers a certificate answers to for ID_KEY_ID: its subjectKeyIdentifier and the
 * SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1, what strongSwan uses).
 */
export function keyIdentifiers(f: CertFields): Uint8Array[] {
  const out: Uint8Array[] = [new Uint8Array(createHash('sha1').update(f.publicKeyBits).digest())];
  const ski = f.extensions.get(OID_SKI);
  if (ski) out.push(readOnly(ski.value, Tag.OCTET_STRING).content);
  return out;
}
