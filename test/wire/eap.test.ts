import { describe, expect, it } from 'vitest';
import { decodeEap, decodeMsChapV2, EapCode, EapType, encodeEap, encodeMsChapV2, MsChapV2Op } from '../../src/wire/eap.js';
import { WireError } from '../../src/wire/errors.js';
import { hex, toHex } from '../crypto/hex.js';

describe('EAP packets (RFC 3748 §4)', () => {
  it('Request/Identity with no data, Response/Identity "alice": decode, encode back, equal bytes', () => {
    const req = hex('01 07 0005 01');
    expect(decodeEap(req)).toEqual({ code: EapCode.REQUEST, id: 7, type: EapType.IDENTITY, data: new Uint8Array(0) });
    const resp = hex('02 07 000a 01 616c696365');
    const d = decodeEap(resp);
    expect(d).toEqual({ code: EapCode.RESPONSE, id: 7, type: EapType.IDENTITY, data: new TextEncoder().encode('alice') });
    expect(toHex(encodeEap(d))).toBe(toHex(resp));
    expect(toHex(encodeEap(decodeEap(req)))).toBe(toHex(req));
  });
  it('Success and Failure are four bytes', () => {
    expect(decodeEap(hex('03 09 0004'))).toEqual({ code: EapCode.SUCCESS, id: 9 });
    expect(toHex(encodeEap({ code: EapCode.FAILURE, id: 9 }))).toBe('04090004');
  });
  it('refuses a Length that disagrees with the payload, an unknown Code, a truncated header', () => {
    expect(() => decodeEap(hex('02 07 000b 01 616c696365'))).toThrow(WireError);
    expect(() => decodeEap(hex('03 09 0005 00'))).toThrow(WireError);
    expect(() => decodeEap(hex('05 09 0005 01'))).toThrow(/bad-eap|EAP/);
    expect(() => decodeEap(hex('01 07 00'))).toThrow(WireError);
  });
});

describe('EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2-02 §2)', () => {
  const challenge = hex('5B5D7C7D7B3F2F3E3C2C602132262628');
  it('Challenge with the authenticator name: byte fixture', () => {
    const bytes = hex('01 2a 0018 10 5B5D7C7D7B3F2F3E3C2C602132262628 677731');
    const d = decodeMsChapV2(bytes);
    expect(d).toEqual({ op: MsChapV2Op.CHALLENGE, msId: 0x2a, challenge, name: new TextEncoder().encode('gw1') });
    expect(toHex(encodeMsChapV2(d))).toBe(toHex(bytes));
  });
  it('Response: Peer-Challenge, 8 reserved zeros, NT-Response, Flags, Name', () => {
    const bytes = hex('02 2a 003a 31 21402324255E262A28295F2B3A337C7E 0000000000000000 82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF 00 55736572');
    const d = decodeMsChapV2(bytes);
    expect(d).toMatchObject({ op: MsChapV2Op.RESPONSE, msId: 0x2a, flags: 0, name: new TextEncoder().encode('User') });
    expect(toHex(encodeMsChapV2(d))).toBe(toHex(bytes));
  });
  it('Success / Failure requests carry text; the peer acknowledges with the OpCode alone', () => {
    const s = { op: MsChapV2Op.SUCCESS, msId: 0x2a, message: 'S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Welcome' } as const;
    expect(decodeMsChapV2(encodeMsChapV2(s))).toEqual(s);
    expect(toHex(encodeMsChapV2({ op: MsChapV2Op.FAILURE, ack: true }))).toBe('04');
    expect(decodeMsChapV2(hex('03'))).toEqual({ op: MsChapV2Op.SUCCESS, ack: true });
  });
  it('refuses a wrong Value-Size, a wrong MS-Length and Change-Password', () => {
    expect(() => decodeMsChapV2(hex('01 2a 0009 08 0102030405'))).toThrow(WireError);
    expect(() => decodeMsChapV2(hex('01 2a 0099 10 5B5D7C7D7B3F2F3E3C2C602132262628'))).toThrow(WireError);
    expect(() => decodeMsChapV2(hex('07 2a 0005 00'))).toThrow(WireError);
    expect(() => decodeMsChapV2(hex('02'))).toThrow(WireError);
  });
});
