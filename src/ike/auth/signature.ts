// Signing and verifying IKE_AUTH data with public keys (RFC 7296 §2.15, §3.8), using
// node:crypto. Two families:
//  - Digital Signature, Auth Method 14 (RFC 7427 §3): AUTH data = ASN.1 Length (1 octet) |
//    AlgorithmIdentifier | signature; RSA PKCS#1 v1.5, RSASSA-PSS, ECDSA (DER), Ed25519/Ed448.
//  - the classic methods for older peers: RSA_SIG (1, PKCS#1 v1.5 SHA-1, RFC 7296 §3.8) and
//    ECDSA_SHA256_P256/SHA384_P384/SHA512_P521 (9/10/11, RFC 4754 §7: r | s, fixed width).
// KeyObjects live in OpenSSL memory and cannot be zeroed from here; callers drop references.
import { constants, sign, verify, type KeyObject } from 'node:crypto';
import { AuthMethod, HashAlgorithm, nameOf } from '../../wire/constants.js';
import { concat } from './der.js';
import {
  HASH_LENGTH,
  ID_OF_HASH,
  SchemeError,
  encodeAlgorithmIdentifier,
  parseAlgorithmIdentifier,
  schemeName,
  type Hash,
  type Scheme,
} from './sig-algorithms.js';

/** Why we could not produce AUTH data with this key for this peer. */
export class AuthSignError extends Error {
  constructor(
    readonly reason: 'unsupported-key' | 'no-common-hash' | 'method-not-possible',
    detail: string,
  ) {
    super(`cannot sign AUTH: ${detail}`);
    this.name = 'AuthSignError';
  }
}

export type VerifyReason =
  | 'unsupported-algorithm'
  | 'key-type-mismatch'
  | 'bad-signature'
  | 'malformed-auth-data'
  | 'not-a-signature-method';
export type VerifyResult = { ok: true; algorithm: string } | { ok: false; reason: VerifyReason; detail: string };

export interface SignOptions {
  /** 'digital-signature' (RFC 7427, method 14) or 'classic' (methods 1, 9, 10, 11). Default: 14
   * when a common hash exists (or the peer's list is unknown), else the classic method. */
  method?: 'digital-signature' | 'classic';
  /** The hash ids from the peer's SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 §4); undefined when unknown. */
  peerHashes?: number[];
  /** RSA keys only: padding for method 14. RFC 8247 §3.2 recommends PSS (the default). */
  rsaPadding?: 'pss' | 'pkcs1';
}

// RFC 4754 §7 / RFC 5903: the curve each classic ECDSA method fixes, with its hash and r/s width
const CLASSIC_ECDSA: Record<number, { curve: string; hash: Hash; width: number }> = {
  [AuthMethod.ECDSA_SHA256_P256]: { curve: 'prime256v1', hash: 'sha256', width: 32 },
  [AuthMethod.ECDSA_SHA384_P384]: { curve: 'secp384r1', hash: 'sha384', width: 48 },
  [AuthMethod.ECDSA_SHA512_P521]: { curve: 'secp521r1', hash: 'sha512', width: 66 },
};
const METHOD_OF_CURVE: Record<string, number> = {
  prime256v1: AuthMethod.ECDSA_SHA256_P256,
  secp384r1: AuthMethod.ECDSA_SHA384_P384,
  secp521r1: AuthMethod.ECDSA_SHA512_P521,
};

/** Our SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4; Identity per RFC 8420 §2). SHA-1 is not offered (RFC 8247 §3.2). */
export function supportedHashes(): number[] {
  return [HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512, HashAlgorithm.IDENTITY];
}

function keyKind(key: KeyObject): 'rsa' | 'ec' | 'ed25519' | 'ed448' | 'other' {
  const t = key.asymmetricKeyType;
  if (t === 'rsa' || t === 'rsa-pss') return 'rsa';
  if (t === 'ec' || t === 'ed25519' || t === 'ed448') return t;
  return 'other';
}

function curveOf(key: KeyObject): string | undefined {
  return key.asymmetricKeyDetails?.namedCurve;
}

/** Hash preference for a key: the curve's own hash first for ECDSA (RFC 4754 pairing), SHA-256 first for RSA. */
function hashPreference(key: KeyObject): Hash[] {
  const curve = curveOf(key);
  if (curve === 'secp384r1') return ['sha384', 'sha512', 'sha256'];
  if (curve === 'secp521r1') return ['sha512', 'sha384', 'sha256'];
  return ['sha256', 'sha384', 'sha512'];
}

