// Proposal keywords in strongSwan's syntax (swanctl.conf `proposals`, e.g.
// `aes256gcm16-prfsha256-x25519`): which token means which RFC 7296 §3.3.2 transform.
// SUPPORTED tokens parse; KNOWN_UNSUPPORTED ones only print (so a peer's proposal that uses
// them can be shown to an operator) and are refused by the parser with a clear reason.
import { DhGroup, EncrId, EsnId, IntegId, PrfId, TransformType } from '../wire/constants.js';
import type { Transform } from '../wire/types.js';

export interface Keyword {
  token: string;
  transform: Transform;
}

const T = TransformType;
const encr = (id: number, keyLength?: number): Transform =>
  keyLength === undefined ? { type: T.ENCR, id } : { type: T.ENCR, id, keyLength };
const integ = (id: number): Transform => ({ type: T.INTEG, id });
const prf = (id: number): Transform => ({ type: T.PRF, id });
const dh = (id: number): Transform => ({ type: T.DH, id });
const esn = (id: number): Transform => ({ type: T.ESN, id });

/** RFC 4106 §8 / RFC 5282 §7: AES-GCM with 8, 12 or 16 octet ICVs; strongSwan names the ICV in octets or bits. */
function gcmKeywords(): Keyword[] {
  const out: Keyword[] = [];
  const icvs = [
    [16, EncrId.AES_GCM_16],
    [12, EncrId.AES_GCM_12],
    [8, EncrId.AES_GCM_8],
  ] as const;
  for (const bits of [128, 192, 256]) {
    for (const [octets, id] of icvs) {
      out.push({ token: `aes${bits}gcm${octets}`, transform: encr(id, bits) }); // canonical first
      out.push({ token: `aes${bits}gcm${octets * 8}`, transform: encr(id, bits) });
    }
    out.push({ token: `aes${bits}gcm`, transform: encr(EncrId.AES_GCM_16, bits) });
  }
  return out;
}

/** Keywords this implementation negotiates; the first token listed for a transform is canonical. */
export const SUPPORTED: readonly Keyword[] = [
  // RFC 3602 (AES-CBC, Key Length attribute required, RFC 7296 §3.3.5)
  { token: 'aes128', transform: encr(EncrId.AES_CBC, 128) },
  { token: 'aes192', transform: encr(EncrId.AES_CBC, 192) },
  { token: 'aes256', transform: encr(EncrId.AES_CBC, 256) },
  { token: 'aes', transform: encr(EncrId.AES_CBC, 128) },
  ...gcmKeywords(),
  // RFC 7634 §2: ChaCha20-Poly1305 carries no Key Length attribute
  { token: 'chacha20poly1305', transform: encr(EncrId.CHACHA20_POLY1305) },
  // RFC 2404 (HMAC-SHA1-96) and RFC 4868 (HMAC-SHA-256/384/512 truncated to half)
  { token: 'sha1', transform: integ(IntegId.HMAC_SHA1_96) },
  { token: 'sha', transform: integ(IntegId.HMAC_SHA1_96) },
  { token: 'sha256', transform: integ(IntegId.HMAC_SHA2_256_128) },
  { token: 'sha2_256', transform: integ(IntegId.HMAC_SHA2_256_128) },
  { token: 'sha384', transform: integ(IntegId.HMAC_SHA2_384_192) },
  { token: 'sha2_384', transform: integ(IntegId.HMAC_SHA2_384_192) },
  { token: 'sha512', transform: integ(IntegId.HMAC_SHA2_512_256) },
  { token: 'sha2_512', transform: integ(IntegId.HMAC_SHA2_512_256) },
  // RFC 7296 §3.3.2 Transform Type 2, RFC 4868 for SHA-2
  { token: 'prfsha1', transform: prf(PrfId.HMAC_SHA1) },
  { token: 'prfsha256', transform: prf(PrfId.HMAC_SHA2_256) },
  { token: 'prfsha384', transform: prf(PrfId.HMAC_SHA2_384) },
  { token: 'prfsha512', transform: prf(PrfId.HMAC_SHA2_512) },
  // RFC 3526, RFC 5903, RFC 8031
  { token: 'modp2048', transform: dh(DhGroup.MODP_2048) },
  { token: 'modp3072', transform: dh(DhGroup.MODP_3072) },
  { token: 'ecp256', transform: dh(DhGroup.ECP_256) },
  { token: 'ecp384', transform: dh(DhGroup.ECP_384) },
  { token: 'ecp521', transform: dh(DhGroup.ECP_521) },
  { token: 'x25519', transform: dh(DhGroup.CURVE25519) },
  { token: 'curve25519', transform: dh(DhGroup.CURVE25519) },
  { token: 'x448', transform: dh(DhGroup.CURVE448) },
  { token: 'curve448', transform: dh(DhGroup.CURVE448) },
  // RFC 7296 §3.3.2: "none" is Transform ID 0, used in ESP proposals to say "no PFS"
  { token: 'none', transform: dh(DhGroup.NONE) },
  { token: 'modpnone', transform: dh(DhGroup.NONE) },
  // RFC 4303 §2.2.1 / RFC 7296 §3.3.2 Transform Type 5
  { token: 'esn', transform: esn(EsnId.ESN) },
  { token: 'noesn', transform: esn(EsnId.NO_ESN) },
];

