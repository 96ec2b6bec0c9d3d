// Malformed input: each case is rejected with WireError and the expected reason (and, where
// it matters, offset). Nothing else may be thrown.
import { describe, it, expect } from 'vitest';
import { decodeMessage, decodePayloads } from '../../src/wire/message.js';
import { PayloadType as PT } from '../../src/wire/constants.js';
import { WireError } from '../../src/wire/errors.js';
import { IKE_AUTH_REQUEST, IKE_SA_INIT_REQUEST, MIXED_PAYLOADS } from './fixtures.js';
import { hex } from './hex.js';

/** Wraps a payload chain into an IKE_SA_INIT header whose length field is right. */
function message(firstType: number, payloads: string): Uint8Array {
  const body = hex(payloads);
  const head = hex(`0102030405060708 0000000000000000 ${firstType.toString(16).padStart(2, '0')} 20 22 08 00000000`);
  const out = new Uint8Array(28 + body.length);
  out.set(head);
  new DataView(out.buffer).setUint32(24, out.length);
  out.set(body, 28);
  return out;
}

function rejects(f: () => unknown, reason: string, offset?: number): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'should throw').toBeInstanceOf(WireError);
  expect((err as WireError).reason).toBe(reason);
  if (offset !== undefined) expect((err as WireError).offset).toBe(offset);
}

const TRANSFORM = '00 00 0008 01 00 000c';

const table: { name: string; input: () => Uint8Array; reason: string; offset?: number }[] = [
  { name: 'empty datagram', input: () => new Uint8Array(0), reason: 'truncated', offset: 0 },
  { name: 'IKEv1 header', input: () => hex('0102030405060708 0000000000000000 01 10 02 00 00000000 0000001c'), reason: 'bad-major-version', offset: 17 },
  { name: 'header length larger than datagram', input: () => IKE_SA_INIT_REQUEST.slice(0, 100), reason: 'length-mismatch', offset: 24 },
  { name: 'payload length < 4', input: () => message(PT.V, '00 00 0003'), reason: 'bad-length', offset: 30 },
  { name: 'payload length runs past the message', input: () => message(PT.V, '00 00 ffff 0102'), reason: 'truncated', offset: 32 },
  { name: 'next payload promised, none present', input: () => message(PT.V, '2b 00 0005 01'), reason: 'truncated', offset: 33 },
  { name: 'bytes after the last payload', input: () => message(PT.V, '00 00 0005 01 ff'), reason: 'trailing-bytes', offset: 33 },
  { name: 'KE shorter than its fixed part', input: () => message(PT.KE, '00 00 0006 001f'), reason: 'truncated', offset: 34 },
  { name: 'IDi ID_IPV4_ADDR of 5 bytes', input: () => message(PT.IDi, '00 00 000d 01 000000 c633640101'), reason: 'bad-id-length', offset: 36 },
  { name: 'IDi ID_IPV6_ADDR of 4 bytes', input: () => message(PT.IDi, '00 00 000c 05 000000 20010db8'), reason: 'bad-id-length', offset: 36 },
  { name: 'ID shorter than its fixed part', input: () => message(PT.IDi, '00 00 0006 01 00'), reason: 'truncated' },
  { name: 'Nonce of 15 bytes (RFC 7296 §3.9)', input: () => message(PT.NONCE, `00 00 0013 ${'00'.repeat(15)}`), reason: 'bad-nonce-length', offset: 32 },
  { name: 'Nonce of 257 bytes', input: () => message(PT.NONCE, `00 00 0105 ${'00'.repeat(257)}`), reason: 'bad-nonce-length' },
  { name: 'TS IPv4 selector with length 40', input: () => message(PT.TSi, `00 00 0030 01 000000 07 00 0028 0000 ffff ${'00'.repeat(32)}`), reason: 'bad-length', offset: 38 },
  { name: 'TS IPv6 selector with length 16', input: () => message(PT.TSi, `00 00 0018 01 000000 08 00 0010 0000 ffff ${'00'.repeat(8)}`), reason: 'bad-length' },
  { name: 'TS of unknown type 9', input: () => message(PT.TSi, `00 00 0018 01 000000 09 00 0010 0000 ffff ${'00'.repeat(8)}`), reason: 'unknown-ts-type', offset: 36 },
  { name: 'TS count 2 with one selector', input: () => message(PT.TSi, '00 00 0018 02 000000 07 00 0010 0000 ffff c0000200 c00002ff'), reason: 'count-mismatch', offset: 32 },
  { name: 'TS selector cut short', input: () => message(PT.TSi, '00 00 0014 01 000000 07 00 0010 0000 ffff c0000200'), reason: 'truncated' },
  { name: 'SA transform runs past its proposal', input: () => message(PT.SA, `00 00 0014 00 00 0010 01 01 00 01 00 00 000c 01 00 000c`), reason: 'truncated', offset: 44 },
  { name: 'SA proposal runs past the payload', input: () => message(PT.SA, `00 00 0014 00 00 0020 01 01 00 01 ${TRANSFORM}`), reason: 'truncated' },
  { name: 'SA Num Transforms 2 with one transform', input: () => message(PT.SA, `00 00 0014 00 00 0010 01 01 00 02 ${TRANSFORM}`), reason: 'count-mismatch', offset: 39 },
  { name: 'SA proposal length < 8', input: () => message(PT.SA, `00 00 0014 00 00 0004 01 01 00 01 ${TRANSFORM}`), reason: 'bad-length', offset: 34 },
  { name: 'SA transform length < 8', input: () => message(PT.SA, `00 00 0014 00 00 0010 01 01 00 01 00 00 0004 01 00 000c`), reason: 'bad-length', offset: 42 },
  { name: 'SA last proposal marked "more" (2)', input: () => message(PT.SA, `00 00 0014 02 00 0010 01 01 00 01 ${TRANSFORM}`), reason: 'bad-last-substructure', offset: 32 },
  { name: 'SA first proposal marked last, another follows', input: () => message(PT.SA, `00 00 0024 00 00 0010 01 01 00 01 ${TRANSFORM} 00 00 0010 02 01 00 01 ${TRANSFORM}`), reason: 'bad-last-substructure', offset: 32 },
  { name: 'SA last transform marked "more" (3)', input: () => message(PT.SA, `00 00 0014 00 00 0010 01 01 00 01 03 00 0008 01 00 000c`), reason: 'bad-last-substructure', offset: 40 },
  { name: 'SA proposals numbered 1, 1', input: () => message(PT.SA, `00 00 0024 02 00 0010 01 01 00 01 ${TRANSFORM} 00 00 0010 01 01 00 01 ${TRANSFORM}`), reason: 'bad-proposal-number', offset: 52 },
  { name: 'SA proposal number 0', input: () => message(PT.SA, `00 00 0014 00 00 0010 00 01 00 01 ${TRANSFORM}`), reason: 'bad-proposal-number', offset: 36 },
  { name: 'SA Key Length in TLV form', input: () => message(PT.SA, `00 00 001a 00 00 0016 01 01 00 01 00 00 000e 01 00 000c 000e 0002 0100`), reason: 'bad-attribute', offset: 48 },
  { name: 'SA Key Length twice', input: () => message(PT.SA, `00 00 001c 00 00 0018 01 01 00 01 00 00 0010 01 00 000c 800e 0080 800e 0100`), reason: 'bad-attribute', offset: 52 },
  { name: 'SA attribute cut short', input: () => message(PT.SA, `00 00 0016 00 00 0012 01 01 00 01 00 00 000a 01 00 000c 800e`), reason: 'truncated' },
  { name: 'SPI size past the proposal', input: () => message(PT.SA, `00 00 0014 00 00 0010 01 03 10 01 ${TRANSFORM}`), reason: 'truncated' },
  { name: 'Notify SPI size past the payload', input: () => message(PT.N, '00 00 000a 03 08 4009 0102'), reason: 'truncated' },
  { name: 'Delete Num SPIs disagrees with the payload', input: () => message(PT.D, '00 00 000c 03 04 0002 0000a001'), reason: 'count-mismatch', offset: 34 },
  // found by fuzz/ (ike-message): 8 bytes decoded into 65,535 empty SPIs, 10 ms a datagram
  { name: 'Delete SPI Size 0 with Num SPIs 65535', input: () => message(PT.D, '00 00 0008 01 00 ffff'), reason: 'count-mismatch', offset: 34 },
  { name: 'CP attribute runs past the payload', input: () => message(PT.CP, '00 00 000c 01 000000 0001 0004'), reason: 'truncated' },
  { name: 'SK in the middle of the chain', input: () => message(PT.SK, '2b 00 0008 e5e5e5e5 00 00 0005 01'), reason: 'sk-not-last', offset: 28 },
  { name: 'garbage', input: () => hex('deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef'), reason: 'bad-major-version' },
];

