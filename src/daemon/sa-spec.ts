// From a Child SA the IKE side agreed (src/ike/effects.ts ChildSaInfo) to the two ESP SAs
// the SAD holds (src/ipsec/sad.ts SaSpec): the cipher of each direction, the outer path
// (raw ESP or ESP in UDP), addresses, selectors and replay window.
import type { ChildSaInfo } from '../ike/effects.js';
import type { EspCipherSpec } from '../ipsec/esp-transform.js';
import type { OuterPath, SaSpec } from '../ipsec/sad.js';
import { EncrId, NAT_T_PORT } from '../wire/constants.js';
import { ipToBytes, parseSelector } from '../wire/selectors.js';

export class UnsupportedEspError extends Error {
  override name = 'UnsupportedEspError';
}

/** The ESP transform for one direction of a Child SA (ENCR ids: RFC 7296 §3.3.2, IANA). */
export function cipherSpecOf(info: ChildSaInfo, dir: 'in' | 'out'): EspCipherSpec {
  const k = dir === 'in' ? info.keysIn : info.keysOut;
  switch (info.encr.id) {
    case EncrId.AES_GCM_16: // RFC 4106: key | 4-octet salt
      return { kind: 'aead', alg: 'aes-gcm-16', keyWithSalt: k.encr };
    case EncrId.CHACHA20_POLY1305: // RFC 7634 §2: key | 4-octet salt
      return { kind: 'aead', alg: 'chacha20-poly1305', keyWithSalt: k.encr };
    case EncrId.AES_CBC: // RFC 3602 with an RFC 4868 / RFC 2404 HMAC
      return { kind: 'cbc', encrKey: k.encr, integId: info.integ, integKey: k.integ };
    default:
      throw new UnsupportedEspError(`ESP encryption transform ${info.encr.id} is not implemented (${info.proposal})`);
  }
}

/** The outer path of a Child SA's ESP: UDP 4500 when encapsulated (RFC 3948), else raw. */
export function outerPathOf(info: ChildSaInfo, forceEncap: boolean): OuterPath {
  const encap = info.encap || forceEncap;
  // with NAT-T the IKE SA floated and `remote.port` is the peer's (maybe NAT-mapped) 4500 port
  const port = info.encap ? info.remote.port : NAT_T_PORT;
  return { addr: info.remote.addr, port, encap };
}

/** The SAD specs of a Child SA's inbound and outbound SA (one outer path, as two values). */
export function saSpecsOf(info: ChildSaInfo, forceEncap: boolean): { in: SaSpec; out: SaSpec } {
  const localSelectors = info.localTs.map(parseSelector);
  const remoteSelectors = info.remoteTs.map(parseSelector);
  const spec = (dir: 'in' | 'out'): SaSpec => ({
    spi: dir === 'in' ? info.spiIn : info.spiOut,
    mode: info.mode,
    cipher: cipherSpecOf(info, dir),
    esn: info.esn,
    localAddress: ipToBytes(info.local.addr),
    remoteAddress: ipToBytes(info.remote.addr),
    outer: outerPathOf(info, forceEncap),
    localSelectors,
    remoteSelectors,
    replayWindow: info.replayWindow,
  });
  return { in: spec('in'), out: spec('out') };
}
