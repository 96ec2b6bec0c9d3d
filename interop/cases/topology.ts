// Selector, NAT, transport-mode and Delete cases.
import type { InteropCase } from './types.js';

const both = ['initiator', 'responder'] as const;
const base = {
  roles: [...both],
  auth: 'psk' as const,
  ike: { tsvpn: ['aes256gcm16-prfsha256-x25519'] },
  esp: { tsvpn: ['aes256gcm16'] },
  expectIke: { encr: 'AES_GCM_16', keysize: 256, prf: 'PRF_HMAC_SHA2_256', dh: 'CURVE_25519' },
  expectEsp: { encr: 'AES_GCM_16', keysize: 256 },
};

export const topologyCases: InteropCase[] = [
  {
    ...base,
    name: 'selectors equal /25 subnets',
    ts: {
      tsvpnLocal: ['203.0.113.0/25'],
      tsvpnRemote: ['203.0.113.128/25'],
      ssLocal: ['203.0.113.128/25'],
      ssRemote: ['203.0.113.0/25'],
      expectSsLocal: ['203.0.113.128/25'],
      expectSsRemote: ['203.0.113.0/25'],
    },
  },
  {
    // RFC 7296 §2.9: tsvpn asks for the whole /25 on the far side; strongSwan only has one
    // host there, so the result is narrowed to it (by strongSwan as responder, by tsvpn
    // accepting strongSwan's narrower proposal as responder).
    ...base,
    name: 'selectors tsvpn wider, narrowed',
    ts: {
      tsvpnLocal: ['203.0.113.0/25'],
      tsvpnRemote: ['203.0.113.128/25'],
      ssLocal: ['203.0.113.129/32'],
      ssRemote: ['203.0.113.0/25'],
      expectSsLocal: ['203.0.113.129/32'],
      expectSsRemote: ['203.0.113.0/25'],
    },
  },
  {
    ...base,
    name: 'selectors with protocol and port',
    ts: {
      tsvpnLocal: ['203.0.113.0/25[tcp]'],
      tsvpnRemote: ['203.0.113.128/25[tcp/5201]'],
      ssLocal: ['203.0.113.128/25[tcp/5201]'],
      ssRemote: ['203.0.113.0/25[tcp]'],
      expectSsLocal: ['203.0.113.128/25[tcp/5201]'],
      expectSsRemote: ['203.0.113.0/25[tcp]'],
    },
    traffic: { ping: false, tcpPort: 5201 },
  },
  {
    // RFC 7296 and RFC 4303 are address-family neutral: IKE over UDP/IPv6, ESP in UDP/IPv6
    // (libipsec's faked NAT, surprise 1), IPv4 inner selectors and traffic
    ...base,
    name: 'IPv6 outer addresses, IPv4 inner',
    topology: 'direct-ipv6',
  },
  // ID_IPV6_ADDR (RFC 7296 §3.5) is the outer IPv6 address; with a certificate it is an iPAddress SAN (RFC 4945 §3.1)
  { ...base, name: 'IPv6 outer, psk ipv6 id', topology: 'direct-ipv6', ids: 'ipv6' },
  { ...base, name: 'IPv6 outer, cert ecdsa-p256 ipv6 id', topology: 'direct-ipv6', ids: 'ipv6', auth: 'ecdsa' },
  {
    ...base,
    name: 'NAT tsvpn behind masquerade, float to 4500, keepalives',
    topology: 'tsvpn-behind-nat',
    keepalive: true,
  },
  {
    ...base,
    name: 'NAT strongSwan behind masquerade',
    topology: 'strongswan-behind-nat',
  },
  {
    ...base,
    name: 'transport mode (strongSwan libipsec refuses it)',
    roles: ['initiator'],
    mode: 'transport',
    note:
      "kernel-libipsec has no transport mode ('IPsec SA: unsupported mode'): strongSwan answers " +
      'IKE_AUTH with NO_PROPOSAL_CHOSEN for the Child SA; tsvpn must report it and keep no Child SA. ' +
      'Responder role left out: strongSwan would fail after installing nothing, with no defined outcome for tsvpn.',
    expectFailure: { row: ['F2', 'F4'], evidence: { initiator: [/NO_PROPOSAL_CHOSEN/] } },
  },
  {
    // a gateway config: any peer address, any identity the peer proves with the PSK
    ...base,
    name: 'responder with remote %any (address and id)',
    roles: ['responder'],
    tsvpnRemoteAny: true,
    note: 'responder only: %any cannot be initiated to (start must be "wait")',
  },
  {
    ...base,
    name: 'responder %any behind strongSwan NAT',
    roles: ['responder'],
    topology: 'strongswan-behind-nat',
    tsvpnRemoteAny: true,
  },
  // RFC 7296 §2.18: the new IKE SA inherits the Child SAs; Delete then goes over the new one
  { ...base, name: 'IKE SA rekey by strongSwan, then tsvpn down', ikeRekey: 'strongswan', teardown: 'tsvpn-down' },
  { ...base, name: 'IKE SA rekey by tsvpn, then swanctl --terminate', ikeRekey: 'tsvpn', teardown: 'swanctl-terminate' },
  // RFC 7296 §2.8.3: a new IKE SA authenticated from scratch replaces the old one, make-before-break
  { ...base, name: 'IKE SA reauthentication by tsvpn', reauth: 'tsvpn' },
  { ...base, name: 'IKE SA reauthentication by strongSwan', reauth: 'strongswan' },
  { ...base, name: 'Delete by tsvpn down', teardown: 'tsvpn-down' },
  { ...base, name: 'Delete by swanctl --terminate', teardown: 'swanctl-terminate' },
];
