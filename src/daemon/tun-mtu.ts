// The TUN device's MTU when peer.json leaves it out: the largest inner packet whose ESP
// packet still fits the outer path, for the worst of the configured ESP proposals and
// with UDP encapsulation assumed (strongSwan peers always encapsulate; failure map F7).
import { createInteg, integKeyLength } from '../crypto/integ.js';
import { innerMtu, type EspSizes } from '../ipsec/mtu.js';
import { EncrId, TransformType } from '../wire/constants.js';
import type { Proposal } from '../wire/types.js';

const AEAD = { ivLength: 8, icvLength: 16, blockSize: 4 }; // RFC 4106 §3.1/§6, RFC 7634 §2
const AES_CBC = { ivLength: 16, blockSize: 16 }; // RFC 3602 §2.1, §3
const MIN_TUN_MTU = 576; // RFC 791: every IPv4 host accepts 576-byte datagrams
const IPV6_MIN_MTU = 1280; // RFC 8200 §5

/** ICV length of an integrity transform, as the datapath would use it. */
function icvLength(integId: number): number {
  const i = createInteg(integId, new Uint8Array(integKeyLength(integId)));
  const n = i.icvLength;
  i.dispose();
  return n;
}

/** The largest IV, ICV and block size any of the proposals can end up with. */
export function worstEspSizes(proposals: readonly Proposal[]): { ivLength: number; icvLength: number; blockSize: number } {
  const w = { ivLength: AEAD.ivLength, icvLength: AEAD.icvLength, blockSize: AEAD.blockSize };
  for (const p of proposals) {
    let maxIcv = 0;
    for (const t of p.transforms) if (t.type === TransformType.INTEG && t.id !== 0) maxIcv = Math.max(maxIcv, icvLength(t.id));
    for (const t of p.transforms) {
      if (t.type !== TransformType.ENCR) continue;
      if (t.id === EncrId.AES_CBC) {
        w.ivLength = Math.max(w.ivLength, AES_CBC.ivLength);
        w.blockSize = Math.max(w.blockSize, AES_CBC.blockSize);
        w.icvLength = Math.max(w.icvLength, maxIcv);
      }
    }
  }
  return w;
}

/** TUN MTU for an outer path MTU; never below what IPv4 (576) or, with IPv6 inside, IPv6 (1280) needs. */
export function deriveTunMtu(outerMtu: number, proposals: readonly Proposal[], o: { outerFamily: 4 | 6; mode: 'tunnel' | 'transport'; innerV6: boolean }): number {
  const sizes: EspSizes = { ...worstEspSizes(proposals), encap: true, outerFamily: o.outerFamily, mode: o.mode };
  const mtu = innerMtu(outerMtu, sizes);
  return Math.max(mtu, o.innerV6 ? IPV6_MIN_MTU : MIN_TUN_MTU);
}
