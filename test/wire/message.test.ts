// RFC 7296 §3.1 header and whole messages: hand-written fixtures decode to the expected
// records and encode back to the same bytes; SK stays sealed with the right AAD.
import { describe, it, expect } from 'vitest';
import {
  decodeHeader,
  decodeMessage,
  encodeMessage,
  encodeSkPrefix,
  payloadTypeOf,
} from '../../src/wire/message.js';
import { ExchangeType, NotifyType, PayloadType as PT } from '../../src/wire/constants.js';
import { WireError } from '../../src/wire/errors.js';
import { IKE_AUTH_REQUEST, IKE_SA_INIT_REQUEST, MIXED_PAYLOADS } from './fixtures.js';
import { hex, fill } from './hex.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('IKE header (RFC 7296 §3.1)', () => {
  it('decodes SPIs, version, exchange, flags, message ID and length', () => {
    const h = decodeHeader(IKE_SA_INIT_REQUEST);
    expect(h).toEqual({
      spiI: hex('0102030405060708'),
      spiR: new Uint8Array(8),
      nextPayload: PT.SA,
      majorVersion: 2,
      minorVersion: 0,
      exchangeType: ExchangeType.IKE_SA_INIT,
      flags: { initiator: true, version: false, response: false },
      messageId: 0,
      length: 208,
    });
  });

  it('reads the R and V flags and a large message ID', () => {
    const b = hex('0000000000000001 0000000000000002 00 20 25 30 fffffffe 0000001c');
    const h = decodeHeader(b);
    expect(h.flags).toEqual({ initiator: false, version: true, response: true });
    expect(h.messageId).toBe(0xfffffffe);
    expect(h.exchangeType).toBe(ExchangeType.INFORMATIONAL);
  });

  it('refuses major version 1 and 3 with bad-major-version at the version byte', () => {
    for (const v of [0x10, 0x30]) {
      const b = IKE_SA_INIT_REQUEST.slice();
      b[17] = v;
      expect(() => decodeHeader(b)).toThrow(expect.objectContaining({ reason: 'bad-major-version', offset: 17 }));
    }
  });

  it('accepts a higher minor version (RFC 7296 §2.5)', () => {
    const b = IKE_SA_INIT_REQUEST.slice();
    b[17] = 0x21;
    expect(decodeHeader(b).minorVersion).toBe(1);
  });

  it('refuses a length field that differs from the datagram length', () => {
    const longer = new Uint8Array(IKE_SA_INIT_REQUEST.length + 1);
    longer.set(IKE_SA_INIT_REQUEST);
    expect(() => decodeHeader(longer)).toThrow(expect.objectContaining({ reason: 'length-mismatch', offset: 24 }));
  });
});

describe('whole messages', () => {
  it('IKE_SA_INIT request: SA, KE, Nonce, two NAT-D notifies; encodes back byte for byte', () => {
    const m = decodeMessage(IKE_SA_INIT_REQUEST);
    expect(m.payloads.map((p) => p.kind)).toEqual(['SA', 'KE', 'NONCE', 'N', 'N']);
    const [sa, ke, nonce, nSrc, nDst] = m.payloads;
    expect(sa.kind === 'SA' && sa.proposals[0].transforms[0]).toEqual({ type: 1, id: 12, keyLength: 256 });
    expect(ke).toEqual({ kind: 'KE', critical: false, group: 31, data: fill(32, 0x11) });
    expect(nonce).toEqual({ kind: 'NONCE', critical: false, data: fill(32, 0x77) });
    expect(nSrc.kind === 'N' && nSrc.notifyType).toBe(NotifyType.NAT_DETECTION_SOURCE_IP);
    expect(nDst.kind === 'N' && nDst.notifyType).toBe(NotifyType.NAT_DETECTION_DESTINATION_IP);

    const { length: _l, nextPayload: _n, ...fields } = m.header;
    expect(toHex(encodeMessage(fields, m.payloads))).toBe(toHex(IKE_SA_INIT_REQUEST));
  });

  it('IKE_AUTH request: SK stays sealed, AAD is header + SK generic header (RFC 7296 §3.14, RFC 5282 §5.1)', () => {
    const m = decodeMessage(IKE_AUTH_REQUEST);
    expect(m.payloads).toHaveLength(1);
    const sk = m.payloads[0];
    expect(sk.kind).toBe('SK');
    if (sk.kind !== 'SK') return;
    expect(sk.firstInner).toBe(PT.IDi);
    expect(sk.aad).toEqual(IKE_AUTH_REQUEST.subarray(0, 32));
    expect(sk.body).toEqual(fill(40, 0xe5));

    const { length: _l, nextPayload: _n, ...fields } = m.header;
    const prefix = encodeSkPrefix(fields, PT.IDi, sk.body.length);
    expect(toHex(prefix)).toBe(toHex(sk.aad));
    const whole = new Uint8Array(prefix.length + sk.body.length);
    whole.set(prefix);
    whole.set(sk.body, prefix.length);
    expect(toHex(whole)).toBe(toHex(IKE_AUTH_REQUEST));
  });

  it('a mixed INFORMATIONAL-style chain with an unknown non-critical payload round-trips', () => {
    const m = decodeMessage(MIXED_PAYLOADS);
    expect(m.payloads.map((p) => p.kind)).toEqual(['D', 'TSi', 'TSr', 'CP', 'V', 'UNKNOWN', 'EAP']);
    expect(m.payloads.map(payloadTypeOf)).toEqual([PT.D, PT.TSi, PT.TSr, PT.CP, PT.V, 200, PT.EAP]);
    const { length: _l, nextPayload: _n, ...fields } = m.header;
    expect(toHex(encodeMessage(fields, m.payloads))).toBe(toHex(MIXED_PAYLOADS));
  });

  it('an empty INFORMATIONAL (liveness check) is a header only', () => {
    const bytes = encodeMessage(
      {
        spiI: fill(8, 1),
        spiR: fill(8, 2),
        majorVersion: 2,
        minorVersion: 0,
        exchangeType: ExchangeType.INFORMATIONAL,
        flags: { initiator: true, version: false, response: false },
        messageId: 7,
      },
      [],
    );
    expect(toHex(bytes)).toBe('0101010101010101' + '0202020202020202' + '00202508' + '00000007' + '0000001c');
    expect(decodeMessage(bytes).payloads).toEqual([]);
  });

  it('SK followed by another payload is refused (RFC 7296 §3.14: SK is last)', () => {
    // SK (next V) length 8, then a V payload: the SK no longer extends to the end
    const b = hex(`
      0102030405060708 a1a2a3a4a5a6a7a8 2e 20 23 08 00000001 0000002c
      2b 00 0008  e5e5e5e5
      00 00 0008  01020304
    `);
    expect(() => decodeMessage(b)).toThrow(expect.objectContaining({ reason: 'sk-not-last', offset: 28 }));
  });

  it('errors are WireError with a message naming reason and offset, never payload bytes', () => {
    const b = IKE_SA_INIT_REQUEST.slice();
    b[28 + 2] = 0;
    b[28 + 3] = 3; // SA payload length 3
    try {
      decodeMessage(b);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(WireError);
      expect((e as WireError).message).toBe('wire: bad-length at offset 30 (payload)');
    }
  });
});
