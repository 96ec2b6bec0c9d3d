// Failures tsvpn must name as failure-map rows (DESIGN.md) with evidence an operator can
// act on. Patterns are matched against JSON.stringify(status.lastFailure).
import type { InteropCase } from './types.js';

const both = ['initiator', 'responder'] as const;
const base = {
  auth: 'psk' as const,
  ike: { tsvpn: ['aes256gcm16-prfsha256-x25519'] },
  esp: { tsvpn: ['aes256gcm16'] },
};

export const failureCases: InteropCase[] = [
  {
    ...base,
    name: 'F2 no common IKE proposal',
    roles: [...both],
    ike: { tsvpn: ['aes256gcm16-prfsha256-x25519'], strongswan: ['aes128-sha256-ecp384'] },
    expectFailure: {
      row: 'F2',
      evidence: {
        // ours sent and the peer's NO_PROPOSAL_CHOSEN (RFC 7296 §2.7)
        initiator: [/aes256gcm16-prfsha256-x25519|AES_GCM_16.*CURVE_25519/i, /NO_PROPOSAL_CHOSEN/],
        // ours and theirs received
        responder: [/aes256gcm16-prfsha256-x25519|AES_GCM_16.*CURVE_25519/i, /aes128-sha256-ecp384|AES_CBC.*ECP_384|ecp384/i],
      },
    },
  },
  {
    ...base,
    name: 'F2 no common ESP proposal',
    roles: [...both],
    esp: { tsvpn: ['aes256gcm16'], strongswan: ['aes128-sha1'] },
    expectFailure: {
      row: 'F2',
      evidence: {
        initiator: [/aes256gcm16|AES_GCM_16/i, /NO_PROPOSAL_CHOSEN/],
        responder: [/aes256gcm16|AES_GCM_16/i, /aes128-sha1|AES_CBC|sha1/i],
      },
    },
  },
  {
    ...base,
    name: 'F3 wrong PSK',
    roles: [...both],
    fault: 'wrong-psk',
    expectFailure: {
      row: 'F3',
      evidence: {
        // strongSwan checks our AUTH first and answers AUTHENTICATION_FAILED (RFC 7296 §2.21.2)
        initiator: [/AUTHENTICATION_FAILED/],
        // we check the initiator's AUTH payload against our PSK
        responder: [/psk|AUTH/i],
      },
    },
  },
  {
    ...base,
    name: 'F3 wrong remote ID',
    roles: [...both],
    fault: 'wrong-id',
    expectFailure: {
      row: 'F3',
      evidence: {
        initiator: [/wrong\.example|AUTHENTICATION_FAILED/i],
        responder: [/wrong\.example/, /strongswan\.example/],
      },
    },
  },
  {
    ...base,
    name: 'F4 disjoint selectors',
    roles: [...both],
    ts: {
      tsvpnLocal: ['203.0.113.0/25'],
      tsvpnRemote: ['192.0.2.128/25'],
      ssLocal: ['203.0.113.128/25'],
      ssRemote: ['203.0.113.0/25'],
      expectSsLocal: [],
      expectSsRemote: [],
    },
    expectFailure: {
      row: 'F4',
      evidence: {
        // RFC 7296 §2.9: the responder answers TS_UNACCEPTABLE
        initiator: [/192\.0\.2\.128\/25/, /TS_UNACCEPTABLE/],
        responder: [/192\.0\.2\.128\/25/, /203\.0\.113\.128\/25/],
      },
    },
  },
  {
    ...base,
    name: 'F1 peer not running',
    roles: ['initiator'],
    fault: 'no-peer',
    note: 'initiator only: a responder with no peer simply waits',
    expectFailure: { row: 'F1', evidence: { initiator: [/198\.51\.100\.2/, /500/] } },
  },
];
