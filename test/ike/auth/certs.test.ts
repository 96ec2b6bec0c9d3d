import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdType } from '../../../src/wire/constants.js';
import { certMatchesIdentity } from '../../../src/ike/auth/certs.js';
import { verifyCertificateChain } from '../../../src/ike/auth/path-validation.js';
import { parseIdentity } from '../../../src/ike/auth/identity.js';
import { scratch, type Scratch } from './openssl.js';

// A small PKI made with the openssl CLI at test time:
//   Root CA ─┬─ Intermediate CA ── left (SANs, EKU serverAuth/clientAuth)
//            ├─ NotCA (CA:FALSE)  ── under-notca
//            ├─ Tight CA (pathlen:0) ── Sub CA ── under-tight
//            └─ code (EKU codeSigning only)
//   Other CA ── stranger
let s: Scratch;
const der: Record<string, Uint8Array> = {};
const DAY = 86_400_000;
let now: Date; // set after the certificates exist (their notBefore is when they were made)

const EXT = `
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[tight]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[notca]
basicConstraints = critical,CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = CA:FALSE
subjectAltName = DNS:left.example,email:left@example.com,IP:198.51.100.1,IP:2001:db8::1
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[code]
basicConstraints = CA:FALSE
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

function root(name: string, subj: string) {
  s.openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.pem`, '-days', '3650', '-subj', subj, '-config', 'req.cnf', '-extensions', 'ca');
  der[name] = new Uint8Array(new X509Certificate(s.read(`${name}.pem`)).raw);
}

function issue(name: string, subj: string, ca: string, ext: string, days = 365, keyAlg = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']) {
  s.openssl('req', '-new', ...keyAlg, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj, '-config', 'req.cnf');
  s.openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', String(days), '-extfile', 'ext.cnf', '-extensions', ext, '-out', `${name}.pem`);
  der[name] = new Uint8Array(new X509Certificate(s.read(`${name}.pem`)).raw);
}

beforeAll(() => {
  s = scratch();
  s.write('ext.cnf', EXT);
  s.write('req.cnf', `[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n${EXT}`);
  root('root', '/C=CH/O=strongSwan/CN=Root CA');
  root('other', '/C=CH/O=Elsewhere/CN=Other CA');
  issue('inter', '/C=CH/O=strongSwan/CN=Intermediate CA', 'root', 'ca');
  issue('left', '/C=CH/O=strongSwan/CN=left', 'inter', 'leaf', 30, ['-newkey', 'ed25519']);
  issue('direct', '/C=CH/O=strongSwan/CN=direct', 'root', 'leaf', 30);
  issue('notca', '/C=CH/O=strongSwan/CN=NotCA', 'root', 'notca');
  issue('undernotca', '/C=CH/O=strongSwan/CN=under-notca', 'notca', 'leaf');
  issue('tight', '/C=CH/O=strongSwan/CN=Tight CA', 'root', 'tight');
  issue('sub', '/C=CH/O=strongSwan/CN=Sub CA', 'tight', 'ca');
  issue('undertight', '/C=CH/O=strongSwan/CN=under-tight', 'sub', 'leaf');
  issue('code', '/C=CH/O=strongSwan/CN=code', 'root', 'code');
  issue('stranger', '/C=CH/O=Elsewhere/CN=stranger', 'other', 'leaf');
  now = new Date(Date.now() + 1000);
});
afterAll(() => s.remove());

const chain = (leaf: string, inter: string[], anchors: string[], at = now) =>
  verifyCertificateChain({ leaf: der[leaf], intermediates: inter.map((n) => der[n]), trustAnchors: anchors.map((n) => der[n]), now: at });

