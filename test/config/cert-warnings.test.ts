// A local certificate that peers will refuse on its dates alone is said at start (the loader's
// warnings, which the daemon logs at start and at each reload): expired, not yet valid, or
// within CERT_EXPIRY_WARNING_DAYS of its end. The file still loads: the clock may be wrong.
import { chmodSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { certificateWarnings, CERT_EXPIRY_WARNING_DAYS } from '../../src/config/cert-warnings.js';
import { loadConfigFile } from '../../src/config/gateway.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { scratch, type Scratch } from '../ike/auth/openssl.js';
import { example } from './fixtures.js';

const DAY = 86_400_000;
let s: Scratch;

/** A peer.json whose own certificate (P-256, self-signed, left.example) is valid for `days` days from now. */
function peerWithCert(days: number): string {
  s.openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `k${days}.pem`, '-out', `c${days}.pem`, '-days', String(days), '-subj', '/CN=left.example', '-addext', 'subjectAltName=DNS:left.example');
  chmodSync(s.path(`k${days}.pem`), 0o600);
  const j = example();
  delete j.psk;
  Object.assign(j.local, { auth: 'pubkey', cert: `c${days}.pem`, key: `k${days}.pem` });
  Object.assign(j.remote, { auth: 'pubkey', ca: `c${days}.pem` });
  const file = s.write(`peer${days}.json`, JSON.stringify(j));
  chmodSync(file, 0o600);
  return file;
}

beforeAll(() => {
  s = scratch();
});
afterAll(() => s.remove());

describe('warnings about the local certificate\'s dates', () => {
  it(`a certificate that ends within ${CERT_EXPIRY_WARNING_DAYS} days is a warning at /local/cert naming its subject and end; one of a year is not`, () => {
    const soon = loadConfigFile(peerWithCert(9));
    expect(soon.warnings).toEqual([{ path: '/local/cert', expected: expect.stringMatching(/^the certificate CN=left\.example expires in (8|9) days \(20\d\d-.*\): renew it$/) }]);
    expect(loadConfigFile(peerWithCert(365)).warnings ?? []).toEqual([]);
  });

  it('an expired certificate, and one not valid yet, say what peers will do and what to check', () => {
    const gw: GatewayConfig = loadConfigFile(peerWithCert(365));
    const now = Date.now();
    expect(certificateWarnings(gw, false, now + 400 * DAY)).toEqual([{ path: '/local/cert', expected: expect.stringMatching(/^the certificate CN=left\.example expired on 20\d\d-.*: peers will refuse it \(F3\); renew it$/) }]);
    expect(certificateWarnings(gw, false, now - 2 * DAY)).toEqual([{ path: '/local/cert', expected: expect.stringMatching(/is not valid until 20\d\d-.*: peers will refuse it \(F3\); check this host's clock$/) }]);
    // in a gateway file the path names the connection
    expect(certificateWarnings(gw, true, now + 400 * DAY)[0]!.path).toBe('/connections/left/local/cert');
  });
});
