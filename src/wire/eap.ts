// EAP packets (RFC 3748 §4), carried in IKEv2's EAP payload (RFC 7296 §3.16), and the
// EAP-MSCHAPv2 method data inside them (draft-kamath-pppext-eap-mschapv2-02 §2).
import { Builder } from './builder.js';
import { WireError } from './errors.js';
import { Reader } from './reader.js';

// RFC 3748 §4: Code
export const EapCode = { REQUEST: 1, RESPONSE: 2, SUCCESS: 3, FAILURE: 4 } as const;
// RFC 3748 §5 and IANA "Method Types": the ones tsvpn speaks
export const EapType = { IDENTITY: 1, NAK: 3, MSCHAPV2: 26 } as const;
export const EAP_TYPE_NAMES: Record<number, string> = { 1: 'Identity', 3: 'Nak', 26: 'MSCHAPv2' };

// RFC 3748 §4.1 Request and Response
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |     Code      |  Identifier   |            Length             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |     Type      |  Type-Data ...
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// RFC 3748 §4.2 Success and Failure: Code, Identifier, Length (4) and nothing else
export type EapPacket =
  | { code: typeof EapCode.REQUEST | typeof EapCode.RESPONSE; id: number; type: number; data: Uint8Array }
  | { code: typeof EapCode.SUCCESS | typeof EapCode.FAILURE; id: number };

export function decodeEap(bytes: Uint8Array): EapPacket {
  const r = new Reader(bytes);
  const code = r.u8();
  const id = r.u8();
  const length = r.u16();
  // RFC 3748 §4.1: "Octets outside the range of the Length field should be treated as Data Link Layer padding"; in an IKE payload there are none
  if (length !== bytes.length) throw new WireError('bad-length', 2);
  if (code === EapCode.SUCCESS || code === EapCode.FAILURE) {
    if (length !== 4) throw new WireError('bad-length', 2); // RFC 3748 §4.2: Length is 4
    return { code, id };
  }
  if (code !== EapCode.REQUEST && code !== EapCode.RESPONSE) throw new WireError('bad-eap', 0);
  const type = r.u8();
  return { code, id, type, data: r.rest() };
}

export function encodeEap(p: EapPacket): Uint8Array {
  const b = new Builder(64);
  b.u8(p.code).u8(p.id);
  const len = b.placeholder16();
  if (p.code === EapCode.REQUEST || p.code === EapCode.RESPONSE) b.u8(p.type).bytes(p.data);
  b.fillLength16(len, 0);
  return b.finish();
}

// draft-kamath-pppext-eap-mschapv2-02 §2: the OpCodes
export const MsChapV2Op = { CHALLENGE: 1, RESPONSE: 2, SUCCESS: 3, FAILURE: 4, CHANGE_PASSWORD: 7 } as const;
// RFC 2759 §4, §5: the Value-Size of a Challenge (16) and a Response (49)
export const MSCHAPV2_CHALLENGE_SIZE = 16;
export const MSCHAPV2_RESPONSE_SIZE = 49;

// draft-kamath-pppext-eap-mschapv2-02 §2 (after EAP Type 26), for every packet of the authenticator
// and for the peer's Response; MS-Length is the EAP Length minus 5 (it counts from OpCode on)
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |    OpCode     |  MS-CHAPv2-ID |           MS-Length           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Value-Size   |  Value (Challenge 16 / Response 49) ...  | Name ...   (Challenge, Response)
// |  Message ...  ("S=<40 hex> M=<text>" for Success, "E=.. R=.. C=.. V=.. M=.." for Failure)
// The peer acknowledges a Success or Failure with the OpCode alone (one byte).
// Response Value: Peer-Challenge (16) | Reserved (8, zero) | NT-Response (24) | Flags (1, zero)
export type MsChapV2Packet =
  | { op: typeof MsChapV2Op.CHALLENGE; msId: number; challenge: Uint8Array; name: Uint8Array }
  | { op: typeof MsChapV2Op.RESPONSE; msId: number; peerChallenge: Uint8Array; ntResponse: Uint8Array; flags: number; name: Uint8Array }
  | { op: typeof MsChapV2Op.SUCCESS | typeof MsChapV2Op.FAILURE; msId: number; message: string }
  | { op: typeof MsChapV2Op.SUCCESS | typeof MsChapV2Op.FAILURE; ack: true };

/** Decode the Type-Data of an EAP-MSCHAPv2 packet. */
export function decodeMsChapV2(data: Uint8Array): MsChapV2Packet {
  const r = new Reader(data);
  const op = r.u8();
  if (data.length === 1) {
    if (op === MsChapV2Op.SUCCESS || op === MsChapV2Op.FAILURE) return { op, ack: true };
    throw new WireError('bad-eap', 0);
  }
  const msId = r.u8();
  const msLength = r.u16();
  if (msLength !== data.length) throw new WireError('bad-length', 2);
  switch (op) {
    case MsChapV2Op.CHALLENGE: {
      if (r.u8() !== MSCHAPV2_CHALLENGE_SIZE) throw new WireError('bad-eap', 4);
      return { op, msId, challenge: r.bytesCopy(MSCHAPV2_CHALLENGE_SIZE), name: r.rest() };
    }
    case MsChapV2Op.RESPONSE: {
      if (r.u8() !== MSCHAPV2_RESPONSE_SIZE) throw new WireError('bad-eap', 4);
      const peerChallenge = r.bytesCopy(16);
      r.skip(8);
      const ntResponse = r.bytesCopy(24);
      const flags = r.u8();
      return { op, msId, peerChallenge, ntResponse, flags, name: r.rest() };
    }
    case MsChapV2Op.SUCCESS:
    case MsChapV2Op.FAILURE:
      return { op, msId, message: new TextDecoder().decode(r.rest()) };
    default:
      throw new WireError('bad-eap', 0); // Change-Password and unknown OpCodes are not supported
  }
}

export function encodeMsChapV2(p: MsChapV2Packet): Uint8Array {
  const b = new Builder(64);
  b.u8(p.op);
  if ('ack' in p) return b.finish();
  b.u8(p.msId);
  const len = b.placeholder16();
  if (p.op === MsChapV2Op.CHALLENGE) b.u8(MSCHAPV2_CHALLENGE_SIZE).bytes(p.challenge).bytes(p.name);
  else if (p.op === MsChapV2Op.RESPONSE) b.u8(MSCHAPV2_RESPONSE_SIZE).bytes(p.peerChallenge).zeros(8).bytes(p.ntResponse).u8(p.flags).bytes(p.name);
  else b.bytes(new TextEncoder().encode(p.message));
  b.fillLength16(len, 0);
  return b.finish();
}
