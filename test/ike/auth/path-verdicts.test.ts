// Path validation verdicts as IKE_AUTH sees them (issue 13 hole 3): a peer whose chain fails a
// check gets AUTHENTICATION_FAILED, and our side records failure F3 whose evidence names the
// check, the certificate and the field; a malformed intermediate never escapes as an exception.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCrl } from '../../../src/ike/auth/crl.js';
import { Pair, failures } from '../helpers/pair.js';
import { AT, Pki, caExt, leafExt } from './chains.js';

const O = '/C=CH/O=tsvpn test';
let pki: Pki;

beforeAll(() => {
  pki = new Pki();
  pki.make('root', { subject: `${O}/CN=Root CA`, ext: caExt() });
  pki.make('inter', { subject: `${O}/CN=Intermediate CA`, issuer: 'root', ext: caExt() });
  // basicConstraints critical CA:TRUE (30 03 01 01 ff) with a SEQUENCE length that runs past the extension
  pki.make('badBc', {
    subject: `${O}/CN=Bad BC CA`, issuer: 'root', ext: caExt(),
    patch: (tbs) => {
      const at = tbs.indexOf(Buffer.from('0603551d130101ff040530030101ff', 'hex'));
      const out = Buffer.from(tbs);
      out[at + 11] = 0x04;
      return out;
    },
  });
  const moon = (id: string, issuer: string, more: object = {}) => pki.make(id, { subject: `${O}/CN=${id}`, issuer, ext: leafExt({ san: 'DNS:moon.example' }), ...more });
  // a 5-octet pathLenConstraint: valid DER that used to throw out of path validation (hole 3)
  pki.make('bigPathLen', { subject: `${O}/CN=Big PathLen CA`, issuer: 'root', ext: caExt([], 'critical,CA:TRUE,pathlen:4294967296') });
  moon('moonGood', 'inter');
  moon('moonUnderBigPathLen', 'bigPathLen');
  moon('moonUnderBadBc', 'badBc');
  moon('moonSha1', 'inter', { md: 'sha1' });
  moon('moonRevoked', 'inter');
  pki.make('sun', { subject: `${O}/CN=sun`, issuer: 'inter', ext: leafExt({ san: 'DNS:sun.example' }) });
  pki.makeCrl('interCrl', 'inter', ['moonRevoked']);
}, 60_000);
afterAll(() => pki?.remove());

/** moon (initiator) sends `chain` (leaf first); sun (responder) validates it at AT. */
function run(chain: string[], crls: string[] = []) {
  const p = new Pair(
    { id: 'moon.example', remoteId: 'sun.example', seed: 7, localAuth: { method: 'pubkey', key: pki.key(chain[0]), certChain: chain.map((c) => pki.der[c]) }, remoteAuth: { method: 'pubkey', trustAnchors: [pki.der.root] } },
    { id: 'sun.example', remoteId: 'moon.example', seed: 8, localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], localAuth: { method: 'pubkey', key: pki.key('sun'), certChain: [pki.der.sun, pki.der.inter] }, remoteAuth: { method: 'pubkey', trustAnchors: [pki.der.root], crls: crls.map((c) => parseCrl(pki.crl[c])) } },
  );
  p.iCfg.wallClock = () => AT.getTime();
  p.rCfg.wallClock = () => AT.getTime();
  p.establish();
  return p;
}

describe('path validation verdicts in IKE_AUTH', () => {
  it('a good chain (leaf + intermediate) establishes', () => {
    const p = run(['moonGood', 'inter'], ['interCrl']);
    expect(failures([...p.iEffects, ...p.rEffects])).toEqual([]);
    expect(p.responder?.state).toBe('ESTABLISHED');
  });

  it('an intermediate with a 5-octet pathLenConstraint establishes (it used to throw a DerError)', () => {
    const p = run(['moonUnderBigPathLen', 'bigPathLen']);
    expect(failures([...p.iEffects, ...p.rEffects])).toEqual([]);
    expect(p.responder?.state).toBe('ESTABLISHED');
  });

  it.each([
    ['malformed basicConstraints in a peer-sent intermediate', ['moonUnderBadBc', 'badBc'], [], /^malformed: certificate "C=CH, O=tsvpn test, CN=Bad BC CA" field basicConstraints: DER: /],
    ['SHA-1 signed leaf', ['moonSha1', 'inter'], [], /^algorithm: certificate "C=CH, O=tsvpn test, CN=moonSha1" field signatureAlgorithm: ECDSA SHA-1/],
    ['revoked leaf', ['moonRevoked', 'inter'], ['interCrl'], /^revoked: certificate "C=CH, O=tsvpn test, CN=moonRevoked" serial [0-9A-F]+ was revoked/],
  ])('%s: responder F3 naming the check, certificate and field; initiator told AUTHENTICATION_FAILED', (_n, chain, crls, detail) => {
    const p = run(chain, crls);
    const [f] = failures(p.rEffects);
    expect(f).toMatchObject({ row: 'F3', evidence: { check: 'certificate-chain', receivedId: 'moon.example' } });
    expect((f.evidence as { detail: string }).detail).toMatch(detail);
    expect(p.responder?.state).not.toBe('ESTABLISHED');
    expect(failures(p.iEffects)[0]).toMatchObject({ row: 'F3', evidence: { check: 'peer-rejected', notify: 'AUTHENTICATION_FAILED' } });
  });
});
