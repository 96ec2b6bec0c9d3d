// Proposal cases (PSK): each IKE proposal of the matrix with one ESP proposal, a Child SA
// rekeyed with a PFS group, and lists where the responder's preference decides.
import type { InteropCase } from './types.js';

const both = ['initiator', 'responder'] as const;

export const proposalCases: InteropCase[] = [
  {
    name: 'psk aes256gcm16-prfsha256-x25519',
    roles: [...both],
    auth: 'psk',
    ike: { tsvpn: ['aes256gcm16-prfsha256-x25519'] },
    esp: { tsvpn: ['aes256gcm16'] },
    expectIke: { encr: 'AES_GCM_16', keysize: 256, prf: 'PRF_HMAC_SHA2_256', dh: 'CURVE_25519' },
    expectEsp: { encr: 'AES_GCM_16', keysize: 256 },
  },
  {
    name: 'psk aes128gcm16-prfsha256-ecp256',
    roles: [...both],
    auth: 'psk',
    ike: { tsvpn: ['aes128gcm16-prfsha256-ecp256'] },
    esp: { tsvpn: ['aes128gcm16'] },
    expectIke: { encr: 'AES_GCM_16', keysize: 128, prf: 'PRF_HMAC_SHA2_256', dh: 'ECP_256' },
    expectEsp: { encr: 'AES_GCM_16', keysize: 128 },
  },
  {
    name: 'psk chacha20poly1305-prfsha256-x25519',
    roles: [...both],
    auth: 'psk',
    ike: { tsvpn: ['chacha20poly1305-prfsha256-x25519'] },
    esp: { tsvpn: ['chacha20poly1305'] },
    expectIke: { encr: 'CHACHA20_POLY1305', prf: 'PRF_HMAC_SHA2_256', dh: 'CURVE_25519' },
    expectEsp: { encr: 'CHACHA20_POLY1305' },
  },
  {
    name: 'psk aes256-sha256-modp2048',
    roles: [...both],
    auth: 'psk',
    ike: { tsvpn: ['aes256-sha256-modp2048'] },
    esp: { tsvpn: ['aes256-sha256'] },
    expectIke: { encr: 'AES_CBC', keysize: 256, integ: 'HMAC_SHA2_256_128', prf: 'PRF_HMAC_SHA2_256', dh: 'MODP_2048' },
    expectEsp: { encr: 'AES_CBC', keysize: 256, integ: 'HMAC_SHA2_256_128' },
  },
  {
    name: 'psk aes256gcm16-prfsha384-ecp384',
    roles: [...both],
    auth: 'psk',
    ike: { tsvpn: ['aes256gcm16-prfsha384-ecp384'] },
    esp: { tsvpn: ['aes256gcm16'] },
    expectIke: { encr: 'AES_GCM_16', keysize: 256, prf: 'PRF_HMAC_SHA2_384', dh: 'ECP_384' },
    expectEsp: { encr: 'AES_GCM_16', keysize: 256 },
  },
  {
    // RFC 7296 §1.2: the Child SA made in IKE_AUTH has no KE; the PFS group is used when
    // the Child SA is rekeyed with CREATE_CHILD_SA (§1.3.3), which strongSwan starts here.
    name: 'psk esp aes256gcm16-ecp256 (PFS at rekey)',
    roles: [...both],
    auth: 'psk',
    ike: { tsvpn: ['aes256gcm16-prfsha256-x25519'] },
    esp: { tsvpn: ['aes256gcm16-ecp256'] },
    rekey: 'strongswan',
    expectIke: { encr: 'AES_GCM_16', keysize: 256, prf: 'PRF_HMAC_SHA2_256', dh: 'CURVE_25519' },
    expectEsp: { encr: 'AES_GCM_16', keysize: 256, dh: 'ECP_256' },
  },
  {
    // the same without a PFS group: KEYMAT = prf+(SK_d, Ni | Nr) of the CREATE_CHILD_SA
    // exchange (RFC 7296 §2.17), strongSwan starting the exchange in both IKE roles
    name: 'psk Child SA rekey without PFS',
    roles: [...both],
    auth: 'psk',
    ike: { tsvpn: ['aes256gcm16-prfsha256-x25519'] },
    esp: { tsvpn: ['aes256gcm16'] },
    rekey: 'strongswan',
    expectIke: { encr: 'AES_GCM_16', keysize: 256, prf: 'PRF_HMAC_SHA2_256', dh: 'CURVE_25519' },
    expectEsp: { encr: 'AES_GCM_16', keysize: 256 },
  },
  {
    // tsvpn's own rekey timer (child.rekey 10s): tsvpn starts CREATE_CHILD_SA with PFS
    name: 'psk Child SA rekey started by tsvpn (PFS ecp256)',
    roles: [...both],
    auth: 'psk',
    ike: { tsvpn: ['aes256gcm16-prfsha256-x25519'] },
    esp: { tsvpn: ['aes256gcm16-ecp256'] },
    rekey: 'tsvpn',
    expectIke: { encr: 'AES_GCM_16', keysize: 256, prf: 'PRF_HMAC_SHA2_256', dh: 'CURVE_25519' },
    expectEsp: { encr: 'AES_GCM_16', keysize: 256, dh: 'ECP_256' },
  },
  {
    // RFC 7296 §2.7: the responder picks one of the initiator's proposals. Same DH group in
    // all of them, so only preference (not the KE already sent) decides: strongSwan's order
    // when it responds, tsvpn's when tsvpn responds.
    name: 'psk several proposals, responder preference decides',
    roles: [...both],
    auth: 'psk',
    ike: {
      tsvpn: ['aes128gcm16-prfsha256-x25519', 'aes256gcm16-prfsha256-x25519'],
      strongswan: ['aes256gcm16-prfsha256-x25519', 'aes128gcm16-prfsha256-x25519'],
    },
    esp: { tsvpn: ['aes128gcm16', 'aes256gcm16'], strongswan: ['aes256gcm16', 'aes128gcm16'] },
    expectIke: {
      initiator: { encr: 'AES_GCM_16', keysize: 256, prf: 'PRF_HMAC_SHA2_256', dh: 'CURVE_25519' },
      responder: { encr: 'AES_GCM_16', keysize: 128, prf: 'PRF_HMAC_SHA2_256', dh: 'CURVE_25519' },
    },
    expectEsp: {
      initiator: { encr: 'AES_GCM_16', keysize: 256 },
      responder: { encr: 'AES_GCM_16', keysize: 128 },
    },
  },
  {
    // Groups in different order. As initiator tsvpn sends a KE for its first group (ecp256);
    // strongSwan prefers x25519 and answers INVALID_KE_PAYLOAD (RFC 7296 §1.2), tsvpn retries.
    // As responder tsvpn takes the proposal whose group matches the KE strongSwan already
    // sent (a documented tsvpn choice, saving a round trip), so x25519 either way.
    name: 'psk DH groups in different order (INVALID_KE_PAYLOAD retry)',
    roles: [...both],
    auth: 'psk',
    ike: {
      tsvpn: ['aes256gcm16-prfsha256-ecp256', 'aes256gcm16-prfsha256-x25519'],
      strongswan: ['aes256gcm16-prfsha256-x25519', 'aes256gcm16-prfsha256-ecp256'],
    },
    esp: { tsvpn: ['aes256gcm16'] },
    expectIke: { encr: 'AES_GCM_16', keysize: 256, prf: 'PRF_HMAC_SHA2_256', dh: 'CURVE_25519' },
    expectEsp: { encr: 'AES_GCM_16', keysize: 256 },
  },
];