/** Names for transforms a peer may offer that tsvpn does not implement (printing only). */
export const KNOWN_UNSUPPORTED: readonly Keyword[] = [
  { token: 'des', transform: encr(EncrId.DES) },
  { token: '3des', transform: encr(EncrId.THREE_DES) },
  { token: 'null', transform: encr(EncrId.NULL) },
  ...[128, 192, 256].map((b) => ({ token: `aes${b}ctr`, transform: encr(EncrId.AES_CTR, b) })),
  ...[128, 192, 256].flatMap((b) => [
    { token: `aes${b}ccm16`, transform: encr(EncrId.AES_CCM_16, b) },
    { token: `aes${b}ccm12`, transform: encr(EncrId.AES_CCM_12, b) },
    { token: `aes${b}ccm8`, transform: encr(EncrId.AES_CCM_8, b) },
    { token: `aes${b}gmac`, transform: encr(EncrId.NULL_AUTH_AES_GMAC, b) },
  ]),
  { token: 'md5', transform: integ(IntegId.HMAC_MD5_96) },
  { token: 'md5_128', transform: integ(IntegId.HMAC_MD5_128) },
  { token: 'sha1_160', transform: integ(IntegId.HMAC_SHA1_160) },
  { token: 'aesxcbc', transform: integ(IntegId.AES_XCBC_96) },
  { token: 'aescmac', transform: integ(IntegId.AES_CMAC_96) },
  { token: 'prfmd5', transform: prf(PrfId.HMAC_MD5) },
  { token: 'prfaesxcbc', transform: prf(PrfId.AES128_XCBC) },
  { token: 'prfaescmac', transform: prf(PrfId.AES128_CMAC) },
  { token: 'modp768', transform: dh(DhGroup.MODP_768) },
  { token: 'modp1024', transform: dh(DhGroup.MODP_1024) },
  { token: 'modp1536', transform: dh(DhGroup.MODP_1536) },
  { token: 'modp4096', transform: dh(DhGroup.MODP_4096) },
  { token: 'modp6144', transform: dh(DhGroup.MODP_6144) },
  { token: 'modp8192', transform: dh(DhGroup.MODP_8192) },
];

/** RFC 7296 §3.3.6 (strongSwan's integ_prf_map): the PRF an IKE proposal gets for an INTEG when none is named. */
export const PRF_FOR_INTEG: Readonly<Record<number, number>> = {
  [IntegId.HMAC_SHA1_96]: PrfId.HMAC_SHA1,
  [IntegId.HMAC_SHA2_256_128]: PrfId.HMAC_SHA2_256,
  [IntegId.HMAC_SHA2_384_192]: PrfId.HMAC_SHA2_384,
  [IntegId.HMAC_SHA2_512_256]: PrfId.HMAC_SHA2_512,
};

/** Combined-mode (AEAD) ciphers: RFC 5282 (GCM, CCM), RFC 7634 (ChaCha20-Poly1305). */
export function isAeadEncr(id: number): boolean {
  return (
    id === EncrId.AES_GCM_8 ||
    id === EncrId.AES_GCM_12 ||
    id === EncrId.AES_GCM_16 ||
    id === EncrId.AES_CCM_8 ||
    id === EncrId.AES_CCM_12 ||
    id === EncrId.AES_CCM_16 ||
    id === EncrId.CHACHA20_POLY1305
  );
}

const byToken = new Map<string, { transform: Transform; supported: boolean }>();
for (const k of KNOWN_UNSUPPORTED) byToken.set(k.token, { transform: k.transform, supported: false });
for (const k of SUPPORTED) byToken.set(k.token, { transform: k.transform, supported: true });

export function lookupToken(token: string): { transform: Transform; supported: boolean } | undefined {
  return byToken.get(token);
}

const key = (t: Transform) => `${t.type}/${t.id}/${t.keyLength ?? ''}`;
const canonical = new Map<string, string>();
for (const k of [...SUPPORTED, ...KNOWN_UNSUPPORTED]) {
  if (!canonical.has(key(k.transform))) canonical.set(key(k.transform), k.token);
}

const TYPE_PREFIX: Record<number, string> = { 1: 'ENCR', 2: 'PRF', 3: 'INTEG', 4: 'KE', 5: 'ESN' };

/** The canonical token of a transform, or `UNKNOWN_<type>_<id>[_<keylen>]` as strongSwan prints unknown ones. */
export function tokenFor(t: Transform): string {
  const name = canonical.get(key(t));
  if (name) return name;
  const kl = t.keyLength === undefined ? '' : `_${t.keyLength}`;
  return `UNKNOWN_${TYPE_PREFIX[t.type] ?? t.type}_${t.id}${kl}`;
}