describe('verifyCertificateChain', () => {
  it('CA → leaf is accepted and returns the leaf', () => {
    const r = chain('direct', [], ['root']);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.leaf.subject).toContain('CN=direct');
  });

  it('CA → intermediate → leaf is accepted, whatever order and extras the peer sends', () => {
    expect(chain('left', ['inter'], ['root']).ok).toBe(true);
    expect(chain('left', ['direct', 'inter'], ['other', 'root']).ok).toBe(true);
  });

  it('a pinned end-entity certificate is accepted as its own anchor', () => {
    expect(chain('direct', [], ['direct']).ok).toBe(true);
  });

  it('leaf from another CA → ca, naming the leaf and its issuer', () => {
    const r = chain('stranger', [], ['root']);
    expect(r).toMatchObject({ ok: false, check: 'ca' });
    if (!r.ok) expect(r.detail).toMatch(/CN=stranger.*CN=Other CA/);
  });

  it('missing intermediate → ca/chain; a self-signed root we do not trust → ca', () => {
    expect(chain('left', [], ['root'])).toMatchObject({ ok: false, check: 'ca' });
    expect(chain('left', ['direct'], ['root'])).toMatchObject({ ok: false, check: 'chain' });
    const r = chain('left', ['inter', 'root'], ['other']);
    expect(r).toMatchObject({ ok: false, check: 'ca' });
    if (!r.ok) expect(r.detail).toMatch(/CN=Root CA" is self-signed/);
  });

  it('expired leaf → validity, with subject and date; not-yet-valid likewise', () => {
    const later = new Date(now.getTime() + 40 * DAY);
    const r = chain('left', ['inter'], ['root'], later);
    expect(r).toMatchObject({ ok: false, check: 'validity' });
    const notAfter = new Date(new X509Certificate(Buffer.from(der.left)).validTo).toISOString().slice(0, 10);
    if (!r.ok) expect(r.detail).toMatch(new RegExp(`certificate "C=CH, O=strongSwan, CN=left" field notAfter: expired ${notAfter}`));
    const before = chain('left', ['inter'], ['root'], new Date(now.getTime() - 2 * DAY));
    expect(before).toMatchObject({ ok: false, check: 'validity' });
    if (!before.ok) expect(before.detail).toMatch(/not valid before/);
  });

  it('an expired CA fails validity too', () => {
    const r = chain('left', ['inter'], ['root'], new Date(now.getTime() + 3700 * DAY));
    expect(r).toMatchObject({ ok: false, check: 'validity' });
  });

  it('issuer that is not a CA, or a pathlen:0 CA with a CA below → basic-constraints', () => {
    const r = chain('undernotca', ['notca'], ['root']);
    expect(r).toMatchObject({ ok: false, check: 'basic-constraints' });
    if (!r.ok) expect(r.detail).toMatch(/CN=NotCA" field basicConstraints: issues certificates but is not a CA/);
    const t = chain('undertight', ['sub', 'tight'], ['root']);
    expect(t).toMatchObject({ ok: false, check: 'basic-constraints' });
    if (!t.ok) expect(t.detail).toMatch(/Tight CA" field basicConstraints: pathLenConstraint 0, the chain has 1/);
  });

  it('an extendedKeyUsage without any IKE purpose → eku', () => {
    const r = chain('code', [], ['root']);
    expect(r).toMatchObject({ ok: false, check: 'eku' });
    if (!r.ok) expect(r.detail).toMatch(/1\.3\.6\.1\.5\.5\.7\.3\.3/);
  });

  it('a tampered signature → signature', () => {
    const bad = der.direct.slice();
    bad[bad.length - 5] ^= 0x01; // inside the signatureValue at the end of the certificate
    const r = verifyCertificateChain({ leaf: bad, intermediates: [], trustAnchors: [der.root], now });
    expect(r).toMatchObject({ ok: false, check: 'signature' });
  });

  it('garbage → parse, naming which certificate', () => {
    expect(verifyCertificateChain({ leaf: new Uint8Array([0x30, 3, 1, 2, 3]), intermediates: [], trustAnchors: [der.root], now }))
      .toMatchObject({ ok: false, check: 'parse' });
    const r = verifyCertificateChain({ leaf: der.left, intermediates: [new Uint8Array(10)], trustAnchors: [der.root], now });
    expect(r).toMatchObject({ ok: false, check: 'parse' });
    if (!r.ok) expect(r.detail).toMatch(/intermediate certificate #1/);
  });
});

describe('certMatchesIdentity (RFC 4945 §3.1)', () => {
  const leaf = () => new X509Certificate(Buffer.from(der.left));
  it.each([
    ['C=CH, O=strongSwan, CN=left', true],
    ['C=CH, O=strongSwan, CN=right', false],
    ['C=CH, O=strongSwan, CN=*', false], // no wildcards in a received ID
    ['left.example', true],
    ['Left.Example', true],
    ['right.example', false],
    ['left@example.com', true],
    ['198.51.100.1', true],
    ['198.51.100.2', false],
    ['2001:db8::1', true],
    ['@CN=left', false], // FQDN "CN=left" is not the subject DN
  ])('%s → %s', (text, expected) => {
    expect(certMatchesIdentity(leaf(), parseIdentity(text))).toBe(expected);
  });

  it('ID_KEY_ID matches the subjectKeyIdentifier openssl wrote', () => {
    const text = s.openssl('x509', '-in', 'left.pem', '-noout', '-ext', 'subjectKeyIdentifier');
    const ski = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(text)![1].replace(/:/g, '');
    expect(certMatchesIdentity(leaf(), parseIdentity(`keyid:${ski}`))).toBe(true);
    expect(certMatchesIdentity(leaf(), { idType: IdType.ID_KEY_ID, data: new Uint8Array(20) })).toBe(false);
  });

  it('the subject DN matches though openssl encoded it as UTF8String', () => {
    const dump = s.openssl('asn1parse', '-in', 'left.pem');
    expect(dump).toMatch(/UTF8STRING\s+:left/);
    expect(certMatchesIdentity(leaf(), parseIdentity('C=CH, O=strongSwan, CN=left'))).toBe(true);
  });
});
