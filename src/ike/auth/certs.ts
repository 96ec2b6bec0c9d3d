// Whether an X.509 certificate carries the identity an IKE peer claims (RFC 4945 §3.1).
// The path validation that comes first is in path-validation.ts.
import { X509Certificate } from 'node:crypto';
import { IdType } from '../../wire/constants.js';
import { bytesEqual } from './der.js';
import { decodeDn, dnMatches } from './dn.js';
import type { Identity } from './identity.js';
import { altNames, certFields, keyIdentifiers, type AltName, type CertFields } from './x509-fields.js';

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