describe('malformed IKE messages', () => {
  for (const c of table) {
    it(`${c.name} -> ${c.reason}`, () => rejects(() => decodeMessage(c.input()), c.reason, c.offset));
  }

  it('every truncation of the three fixtures, length field rewritten, is a WireError', () => {
    for (const full of [IKE_SA_INIT_REQUEST, IKE_AUTH_REQUEST, MIXED_PAYLOADS]) {
      for (let n = 0; n < full.length; n++) {
        const cut = full.slice(0, n);
        if (n >= 28) new DataView(cut.buffer).setUint32(24, n);
        let err: unknown;
        try {
          decodeMessage(cut);
        } catch (e) {
          err = e;
        }
        // cutting exactly at a payload boundary whose Next Payload is 0 would be valid,
        // but every fixture's last payload is the only one with Next Payload 0
        expect(err, `cut at ${n}`).toBeInstanceOf(WireError);
        expect(['truncated', 'bad-length', 'sk-not-last', 'bad-nonce-length', 'count-mismatch', 'bad-last-substructure']).toContain(
          (err as WireError).reason,
        );
      }
    }
  });

  it('decodePayloads reports offsets relative to baseOffset and refuses a nested SK', () => {
    rejects(() => decodePayloads(PT.V, hex('00 00 0003'), 100), 'bad-length', 102);
    rejects(() => decodePayloads(PT.SK, hex('00 00 0008 e5e5e5e5'), 40), 'nested-sk', 40);
  });
});
