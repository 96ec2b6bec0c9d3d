// What a fuzz target is: a pure function of a byte string that returns normally, throws one of
// the codebase's own typed errors (counted as an expected rejection), or throws anything else
// (a finding). One file per target in fuzz/targets/; fuzz/targets.ts lists them.
import { WireError } from '../src/wire/errors.js';
import { CryptoError } from '../src/crypto/errors.js';
import { ConfigError } from '../src/config/errors.js';
import { DerError } from '../src/ike/auth/der.js';
import { DnSyntaxError } from '../src/ike/auth/dn.js';
import { IdentitySyntaxError } from '../src/ike/auth/identity.js';

export interface FuzzTarget {
  name: string;
  /** One input. Throws only typed errors (see `isTypedError`) or a finding. */
  run(data: Uint8Array): void;
  /** Tokens the mutator inserts and overwrites with (field values, keywords). */
  dictionary?: Uint8Array[];
  /** Structured inputs (fast-check), mixed in with the mutated ones. */
  generate?: (seed: number, count: number) => Uint8Array[];
  /** Inputs are cut to this length (default 4096). */
  maxLength?: number;
}

/** The errors a decoder of this codebase throws on purpose for bad input. */
export function isTypedError(e: unknown): boolean {
  return (
    e instanceof WireError ||
    e instanceof CryptoError ||
    e instanceof ConfigError ||
    e instanceof DerError ||
    e instanceof DnSyntaxError ||
    e instanceof IdentitySyntaxError
  );
}

/** Runs `fn`, swallowing a typed error; anything else propagates as a finding. */
export function expectTyped(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!isTypedError(e)) throw e;
  }
}

/** A broken invariant (not an exception of the code under test). */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function invariant(ok: boolean, what: string): void {
  if (!ok) throw new InvariantError(what);
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
