// What the IKE SA targets share: a pinned key exchange (a fixed g^ir, so that setting up a
// pair costs microseconds, not a Diffie-Hellman), and a request sealed with the initiator's
// SK_ei/SK_ai (RFC 7296 §3.14) around a plaintext payload chain the fuzzer chose, as the
// initiator would send it: header, SK header, IV | sealed chain | ICV.
import { IkeSa } from '../../src/ike/ike-sa.js';
import type { SaKeys } from '../../src/ike/sa-context.js';
import type { Effect } from '../../src/ike/effects.js';
import type { KeyExchange } from '../../src/crypto/ke/types.js';
import { encodeSkPrefix } from '../../src/wire/message.js';
import { seededRandom } from '../../test/ike/helpers/random.js';

export const RESPONSE_FLAG = 0x20; // RFC 7296 §3.1: R, in the header's flags octet (offset 19)

const fixedSecret = new Uint8Array(32).fill(7);
export const pinnedKe = (group: number): KeyExchange => ({
  group,
  publicKey: new Uint8Array(32).fill(1),
  computeSharedSecret: () => fixedSecret.slice(),
  dispose: () => {},
});

export const sends = (fx: Effect[]): Uint8Array[] => fx.flatMap((e) => (e.type === 'send' ? [e.bytes] : []));
export const keysOf = (sa: IkeSa): SaKeys | undefined => (sa as unknown as { ctx: { keys?: SaKeys } }).ctx.keys;
/** Did the responder answer (an answered request uses up its Message ID, RFC 7296 §2.2)? */
export const answered = (fx: Effect[]): boolean => sends(fx).some((b) => (b[19] & RESPONSE_FLAG) !== 0);

const random = seededRandom(99);

/** The initiator `i`'s request number `messageId` of `exchange`, its SK payload carrying `chain` (first inner payload `firstType`). */
export function sealedRequest(i: IkeSa, keys: SaKeys, exchange: number, messageId: number, firstType: number, chain: Uint8Array): Uint8Array {
  const h = { spiI: i.spiI, spiR: i.spiR, majorVersion: 2, minorVersion: 0, exchangeType: exchange, flags: { initiator: true, response: false, version: false }, messageId };
  const aad = encodeSkPrefix(h, firstType, keys.out.sealedLength(chain.length));
  const body = keys.out.seal(aad, chain, random(keys.out.ivLength));
  const out = new Uint8Array(aad.length + body.length);
  out.set(aad);
  out.set(body, aad.length);
  return out;
}