function schemeFor(key: KeyObject, opts: SignOptions): Scheme | null {
  const kind = keyKind(key);
  const peer = opts.peerHashes;
  if (kind === 'ed25519' || kind === 'ed448') {
    // RFC 8420 §2: EdDSA signs the octets directly; the peer must list the Identity hash
    if (peer && !peer.includes(HashAlgorithm.IDENTITY)) return null;
    return { kind };
  }
  const hash = hashPreference(key).find((h) => !peer || peer.includes(ID_OF_HASH[h]));
  if (!hash) return null;
  if (kind === 'ec') return { kind: 'ecdsa', hash };
  if (kind === 'rsa') {
    if (opts.rsaPadding === 'pkcs1') return { kind: 'rsa-pkcs1', hash };
    // salt length = hash length, as strongSwan and RFC 7427 A.4.3 do
    return { kind: 'rsa-pss', hash, mgfHash: hash, saltLength: HASH_LENGTH[hash] };
  }
  throw new AuthSignError('unsupported-key', `key type ${key.asymmetricKeyType ?? 'unknown'}`);
}

function signWith(key: KeyObject, s: Scheme, octets: Uint8Array): Uint8Array {
  switch (s.kind) {
    case 'rsa-pkcs1':
      return sign(s.hash, octets, { key, padding: constants.RSA_PKCS1_PADDING });
    case 'rsa-pss':
      return sign(s.hash, octets, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: s.saltLength });
    case 'ecdsa':
      // RFC 7427 §3: "the signature value is the DER-encoded Ecdsa-Sig-Value" (RFC 3279 §2.2.3)
      return sign(s.hash, octets, { key, dsaEncoding: 'der' });
    case 'ed25519':
    case 'ed448':
      return sign(null, octets, key); // RFC 8420 §2: no prehash
  }
}

function signClassic(key: KeyObject, octets: Uint8Array): { method: number; data: Uint8Array } {
  const kind = keyKind(key);
  if (kind === 'rsa') {
    // RFC 7296 §3.8: RSA Digital Signature with RSASSA-PKCS1-v1_5 (SHA-1 in IKEv2 practice)
    return { method: AuthMethod.RSA_SIG, data: sign('sha1', octets, { key, padding: constants.RSA_PKCS1_PADDING }) };
  }
  const method = kind === 'ec' ? METHOD_OF_CURVE[curveOf(key) ?? ''] : undefined;
  if (method === undefined) {
    throw new AuthSignError('method-not-possible', `no classic auth method for a ${kind === 'ec' ? `${curveOf(key)} ` : ''}${key.asymmetricKeyType} key`);
  }
  // RFC 4754 §7: the signature is r | s, each the curve's fixed width
  const c = CLASSIC_ECDSA[method];
  return { method, data: sign(c.hash, octets, { key, dsaEncoding: 'ieee-p1363' }) };
}

/** Produces the AUTH payload's method and data for our signed octets (RFC 7296 §2.15). */
export function signAuth(key: KeyObject, octets: Uint8Array, opts: SignOptions = {}): { method: number; data: Uint8Array } {
  if (key.type !== 'private') throw new AuthSignError('unsupported-key', 'signing needs a private key');
  if (opts.method === 'classic') return signClassic(key, octets);
  const scheme = schemeFor(key, opts);
  if (!scheme) {
    if (opts.method === 'digital-signature') {
      const names = (opts.peerHashes ?? []).map((h) => nameOf(HashAlgorithm, h)).join(', ') || 'none';
      throw new AuthSignError('no-common-hash', `peer's SIGNATURE_HASH_ALGORITHMS (${names}) has no hash usable with a ${key.asymmetricKeyType} key`);
    }
    return signClassic(key, octets);
  }
  const algId = encodeAlgorithmIdentifier(scheme);
  // RFC 7427 §3: Authentication Data = ASN.1 Length (1 octet) | AlgorithmIdentifier ASN.1 object | Signature Value
  return { method: AuthMethod.DIGITAL_SIGNATURE, data: concat(new Uint8Array([algId.length]), algId, signWith(key, scheme, octets)) };
}

function fail(reason: VerifyReason, detail: string): VerifyResult {
  return { ok: false, reason, detail };
}

