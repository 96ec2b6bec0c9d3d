import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthMethod, HashAlgorithm } from '../../../src/wire/constants.js';
import { children, readOnly } from '../../../src/ike/auth/der.js';
import {
  decodeHashAlgorithms,
  encodeAlgorithmIdentifier,
  encodeHashAlgorithms,
  parseAlgorithmIdentifier,
  type Scheme,
} from '../../../src/ike/auth/sig-algorithms.js';
import { AuthSignError, signAuth, supportedHashes, verifyAuth } from '../../../src/ike/auth/signature.js';
import { scratch, type Scratch } from './openssl.js';

const vectors: { name: string; ref: string; hex: string; scheme: Scheme; parseOnly?: boolean }[] = JSON.parse(
  readFileSync(new URL('./vectors/algorithm-identifiers.json', import.meta.url), 'utf8'),
).vectors;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const octets = new TextEncoder().encode('RealMessage1 | NonceRData | MACedIDForI (stand-in bytes)');

/** Splits method-14 AUTH data into (AlgorithmIdentifier, signature) per RFC 7427 §3. */
function split(data: Uint8Array) {
  return { algId: data.subarray(1, 1 + data[0]), sig: data.subarray(1 + data[0]) };
}

let s: Scratch;
const keys: Record<string, { priv: KeyObject; pub: KeyObject }> = {};

beforeAll(() => {
  s = scratch();
  // keys from the openssl CLI, as an operator would make them
  s.openssl('genpkey', '-algorithm', 'ed25519', '-out', 'ed25519.pem');
  s.openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'p256.pem');
  s.openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:3072', '-out', 'rsa.pem');
  for (const n of ['ed25519', 'p256', 'rsa']) {
    const priv = createPrivateKey(s.read(`${n}.pem`));
    keys[n] = { priv, pub: createPublicKey(priv) };
  }
  // the rest as bare node:crypto keys
  const gen = (name: string, kp: { privateKey: KeyObject; publicKey: KeyObject }) => {
    keys[name] = { priv: kp.privateKey, pub: kp.publicKey };
  };
  gen('p384', generateKeyPairSync('ec', { namedCurve: 'P-384' }));
  gen('p521', generateKeyPairSync('ec', { namedCurve: 'P-521' }));
  gen('ed448', generateKeyPairSync('ed448'));
  gen('rsa2', generateKeyPairSync('rsa', { modulusLength: 2048 }));
  gen('p256b', generateKeyPairSync('ec', { namedCurve: 'P-256' }));
});
afterAll(() => s.remove());

