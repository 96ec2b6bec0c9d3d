// Certificates made with strongSwan's `pki` at test time: what the interop cases rely on
// (key type, chain to the CA, SANs for every identity type, subject DN), checked with
// node:crypto as an independent reader.

import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { createCa, hostIds, issueHost, pkiSupport, type KeyType } from '../../interop/lab/pki.js';

const support = pkiSupport();

describe.skipIf(!support.ok)(`pki-made lab certificates ${support.ok ? '(needs strongswan-pki)' : `(skipped: ${support.why})`}`, () => {
  const expected: Record<KeyType, { type: string; bits?: number; curve?: string }> = {
    rsa: { type: 'rsa', bits: 3072 },
    ecdsa: { type: 'ec', curve: 'prime256v1' },
    ed25519: { type: 'ed25519' },
  };
  for (const keyType of ['rsa', 'ecdsa', 'ed25519'] as const) {
    it(`${keyType}: CA + leaf with FQDN, IPv4 and e-mail SANs and a DN subject`, () => {
      const ca = createCa({ keyType });
      const ids = hostIds('right', '198.51.100.2');
      const leaf = issueHost(ca, ids);
      const caCert = new X509Certificate(ca.certPem);
      const cert = new X509Certificate(leaf.certPem);
      expect(caCert.ca).toBe(true);
      expect(cert.ca).toBe(false);
      expect(cert.checkIssued(caCert)).toBe(true);
      expect(cert.verify(caCert.publicKey)).toBe(true);
      expect(cert.subjectAltName).toContain(`DNS:${ids.fqdn}`);
      expect(cert.subjectAltName).toContain(`IP Address:${ids.ipv4}`);
      expect(cert.subjectAltName).toContain(`email:${ids.email}`);
      expect(cert.subject).toContain('CN=right.example');
      expect(cert.checkHost(ids.fqdn)).toBe(ids.fqdn);
      const key = createPrivateKey(leaf.keyPem);
      const want = expected[keyType];
      expect(key.asymmetricKeyType).toBe(want.type);
      if (want.bits) expect(key.asymmetricKeyDetails?.modulusLength).toBe(want.bits);
      if (want.curve) expect(key.asymmetricKeyDetails?.namedCurve).toBe(want.curve);
      // the key in the file is the certificate's key
      expect(createPublicKey(key).export({ format: 'der', type: 'spki' })).toEqual(cert.publicKey.export({ format: 'der', type: 'spki' }));
    }, 60_000);
  }
});