function check(publicKey: KeyObject, s: Scheme, octets: Uint8Array, sig: Uint8Array): VerifyResult {
  const kind = keyKind(publicKey);
  const name = schemeName(s);
  const want = s.kind === 'rsa-pkcs1' || s.kind === 'rsa-pss' ? 'rsa' : s.kind === 'ecdsa' ? 'ec' : s.kind;
  if (kind !== want) return fail('key-type-mismatch', `AUTH uses ${name} but the peer's key is ${publicKey.asymmetricKeyType}`);
  if (s.kind !== 'ed25519' && s.kind !== 'ed448' && s.hash === 'sha1') {
    return fail('unsupported-algorithm', `${name}: SHA-1 is not accepted for digital signatures (RFC 8247 §3.2)`);
  }
  if (s.kind === 'rsa-pss' && s.mgfHash !== s.hash) {
    return fail('unsupported-algorithm', `${name}: MGF1 hash differs from the message hash`);
  }
  let ok: boolean;
  try {
    switch (s.kind) {
      case 'rsa-pkcs1':
        ok = verify(s.hash, octets, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, sig);
        break;
      case 'rsa-pss':
        ok = verify(s.hash, octets, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: s.saltLength }, sig);
        break;
      case 'ecdsa':
        ok = verify(s.hash, octets, { key: publicKey, dsaEncoding: 'der' }, sig);
        break;
      default:
        ok = verify(null, octets, publicKey, sig);
    }
  } catch {
    ok = false; // OpenSSL rejects some malformed signatures by throwing instead of returning false
  }
  return ok ? { ok: true, algorithm: name } : fail('bad-signature', `${name} signature does not verify with the peer's key`);
}

/**
 * Verifies the peer's AUTH payload against the octets it must have signed (RFC 7296 §2.15).
 * The result names the failed check for the failure map (row F3).
 */
export function verifyAuth(publicKey: KeyObject, method: number, data: Uint8Array, octets: Uint8Array): VerifyResult {
  if (publicKey.type === 'secret') return fail('key-type-mismatch', 'a secret key cannot verify a signature');
  if (method === AuthMethod.DIGITAL_SIGNATURE) {
    // RFC 7427 §3: the first octet is the length of the AlgorithmIdentifier that follows
    if (data.length < 1 || data.length < 1 + data[0]) return fail('malformed-auth-data', 'AUTH data shorter than its AlgorithmIdentifier length');
    const algId = data.subarray(1, 1 + data[0]);
    const sig = data.subarray(1 + data[0]);
    let scheme: Scheme;
    try {
      scheme = parseAlgorithmIdentifier(algId);
    } catch (e) {
      if (e instanceof SchemeError) {
        return fail(e.reason === 'malformed-algorithm' ? 'malformed-auth-data' : 'unsupported-algorithm', e.message);
      }
      throw e;
    }
    if (sig.length === 0) return fail('malformed-auth-data', 'AUTH data has no signature value');
    return check(publicKey, scheme, octets, sig);
  }
  if (method === AuthMethod.RSA_SIG) {
    if (keyKind(publicKey) !== 'rsa') return fail('key-type-mismatch', `RSA_SIG AUTH but the peer's key is ${publicKey.asymmetricKeyType}`);
    let ok = false;
    try {
      ok = verify('sha1', octets, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, data);
    } catch {
      ok = false;
    }
    return ok ? { ok: true, algorithm: 'RSA_SIG (PKCS#1 v1.5 SHA-1)' } : fail('bad-signature', "RSA_SIG signature does not verify with the peer's key");
  }
  const c = CLASSIC_ECDSA[method];
  if (c) {
    const name = nameOf(AuthMethod, method);
    if (keyKind(publicKey) !== 'ec' || curveOf(publicKey) !== c.curve) {
      return fail('key-type-mismatch', `${name} AUTH needs a ${c.curve} key, the peer's key is ${curveOf(publicKey) ?? publicKey.asymmetricKeyType}`);
    }
    // RFC 4754 §7: r and s, each exactly the curve's width
    if (data.length !== 2 * c.width) return fail('malformed-auth-data', `${name} signature is ${data.length} octets, expected ${2 * c.width}`);
    let ok = false;
    try {
      ok = verify(c.hash, octets, { key: publicKey, dsaEncoding: 'ieee-p1363' }, data);
    } catch {
      ok = false;
    }
    return ok ? { ok: true, algorithm: name } : fail('bad-signature', `${name} signature does not verify with the peer's key`);
  }
  if (method === AuthMethod.SHARED_KEY_MIC || method === AuthMethod.NULL_AUTH) {
    return fail('not-a-signature-method', `${nameOf(AuthMethod, method)} is not a signature method`);
  }
  return fail('unsupported-algorithm', `auth method ${nameOf(AuthMethod, method)}`);
}

/**
 * Verifies the signature of an X.509 structure (a CRL, RFC 5280 §5.1.1.2) made with
 * `algorithm` (DER AlgorithmIdentifier) over `octets`; SHA-1 is refused as for AUTH.
 */
export function verifyX509Signature(publicKey: KeyObject, algorithm: Uint8Array, octets: Uint8Array, sig: Uint8Array): VerifyResult {
  let s: Scheme;
  try {
    s = parseAlgorithmIdentifier(algorithm);
  } catch (e) {
    if (e instanceof SchemeError) return fail(e.reason === 'malformed-algorithm' ? 'malformed-auth-data' : 'unsupported-algorithm', e.message);
    throw e;
  }
  return check(publicKey, s, octets, sig);
}
