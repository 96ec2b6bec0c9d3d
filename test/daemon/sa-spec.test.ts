// From the Child SA the IKE side agreed to the two SAD entries (src/daemon/sa-spec.ts): the
// ESP cipher of each direction with that direction's keys, a clear error for a transform
// without an ESP implementation, and the outer path: raw ESP without NAT, ESP in UDP to the
// peer's (maybe NAT-mapped) port with NAT-T (RFC 3948), or to 4500 when UDP is forced.
import { describe, expect, it } from 'vitest';
import { cipherSpecOf, saSpecsOf, UnsupportedEspError } from '../../src/daemon/sa-spec.js';
import { EncrId, IntegId } from '../../src/wire/constants.js';
import { childSaInfo as child } from './helpers/child-sa.js';


describe('Child SA -> SAD specs', () => {
  it('maps AES-GCM-16, ChaCha20-Poly1305 and AES-CBC with its HMAC, each direction with its own keys', () => {
    const gcm = child();
    expect(cipherSpecOf(gcm, 'in')).toEqual({ kind: 'aead', alg: 'aes-gcm-16', keyWithSalt: gcm.keysIn.encr });
    expect(cipherSpecOf(gcm, 'out')).toEqual({ kind: 'aead', alg: 'aes-gcm-16', keyWithSalt: gcm.keysOut.encr });
    expect(cipherSpecOf(child({ encr: { id: EncrId.CHACHA20_POLY1305 } }), 'in')).toMatchObject({ kind: 'aead', alg: 'chacha20-poly1305' });
    const cbc = child({ encr: { id: EncrId.AES_CBC, keyLength: 128 }, integ: IntegId.HMAC_SHA2_256_128, keysOut: { encr: new Uint8Array(16).fill(3), integ: new Uint8Array(32).fill(4) } });
    expect(cipherSpecOf(cbc, 'out')).toEqual({ kind: 'cbc', encrKey: cbc.keysOut.encr, integId: IntegId.HMAC_SHA2_256_128, integKey: cbc.keysOut.integ });
  });

  it('refuses a transform with no ESP implementation, naming it and the proposal', () => {
    expect(() => cipherSpecOf(child({ encr: { id: EncrId.AES_CCM_16 }, proposal: 'aes128ccm16' }), 'in')).toThrow(UnsupportedEspError);
    expect(() => cipherSpecOf(child({ encr: { id: EncrId.AES_CCM_16 }, proposal: 'aes128ccm16' }), 'in')).toThrow(/transform 16 .*aes128ccm16/);
  });

  it('without NAT: raw ESP to the peer; both SAs carry the same path, SPIs, mode and selectors', () => {
    const s = saSpecsOf(child(), false);
    expect(s.out.outer).toEqual({ addr: '198.51.100.2', port: 4500, encap: false });
    expect(s.in.outer).toEqual(s.out.outer);
    expect([s.in.spi, s.out.spi]).toEqual([0xc0000001, 0xc0000002]);
    expect(s.out.mode).toBe('tunnel');
    expect(s.out.localSelectors).toEqual(s.in.localSelectors);
    expect(Array.from(s.out.remoteAddress)).toEqual([198, 51, 100, 2]);
  });

  it('with NAT-T: ESP in UDP to the port the IKE SA floated to (the NAT mapping, RFC 3948)', () => {
    const s = saSpecsOf(child({ encap: true, remote: { addr: '198.51.100.2', port: 61234 } }), false);
    expect(s.out.outer).toEqual({ addr: '198.51.100.2', port: 61234, encap: true });
  });

  it('UDP forced (encap "udp", or no raw socket) without NAT: ESP in UDP to port 4500', () => {
    expect(saSpecsOf(child(), true).out.outer).toEqual({ addr: '198.51.100.2', port: 4500, encap: true });
  });
});
