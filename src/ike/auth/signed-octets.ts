// The octets an IKE_AUTH signature or MAC covers (RFC 7296 §2.15).
import { prf } from '../../crypto/prf.js';
import { concat } from './der.js';

/** RFC 7296 §3.5: the ID payload body after the generic header is ID Type | RESERVED(3) | data. */
export function restOfIdPayload(idType: number, idData: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + idData.length);
  out[0] = idType; // RFC 7296 §3.5: 1-octet ID Type, then three RESERVED octets that are zero
  out.set(idData, 4);
  return out;
}

export interface SignedOctetsInput {
  /** The signer's own IKE_SA_INIT message (request for the initiator, response for the responder), as sent. */
  firstMessage: Uint8Array;
  /** The other side's nonce: Nr for the initiator, Ni for the responder. */
  peerNonce: Uint8Array;
  prfId: number;
  /** The signer's SK_pi (initiator) or SK_pr (responder). */
  skP: Uint8Array;
  /** The signer's own ID payload type and data. */
  idType: number;
  idData: Uint8Array;
}

/**
 * RFC 7296 §2.15:
 *   InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
 *   MACedIDForI = prf(SK_pi, RestOfInitIDPayload)
 * and the same for the responder with RealMessage2, NonceIData, SK_pr and IDr.
 */
export function signedOctets(o: SignedOctetsInput): Uint8Array {
  const maced = prf(o.prfId, o.skP, restOfIdPayload(o.idType, o.idData));
  return concat(o.firstMessage, o.peerNonce, maced);
}
