// Authentication cases: certificates made with strongSwan's pki at run time (RSA-3072,
// ECDSA P-256, Ed25519) and each identity type (RFC 7296 §3.5).
import type { InteropCase } from './types.js';

const both = ['initiator', 'responder'] as const;
const base = {
  roles: [...both],
  ike: { tsvpn: ['aes256gcm16-prfsha256-x25519'] },
  esp: { tsvpn: ['aes256gcm16'] },
  expectIke: { encr: 'AES_GCM_16', keysize: 256, prf: 'PRF_HMAC_SHA2_256', dh: 'CURVE_25519' },
  expectEsp: { encr: 'AES_GCM_16', keysize: 256 },
};

export const authCases: InteropCase[] = [
  { ...base, name: 'cert rsa-3072 fqdn', auth: 'rsa', ids: 'fqdn' },
  { ...base, name: 'cert ecdsa-p256 fqdn', auth: 'ecdsa', ids: 'fqdn' },
  { ...base, name: 'cert ed25519 fqdn', auth: 'ed25519', ids: 'fqdn' },
  { ...base, name: 'cert ecdsa-p256 ipv4 id', auth: 'ecdsa', ids: 'ipv4' },
  { ...base, name: 'cert ecdsa-p256 email id', auth: 'ecdsa', ids: 'email' },
  { ...base, name: 'cert ecdsa-p256 dn id', auth: 'ecdsa', ids: 'dn' },
  { ...base, name: 'psk dn id', auth: 'psk', ids: 'dn' },
  { ...base, name: 'psk email id', auth: 'psk', ids: 'email' },
];
