// IKEv2 key derivation: SKEYSEED and the seven IKE SA keys (RFC 7296 §2.14), Child SA KEYMAT
// (§2.17), and SKEYSEED for an IKE SA rekey (§2.18). Key sizes per transform come from
// RFC 3602 (AES-CBC), RFC 5282 / RFC 4106 (AES-GCM), RFC 7634 (ChaCha20-Poly1305),
// RFC 2404 and RFC 4868 (HMAC integrity).

import { EncrId, IntegId } from '../wire/constants.js';
import { concatBytes, zero } from './bytes.js';
import { UnsupportedAlgorithmError } from './errors.js';
import { prf, prfOutputLength, prfPlus } from './prf.js';

export { zero };

/** An ENCR transform as negotiated: the ID and its Key Length attribute in bits (RFC 7296 §3.3.5). */
export interface EncrTransform {
  id: number;
  keyLength?: number;
}

/** Byte lengths to draw from keying material. `encrKey` includes the salt (`saltLength` bytes at its end). */
export interface KeySizes {
  encrKey: number;
  integKey: number;
  saltLength: number;
}

export interface IkeKeys {
  skD: Uint8Array;
  skAi: Uint8Array;
  skAr: Uint8Array;
  skEi: Uint8Array;
  skEr: Uint8Array;
  skPi: Uint8Array;
  skPr: Uint8Array;
}

export interface ChildKeys {
  /** initiator-to-responder encryption key (with salt for AEAD) */
  encrI: Uint8Array;
  integI: Uint8Array;
  /** responder-to-initiator encryption key (with salt for AEAD) */
  encrR: Uint8Array;
  integR: Uint8Array;
}

// RFC 5282 §7.1 / RFC 4106 §8.1 (AES-GCM) and RFC 7634 §2 (ChaCha20-Poly1305): 4 octets of salt
// follow the key in the keying material.
const AEAD_SALT = 4;

/** Integrity key lengths in bytes: RFC 2404 §3 (SHA-1, 160 bits), RFC 4868 §2.1.1 (SHA-2). */
const INTEG_KEY_LENGTHS: ReadonlyMap<number, number> = new Map([
  [IntegId.HMAC_SHA1_96, 20],
  [IntegId.HMAC_SHA2_256_128, 32],
  [IntegId.HMAC_SHA2_384_192, 48],
  [IntegId.HMAC_SHA2_512_256, 64],
]);

/** True for combined-mode (AEAD) ciphers, which need no INTEG transform (RFC 5282 §8). */
export function isAead(encrId: number): boolean {
  return encrId === EncrId.AES_GCM_16 || encrId === EncrId.CHACHA20_POLY1305;
}

function aesKeyBytes(encr: EncrTransform): number {
  const bits = encr.keyLength;
  // RFC 3602 §5.3 / RFC 5282 §8: AES transforms carry a Key Length attribute of 128, 192 or 256
  if (bits !== 128 && bits !== 192 && bits !== 256) {
    throw new UnsupportedAlgorithmError('ENCR', encr.id, `key length ${bits ?? 'missing'}`);
  }
  return bits / 8;
}

/** Key sizes in bytes for an ENCR + INTEG pair. */
export function keySizes(encr: EncrTransform, integId: number): KeySizes {
  let encrKey: number;
  let saltLength = 0;
  switch (encr.id) {
    case EncrId.AES_CBC:
      encrKey = aesKeyBytes(encr);
      break;
    case EncrId.AES_GCM_16:
      saltLength = AEAD_SALT;
      encrKey = aesKeyBytes(encr) + saltLength;
      break;
    case EncrId.CHACHA20_POLY1305:
      // RFC 7634 §4: the Key Length attribute MUST NOT be sent; the key is 256 bits
      if (encr.keyLength !== undefined && encr.keyLength !== 256) {
        throw new UnsupportedAlgorithmError('ENCR', encr.id, `key length ${encr.keyLength}`);
      }
      saltLength = AEAD_SALT;
      encrKey = 32 + saltLength;
      break;
    default:
      throw new UnsupportedAlgorithmError('ENCR', encr.id);
  }
  if (isAead(encr.id)) {
    // RFC 5282 §8: with a combined-mode cipher the INTEG transform is NONE or absent
    if (integId !== IntegId.NONE) {
      throw new UnsupportedAlgorithmError('INTEG', integId, 'not allowed with an AEAD cipher');
    }
    return { encrKey, integKey: 0, saltLength };
  }
  const integKey = INTEG_KEY_LENGTHS.get(integId);
  if (integKey === undefined) throw new UnsupportedAlgorithmError('INTEG', integId);
  return { encrKey, integKey, saltLength };
}