describe('RFC 7427 AlgorithmIdentifiers', () => {
  it.each(vectors.map((v) => [v.name, v] as const))('%s parses to its scheme and encodes back to the same bytes', (_, v) => {
    const bytes = new Uint8Array(Buffer.from(v.hex, 'hex'));
    expect(parseAlgorithmIdentifier(bytes)).toEqual(v.scheme);
    if (!v.parseOnly) expect(hex(encodeAlgorithmIdentifier(v.scheme))).toBe(v.hex);
  });

  it('matches the signatureAlgorithm openssl writes into certificates', () => {
    const cases: [string, string[], Scheme][] = [
      ['rsa.pem', ['-sha256'], { kind: 'rsa-pkcs1', hash: 'sha256' }],
      ['rsa.pem', ['-sha384', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:48'],
        { kind: 'rsa-pss', hash: 'sha384', mgfHash: 'sha384', saltLength: 48 }],
      ['rsa.pem', ['-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'],
        { kind: 'rsa-pss', hash: 'sha256', mgfHash: 'sha256', saltLength: 32 }],
      ['p256.pem', ['-sha384'], { kind: 'ecdsa', hash: 'sha384' }],
      ['ed25519.pem', [], { kind: 'ed25519' }],
    ];
    for (const [key, opts, scheme] of cases) {
      s.openssl('req', '-x509', '-key', key, ...opts, '-subj', '/CN=alg', '-days', '1', '-outform', 'DER', '-out', 'alg.der');
      const cert = readOnly(new Uint8Array(s.read('alg.der')));
      const sigAlg = children(cert.content)[1]; // Certificate ::= SEQUENCE { tbs, signatureAlgorithm, signature }
      expect(hex(sigAlg.raw)).toBe(hex(encodeAlgorithmIdentifier(scheme)));
    }
  });

  it('rejects unknown and malformed identifiers with typed reasons', () => {
    expect(() => parseAlgorithmIdentifier(Buffer.from('300506032b6571ff', 'hex'))).toThrow(/trailing|malformed|DER/);
    expect(() => parseAlgorithmIdentifier(Buffer.from('300a06082a8648ce3d040301', 'hex'))).toThrow(/unsupported|1\.2\.840/);
  });
});

describe('signAuth → verifyAuth, Digital Signature (method 14)', () => {
  const cases: [string, string, object, string][] = [
    ['RSA PSS SHA-256 (default for RSA)', 'rsa', {}, '304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120'],
    ['RSA PKCS#1 v1.5 SHA-256', 'rsa', { rsaPadding: 'pkcs1' }, '300d06092a864886f70d01010b0500'],
    ['RSA PKCS#1 v1.5 SHA-384 (peer lists only SHA-384)', 'rsa2', { rsaPadding: 'pkcs1', peerHashes: [3] }, '300d06092a864886f70d01010c0500'],
    ['RSA PKCS#1 v1.5 SHA-512 (peer lists only SHA-512)', 'rsa2', { rsaPadding: 'pkcs1', peerHashes: [4] }, '300d06092a864886f70d01010d0500'],
    ['ECDSA P-256 SHA-256', 'p256', {}, '300a06082a8648ce3d040302'],
    ['ECDSA P-384 SHA-384', 'p384', {}, '300a06082a8648ce3d040303'],
    ['ECDSA P-521 SHA-512', 'p521', {}, '300a06082a8648ce3d040304'],
    ['Ed25519', 'ed25519', { peerHashes: [2, 5] }, '300506032b6570'],
    ['Ed448', 'ed448', {}, '300506032b6571'],
  ];
  it.each(cases)('%s', (_, k, opts, algIdHex) => {
    const { method, data } = signAuth(keys[k].priv, octets, opts);
    expect(method).toBe(AuthMethod.DIGITAL_SIGNATURE);
    expect(data[0]).toBe(algIdHex.length / 2); // RFC 7427 §3: ASN.1 Length octet
    expect(hex(split(data).algId)).toBe(algIdHex);
    expect(verifyAuth(keys[k].pub, method, data, octets)).toMatchObject({ ok: true });
  });

  it('wrong key → bad-signature; tampered octets → bad-signature; other key type → key-type-mismatch', () => {
    const { method, data } = signAuth(keys.p256.priv, octets);
    expect(verifyAuth(keys.p256b.pub, method, data, octets)).toMatchObject({ ok: false, reason: 'bad-signature' });
    const tampered = octets.slice();
    tampered[0] ^= 0x80;
    expect(verifyAuth(keys.p256.pub, method, data, tampered)).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(verifyAuth(keys.rsa.pub, method, data, octets)).toMatchObject({ ok: false, reason: 'key-type-mismatch' });
    const ed = signAuth(keys.ed25519.priv, octets);
    expect(verifyAuth(keys.ed448.pub, ed.method, ed.data, octets)).toMatchObject({ ok: false, reason: 'key-type-mismatch' });
    const rsa = signAuth(keys.rsa.priv, octets);
    expect(verifyAuth(keys.rsa2.pub, rsa.method, rsa.data, octets)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('a tampered signature or AlgorithmIdentifier fails with a named reason, never a throw', () => {
    const { method, data } = signAuth(keys.rsa.priv, octets, { rsaPadding: 'pkcs1' });
    const badSig = data.slice();
    badSig[badSig.length - 1] ^= 1;
    expect(verifyAuth(keys.rsa.pub, method, badSig, octets)).toMatchObject({ ok: false, reason: 'bad-signature' });
    // switch sha256WithRSAEncryption to sha384WithRSAEncryption: the hash no longer matches
    const otherHash = data.slice();
    otherHash[13] = 0x0c;
    expect(verifyAuth(keys.rsa.pub, method, otherHash, octets)).toMatchObject({ ok: false, reason: 'bad-signature' });
    // sha1WithRSAEncryption is refused (RFC 8247)
    const sha1 = data.slice();
    sha1[13] = 0x05;
    expect(verifyAuth(keys.rsa.pub, method, sha1, octets)).toMatchObject({ ok: false, reason: 'unsupported-algorithm' });
    const unknownOid = data.slice();
    unknownOid[13] = 0x7f;
    expect(verifyAuth(keys.rsa.pub, method, unknownOid, octets)).toMatchObject({ ok: false, reason: 'unsupported-algorithm' });
    expect(verifyAuth(keys.rsa.pub, method, data.subarray(0, 10), octets)).toMatchObject({ ok: false, reason: 'malformed-auth-data' });
    expect(verifyAuth(keys.rsa.pub, method, data.subarray(0, 16), octets)).toMatchObject({ ok: false, reason: 'malformed-auth-data' });
    expect(verifyAuth(keys.rsa.pub, method, new Uint8Array(), octets)).toMatchObject({ ok: false, reason: 'malformed-auth-data' });
    const ec = signAuth(keys.p256.priv, octets);
    const garbage = ec.data.slice();
    garbage.fill(0x30, 1 + ec.data[0]);
    expect(verifyAuth(keys.p256.pub, ec.method, garbage, octets)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('accepts PSS parameters that spell out the DEFAULT trailerField [3] 1 (BER-style, as some peers send)', () => {
    const { method, data } = signAuth(keys.rsa2.priv, octets); // PSS SHA-256, salt 32
    const { algId, sig } = split(data);
    const params = algId.subarray(13); // after 30 41 | OID (11 octets)
    const withTrailer = Buffer.concat([
      Buffer.from('3046', 'hex'), Buffer.from(algId.subarray(2, 13)),
      Buffer.from([0x30, params[1] + 5]), Buffer.from(params.subarray(2)), Buffer.from('a303020101', 'hex'),
    ]);
    expect(parseAlgorithmIdentifier(withTrailer)).toEqual({ kind: 'rsa-pss', hash: 'sha256', mgfHash: 'sha256', saltLength: 32 });
    const data2 = Buffer.concat([Buffer.from([withTrailer.length]), withTrailer, Buffer.from(sig)]);
    expect(verifyAuth(keys.rsa2.pub, method, data2, octets)).toMatchObject({ ok: true });
    // RFC 7427 A.4.1 (empty parameters) means SHA-1, which we refuse
    const empty = Buffer.from('300d06092a864886f70d01010a3000', 'hex');
    const data3 = Buffer.concat([Buffer.from([empty.length]), empty, Buffer.from(sig)]);
    expect(verifyAuth(keys.rsa2.pub, method, data3, octets)).toMatchObject({ ok: false, reason: 'unsupported-algorithm' });
  });

  it('signatures verify with the openssl CLI (independent check of the encodings)', () => {
    s.write('octets.bin', octets);
    s.openssl('pkey', '-in', 'rsa.pem', '-pubout', '-out', 'rsa.pub');
    s.openssl('pkey', '-in', 'p256.pem', '-pubout', '-out', 'p256.pub');
    s.openssl('pkey', '-in', 'ed25519.pem', '-pubout', '-out', 'ed25519.pub');
    const pss = split(signAuth(keys.rsa.priv, octets).data);
    s.write('pss.sig', pss.sig);
    expect(s.openssl('dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32',
      '-verify', 'rsa.pub', '-signature', 'pss.sig', 'octets.bin')).toMatch(/Verified OK/);
    const ec = split(signAuth(keys.p256.priv, octets).data);
    s.write('ec.sig', ec.sig); // DER Ecdsa-Sig-Value, as openssl dgst expects
    expect(s.openssl('dgst', '-sha256', '-verify', 'p256.pub', '-signature', 'ec.sig', 'octets.bin')).toMatch(/Verified OK/);
    const ed = split(signAuth(keys.ed25519.priv, octets).data);
    s.write('ed.sig', ed.sig);
    expect(s.openssl('pkeyutl', '-verify', '-pubin', '-inkey', 'ed25519.pub', '-rawin', '-in', 'octets.bin',
      '-sigfile', 'ed.sig')).toMatch(/Verified Successfully/);
  });
});

describe('classic methods (RFC 7296 §3.8 RSA_SIG, RFC 4754 ECDSA)', () => {
  it.each([
    ['rsa', AuthMethod.RSA_SIG, 384],
    ['p256', AuthMethod.ECDSA_SHA256_P256, 64],
    ['p384', AuthMethod.ECDSA_SHA384_P384, 96],
    ['p521', AuthMethod.ECDSA_SHA512_P521, 132],
  ])('%s → method %i, fixed-size signature', (k, method, len) => {
    const out = signAuth(keys[k].priv, octets, { method: 'classic' });
    expect(out.method).toBe(method);
    expect(out.data.length).toBe(len); // RSA: modulus size; ECDSA: r | s, each the field width
    expect(verifyAuth(keys[k].pub, out.method, out.data, octets)).toMatchObject({ ok: true });
    const t = octets.slice();
    t[3] ^= 1;
    expect(verifyAuth(keys[k].pub, out.method, out.data, t)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('RSA_SIG is PKCS#1 v1.5 with SHA-1, as openssl computes it', () => {
    const out = signAuth(keys.rsa.priv, octets, { method: 'classic' });
    s.write('octets.bin', octets);
    s.write('rsa1.sig', out.data);
    s.openssl('pkey', '-in', 'rsa.pem', '-pubout', '-out', 'rsa.pub');
    expect(s.openssl('dgst', '-sha1', '-verify', 'rsa.pub', '-signature', 'rsa1.sig', 'octets.bin')).toMatch(/Verified OK/);
  });

  it('the curve must match the method, and r|s must be full width', () => {
    const out = signAuth(keys.p384.priv, octets, { method: 'classic' });
    expect(verifyAuth(keys.p256.pub, AuthMethod.ECDSA_SHA384_P384, out.data, octets)).toMatchObject({ ok: false, reason: 'key-type-mismatch' });
    expect(verifyAuth(keys.p384.pub, AuthMethod.ECDSA_SHA384_P384, out.data.subarray(1), octets)).toMatchObject({ ok: false, reason: 'malformed-auth-data' });
    expect(verifyAuth(keys.p256.pub, AuthMethod.RSA_SIG, out.data, octets)).toMatchObject({ ok: false, reason: 'key-type-mismatch' });
    expect(verifyAuth(keys.p256.pub, AuthMethod.SHARED_KEY_MIC, out.data, octets)).toMatchObject({ ok: false, reason: 'not-a-signature-method' });
    expect(verifyAuth(keys.p256.pub, AuthMethod.DSS_SIG, out.data, octets)).toMatchObject({ ok: false, reason: 'unsupported-algorithm' });
  });

  it('Ed25519 has no classic method; a public key cannot sign', () => {
    expect(() => signAuth(keys.ed25519.priv, octets, { method: 'classic' })).toThrow(AuthSignError);
    expect(() => signAuth(keys.p256.pub, octets)).toThrow(AuthSignError);
  });
});

describe('hash negotiation (RFC 7427 §4)', () => {
  it('supportedHashes offers SHA-2 and Identity, not SHA-1, and round-trips through the notify encoding', () => {
    expect(supportedHashes()).toEqual([HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512, HashAlgorithm.IDENTITY]);
    expect(hex(encodeHashAlgorithms(supportedHashes()))).toBe('0002000300040005');
    expect(decodeHashAlgorithms(encodeHashAlgorithms([2, 5]))).toEqual([2, 5]);
  });

  it('no common hash: falls back to the classic method unless method 14 was demanded', () => {
    expect(signAuth(keys.p256.priv, octets, { peerHashes: [] }).method).toBe(AuthMethod.ECDSA_SHA256_P256);
    expect(signAuth(keys.rsa.priv, octets, { peerHashes: [HashAlgorithm.SHA1] }).method).toBe(AuthMethod.RSA_SIG);
    expect(() => signAuth(keys.p256.priv, octets, { method: 'digital-signature', peerHashes: [HashAlgorithm.SHA1] })).toThrow(/no-common-hash|SIGNATURE_HASH_ALGORITHMS/);
    expect(() => signAuth(keys.ed25519.priv, octets, { peerHashes: [2, 3, 4] })).toThrow(AuthSignError);
  });
});
