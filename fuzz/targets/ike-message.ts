// Target: the IKE message decoder (src/wire/message.ts and the payload codecs under it) on a
// whole datagram. Checks beyond "no untyped exception": the payload rules table accepts or
// refuses without throwing, an SK payload's body decodes as an inner chain (as if it were the
// plaintext) with the same outcome, and a decoded message without SK encodes back to one that
// decodes to the same records (DESIGN.md: "encoding a valid record never fails").
import { isDeepStrictEqual } from 'node:util';
import { decodeMessage, decodePayloads, encodeMessage } from '../../src/wire/message.js';
import { checkPayloadRules } from '../../src/wire/rules.js';
import { ExchangeType, PayloadType } from '../../src/wire/constants.js';
import type { IkeMessage, Payload } from '../../src/wire/types.js';
import { expectTyped, invariant, isTypedError, type FuzzTarget } from '../target.js';
import { ikeDictionary } from './ike-dictionary.js';
import { payloadLists } from './ike-payloads.js';

function decoded(data: Uint8Array): IkeMessage | undefined {
  try {
    return decodeMessage(data);
  } catch (e) {
    if (isTypedError(e)) return undefined;
    throw e;
  }
}

function roundTrip(msg: IkeMessage): void {
  const { header: h, payloads } = msg;
  const again = decodeMessage(encodeMessage(h, payloads));
  invariant(isDeepStrictEqual(again.payloads, payloads), 'decode(encode(decode(x))) differs from decode(x)');
  const { length: _l, nextPayload: _n, ...fields } = h;
  const { length: _l2, nextPayload: _n2, ...fields2 } = again.header;
  invariant(isDeepStrictEqual(fields, fields2), 'the header does not survive encode/decode');
}

export const ikeMessage: FuzzTarget = {
  name: 'ike-message',
  dictionary: ikeDictionary,
  maxLength: 3000,
  // whole messages around generated chains, every exchange type, request or response
  generate: (seed, count) =>
    payloadLists(seed, count).map((payloads, i) => {
      const exchangeType = [ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH, ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL][i % 4];
      const flags = { initiator: (i & 4) === 0, response: (i & 8) !== 0, version: false };
      return encodeMessage({ spiI: new Uint8Array(8).fill(1), spiR: new Uint8Array(8), majorVersion: 2, minorVersion: 0, exchangeType, flags, messageId: i & 3 }, payloads);
    }),
  run(data) {
    const msg = decoded(data);
    if (!msg) return;
    const { exchangeType, flags } = msg.header;
    const sk = msg.payloads.find((p): p is Extract<Payload, { kind: 'SK' }> => p.kind === 'SK');
    if (!sk) {
      checkPayloadRules(exchangeType, flags.response, msg.payloads, null);
      roundTrip(msg);
      return;
    }
    // RFC 7296 §3.14: the inner chain starts with SK's Next Payload; here the body stands in for the plaintext
    expectTyped(() => {
      const inner = decodePayloads(sk.firstInner, sk.body, sk.aad.length);
      checkPayloadRules(exchangeType === ExchangeType.IKE_SA_INIT ? ExchangeType.IKE_AUTH : exchangeType, flags.response, msg.payloads, inner);
      invariant(!inner.some((p) => p.kind === 'SK'), `an inner chain holds an SK payload (type ${PayloadType.SK})`);
    });
  },
};