/**
 * RFC 7296 §2.14: SKEYSEED = prf(Ni | Nr, g^ir).
 * (The §2.14 rule for fixed-key-size PRFs such as AES-XCBC, which take 64 bits of each nonce, does
 * not apply: only HMAC PRFs are supported and HMAC takes Ni | Nr whole.)
 */
export function deriveSkeyseed(prfId: number, ni: Uint8Array, nr: Uint8Array, sharedSecret: Uint8Array): Uint8Array {
  const key = concatBytes(ni, nr);
  try {
    return prf(prfId, key, sharedSecret);
  } finally {
    zero(key);
  }
}

/** Split `material` into consecutive slices of the given sizes (copies), then wipe `material`. */
function split(material: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  for (const n of sizes) {
    out.push(material.slice(off, off + n));
    off += n;
  }
  zero(material);
  return out;
}

/**
 * RFC 7296 §2.14:
 *   {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
 * SK_d, SK_pi and SK_pr take the PRF's preferred key length; SK_a* are empty for AEAD ciphers.
 */
export function deriveIkeKeys(
  prfId: number,
  encr: EncrTransform,
  integId: number,
  skeyseed: Uint8Array,
  ni: Uint8Array,
  nr: Uint8Array,
  spiI: Uint8Array,
  spiR: Uint8Array,
): IkeKeys {
  const sizes = keySizes(encr, integId);
  const p = prfOutputLength(prfId);
  const lengths = [p, sizes.integKey, sizes.integKey, sizes.encrKey, sizes.encrKey, p, p];
  const seed = concatBytes(ni, nr, spiI, spiR);
  const material = prfPlus(prfId, skeyseed, seed, lengths.reduce((a, b) => a + b, 0));
  const [skD, skAi, skAr, skEi, skEr, skPi, skPr] = split(material, lengths);
  return { skD, skAi, skAr, skEi, skEr, skPi, skPr };
}

/**
 * RFC 7296 §2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), with Ni and Nr the nonces of the
 * CREATE_CHILD_SA exchange. Without a new Diffie-Hellman value, g^ir (new) is omitted.
 */
export function deriveRekeySkeyseed(
  prfId: number,
  oldSkD: Uint8Array,
  sharedSecret: Uint8Array | undefined,
  ni: Uint8Array,
  nr: Uint8Array,
): Uint8Array {
  const parts = sharedSecret ? [sharedSecret, ni, nr] : [ni, nr];
  return prf(prfId, oldSkD, parts);
}

/**
 * RFC 7296 §2.17: KEYMAT = prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr) with PFS.
 * Keys are taken initiator-to-responder first, encryption before integrity; an AEAD
 * encryption key includes its 4-byte salt (RFC 4106 §8.1, RFC 7634 §2).
 */
export function deriveChildKeys(
  prfId: number,
  skD: Uint8Array,
  ni: Uint8Array,
  nr: Uint8Array,
  sharedSecret: Uint8Array | undefined,
  encr: EncrTransform,
  integId: number,
): ChildKeys {
  const { encrKey, integKey } = keySizes(encr, integId);
  const seed = sharedSecret ? concatBytes(sharedSecret, ni, nr) : concatBytes(ni, nr);
  const material = prfPlus(prfId, skD, seed, 2 * (encrKey + integKey));
  zero(seed);
  const [encrI, integI, encrR, integR] = split(material, [encrKey, integKey, encrKey, integKey]);
  return { encrI, integI, encrR, integR };
}

/** Wipe every key of an IkeKeys or ChildKeys record. */
export function zeroKeys(keys: IkeKeys | ChildKeys): void {
  for (const v of Object.values(keys) as Uint8Array[]) zero(v);
}
