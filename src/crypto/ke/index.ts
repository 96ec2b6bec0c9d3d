// Key exchange groups for the IKEv2 KE payload (RFC 7296 §3.4): one factory over the MODP
// (RFC 3526), ECP (RFC 5903) and Curve25519/Curve448 (RFC 8031) groups. Pure: no I/O.
import { DhGroup } from '../../wire/constants.js';
import { createEcp, ecpLength, isEcpGroup } from './ecp.js';
import { KeyExchangeError } from './errors.js';
import { createModp, isModpGroup, modpLength } from './modp.js';
import { createMontgomery, isMontgomeryGroup, montgomeryLength } from './montgomery.js';
import type { KeyExchange, KeyExchangeOptions } from './types.js';

export { KeyExchangeError, type KeyExchangeErrorReason } from './errors.js';
export type { KeyExchange, KeyExchangeOptions } from './types.js';

/** The groups this implementation offers, strongest-and-fastest first (implementation choice). */
export const SUPPORTED_GROUPS: readonly number[] = Object.freeze([
  DhGroup.CURVE25519,
  DhGroup.ECP_256,
  DhGroup.ECP_384,
  DhGroup.ECP_521,
  DhGroup.CURVE448,
  DhGroup.MODP_3072,
  DhGroup.MODP_2048,
]);

export function isSupportedGroup(group: number): boolean {
  return SUPPORTED_GROUPS.includes(group);
}

/** Length in bytes of the KE payload's Key Exchange Data for `group` (RFC 7296 §3.4). */
export function keyExchangeLength(group: number): number {
  if (isModpGroup(group)) return modpLength(group);
  if (isEcpGroup(group)) return ecpLength(group);
  if (isMontgomeryGroup(group)) return montgomeryLength(group);
  throw new KeyExchangeError('unsupported-group', group, 'unsupported key exchange group');
}

/** A fresh key pair of `group` (or one from `opts.privateKey`, for vectors and tests). */
export function createKeyExchange(group: number, opts?: KeyExchangeOptions): KeyExchange {
  if (isModpGroup(group)) return createModp(group, opts);
  if (isEcpGroup(group)) return createEcp(group, opts);
  if (isMontgomeryGroup(group)) return createMontgomery(group, opts);
  throw new KeyExchangeError('unsupported-group', group, 'unsupported key exchange group');
}
