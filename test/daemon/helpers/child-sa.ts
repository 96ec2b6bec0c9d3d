// A Child SA as the IKE side hands it to the daemon (src/ike/effects.ts ChildSaInfo): AES-GCM-256
// with keys of repeated octets, one tunnel between 198.51.100.1 and .2; tests override fields.
import type { ChildSaInfo } from '../../../src/ike/effects.js';
import { EncrId } from '../../../src/wire/constants.js';

export function childSaInfo(o: Partial<ChildSaInfo> = {}): ChildSaInfo {
  return {
    name: 'net',
    conn: 'net',
    spiIn: 0xc0000001,
    spiOut: 0xc0000002,
    proposal: 'aes256gcm16',
    encr: { id: EncrId.AES_GCM_16, keyLength: 256 },
    integ: 0,
    esn: false,
    keysIn: { encr: new Uint8Array(36).fill(1), integ: new Uint8Array(0) },
    keysOut: { encr: new Uint8Array(36).fill(2), integ: new Uint8Array(0) },
    mode: 'tunnel',
    localTs: ['192.0.2.0/24'],
    remoteTs: ['203.0.113.0/24'],
    local: { addr: '198.51.100.1', port: 500 },
    remote: { addr: '198.51.100.2', port: 500 },
    encap: false,
    ...o,
  };
}
