// Certificate revocation lists (RFC 5280 §5) from files the configuration names: parsed once
// at load, then consulted for each certificate of a peer's path (RFC 5280 §6.3, simplified to
// complete CRLs issued by the certificate's own issuer, no delta CRLs or distribution points).
import type { KeyObject } from 'node:crypto';
import { DerError, Tag, children, derTime, readOnly, type Tlv } from './der.js';
import { parseExtensions } from './x509-fields.js';
import { verifyX509Signature } from './signature.js';

export interface Crl {
  /** issuer Name DER */
  issuer: Uint8Array;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** revoked serial numbers (hex of the INTEGER content, leading zero octets dropped) → revocationDate */
  revoked: Map<string, Date>;
  tbs: Uint8Array;
  algorithm: Uint8Array;
  signature: Uint8Array;
  /** OIDs of critical CRL extensions this code does not process (RFC 5280 §5.2: then the CRL must not be used) */
  unknownCritical: string[];
}

// RFC 5280 §5.2: CRL extensions understood here (their content is not needed to use the CRL)
const KNOWN_CRL_EXTENSIONS = new Set([
  '2.5.29.35', // authorityKeyIdentifier §5.2.1
  '2.5.29.18', // issuerAltName §5.2.2
  '2.5.29.20', // cRLNumber §5.2.3
]);

/** A serial number as the map key: hex of the INTEGER content without leading zero octets. */
export function serialKey(content: Uint8Array): string {
  let i = 0;
  while (i < content.length - 1 && content[i] === 0) i++;
  return Buffer.from(content.subarray(i)).toString('hex').toUpperCase();
}

/** RFC 5280 §5.1: CertificateList DER → Crl; throws DerError. */
export function parseCrl(der: Uint8Array): Crl {
  const [tbs, alg, sig, extra] = children(readOnly(der, Tag.SEQUENCE).content);
  if (!tbs || tbs.tag !== Tag.SEQUENCE || alg?.tag !== Tag.SEQUENCE || sig?.tag !== Tag.BIT_STRING || extra) throw new DerError('not a CertificateList', 0);
  if (sig.content.length < 1 || sig.content[0] !== 0) throw new DerError('bad signatureValue', sig.start);
  const f = children(tbs.content);
  let i = 0;
  if (f[i]?.tag === Tag.INTEGER) i++; // version v2
  i++; // signature
  const issuer = f[i++];
  const thisUpdate = f[i++];
  if (issuer?.tag !== Tag.SEQUENCE || !thisUpdate) throw new DerError('tbsCertList is missing fields', tbs.start);
  let nextUpdate: Tlv | undefined;
  if (f[i]?.tag === Tag.UTC_TIME || f[i]?.tag === Tag.GENERALIZED_TIME) nextUpdate = f[i++];
  const revoked = new Map<string, Date>();
  if (f[i]?.tag === Tag.SEQUENCE) {
    for (const entry of children(f[i++].content)) {
      const [serial, date] = children(entry.content);
      if (entry.tag !== Tag.SEQUENCE || serial?.tag !== Tag.INTEGER || !date) throw new DerError('bad revokedCertificates entry', entry.start);
      revoked.set(serialKey(serial.content), derTime(date));
    }
  }
  const unknownCritical: string[] = [];
  if (f[i]?.tag === 0xa0) {
    for (const [id, ext] of parseExtensions(f[i++].content)) if (ext.critical && !KNOWN_CRL_EXTENSIONS.has(id)) unknownCritical.push(id);
  }
  if (i !== f.length) throw new DerError('unexpected field in tbsCertList', tbs.start);
  return {
    issuer: issuer.raw,
    thisUpdate: derTime(thisUpdate),
    nextUpdate: nextUpdate && derTime(nextUpdate),
    revoked,
    tbs: tbs.raw,
    algorithm: alg.raw,
    signature: sig.content.subarray(1),
    unknownCritical,
  };
}

/** Whether the CRL is signed by `issuerKey` (RFC 5280 §6.3.3 (f)); SHA-1 signatures do not count. */
export function crlSignedBy(crl: Crl, issuerKey: KeyObject): boolean {
  return verifyX509Signature(issuerKey, crl.algorithm, crl.tbs, crl.signature).ok;
}
