// Which stats counter a thrown error belongs to. Everything the lower layers throw on bad
// input is a typed error; anything else is a bug, counted as `internalErrors`.
import { WireError } from '../wire/errors.js';
import { IntegrityError, CryptoError } from '../crypto/errors.js';
import { KeyExchangeError } from '../crypto/ke/index.js';
import { IdentitySyntaxError } from './auth/identity.js';
import { AddressError } from './nat.js';
import { AuthSignError } from './auth/signature.js';
import type { IkeStats } from './sa-context.js';

export function classifyError(e: unknown): keyof IkeStats {
  if (e instanceof IntegrityError) return 'integrityFailed'; // RFC 7296 §2.21.1: bad ICV, drop silently
  if (e instanceof WireError || e instanceof KeyExchangeError || e instanceof IdentitySyntaxError || e instanceof AddressError || e instanceof CryptoError || e instanceof AuthSignError) return 'malformed';
  return 'internalErrors';
}
