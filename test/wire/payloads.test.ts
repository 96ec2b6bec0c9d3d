// Every payload of RFC 7296 §3.2–3.16 against a fixture written by hand from the RFC field
// diagram: decode gives the expected record, encode gives back the same bytes.
import { describe, it, expect } from 'vitest';
import { decodePayloads, encodePayloads } from '../../src/wire/message.js';
import { PayloadType as PT, EncrId, PrfId, IntegId, DhGroup, ProtocolId, TransformType, NotifyType } from '../../src/wire/constants.js';
import type { Payload } from '../../src/wire/types.js';
import { hex, fill, ascii } from './hex.js';

interface Case {
  name: string;
  type: number;
  bytes: Uint8Array;
  record: Payload;
}

const cases: Case[] = [
  {
    name: 'SA: IKE proposal (AES-CBC-256, SHA2-256, x25519) and ESP proposal (AES-GCM-16-128, no ESN)',
    type: PT.SA,
    bytes: hex(`
      00 00 0050        # generic header: next none, C=0, length 80
      02 00 002c        # proposal: more follow (2), length 44
      01 01 00 04       # proposal #1, IKE, SPI size 0, 4 transforms
      03 00 000c 01 00 000c   800e 0100   # ENCR AES_CBC, Key Length (TV, 14) = 256
      03 00 0008 02 00 0005               # PRF HMAC_SHA2_256
      03 00 0008 03 00 000c               # INTEG HMAC_SHA2_256_128
      00 00 0008 04 00 001f               # DH Curve25519, last transform
      00 00 0020        # proposal: last (0), length 32
      02 03 04 02       # proposal #2, ESP, SPI size 4, 2 transforms
      c0 ff ee 01       # SPI
      03 00 000c 01 00 0014   800e 0080   # ENCR AES_GCM_16, Key Length = 128
      00 00 0008 05 00 0000               # ESN: no ESN
    `),
    record: {
      kind: 'SA',
      critical: false,
      proposals: [
        {
          number: 1,
          protocol: ProtocolId.IKE,
          spi: new Uint8Array(0),
          transforms: [
            { type: TransformType.ENCR, id: EncrId.AES_CBC, keyLength: 256 },
            { type: TransformType.PRF, id: PrfId.HMAC_SHA2_256 },
            { type: TransformType.INTEG, id: IntegId.HMAC_SHA2_256_128 },
            { type: TransformType.DH, id: DhGroup.CURVE25519 },
          ],
        },
        {
          number: 2,
          protocol: ProtocolId.ESP,
          spi: hex('c0ffee01'),
          transforms: [
            { type: TransformType.ENCR, id: EncrId.AES_GCM_16, keyLength: 128 },
            { type: TransformType.ESN, id: 0 },
          ],
        },
      ],
    },
  },
  {
    name: 'SA: transform with an unknown TLV attribute is kept',
    type: PT.SA,
    bytes: hex(`
      00 00 0018  00 00 0014  01 01 00 01
      00 00 000c 01 00 000c   0011 0000   # ENCR AES_CBC, attribute type 17, TLV, length 0
    `),
    record: {
      kind: 'SA',
      critical: false,
      proposals: [
        {
          number: 1,
          protocol: ProtocolId.IKE,
          spi: new Uint8Array(0),
          transforms: [{ type: 1, id: 12, otherAttributes: [{ type: 17, tv: false, value: new Uint8Array(0) }] }],
        },
      ],
    },
  },
  {
    name: 'KE: Curve25519, 32 bytes',
    type: PT.KE,
    bytes: hex(`00 00 0028  001f 0000 ${'11'.repeat(32)}`),
    record: { kind: 'KE', critical: false, group: 31, data: fill(32, 0x11) },
  },
  {
    name: 'IDi: ID_IPV4_ADDR 198.51.100.1',
    type: PT.IDi,
    bytes: hex('00 00 000c  01 000000  c6 33 64 01'),
    record: { kind: 'IDi', critical: false, idType: 1, data: hex('c6336401') },
  },
  {
    name: 'IDr: ID_FQDN example.com',
    type: PT.IDr,
    bytes: hex(`00 00 0013  02 000000  ${Buffer.from('example.com').toString('hex')}`),
    record: { kind: 'IDr', critical: false, idType: 2, data: ascii('example.com') },
  },
  {
    name: 'CERT: X.509 signature, opaque DER',
    type: PT.CERT,
    bytes: hex('00 00 0008  04  30 01 00'),
    record: { kind: 'CERT', critical: false, encoding: 4, data: hex('300100') },
  },
  {
    name: 'CERTREQ: X.509, one 20-byte CA key hash',
    type: PT.CERTREQ,
    bytes: hex(`00 00 0019  04  ${'ab'.repeat(20)}`),
    record: { kind: 'CERTREQ', critical: false, encoding: 4, data: fill(20, 0xab) },
  },
  {
    name: 'AUTH: shared key MIC, 32 bytes',
    type: PT.AUTH,
    bytes: hex(`00 00 0028  02 000000  ${'5a'.repeat(32)}`),
    record: { kind: 'AUTH', critical: false, method: 2, data: fill(32, 0x5a) },
  },
  {
    name: 'Nonce: 32 bytes',
    type: PT.NONCE,
    bytes: hex(`00 00 0024  ${'77'.repeat(32)}`),
    record: { kind: 'NONCE', critical: false, data: fill(32, 0x77) },
  },
  {
    name: 'Notify: NAT_DETECTION_SOURCE_IP with a 20-byte hash, no SPI',
    type: PT.N,
    bytes: hex(`00 00 001c  00 00 4004  ${'99'.repeat(20)}`),
    record: {
      kind: 'N',
      critical: false,
      protocol: 0,
      spi: new Uint8Array(0),
      notifyType: NotifyType.NAT_DETECTION_SOURCE_IP,
      data: fill(20, 0x99),
    },
  },
  {
    name: 'Notify: REKEY_SA for an ESP SPI, no data',
    type: PT.N,
    bytes: hex('00 00 000c  03 04 4009  12 34 56 78'),
    record: { kind: 'N', critical: false, protocol: 3, spi: hex('12345678'), notifyType: 16393, data: new Uint8Array(0) },
  },
  {
    name: 'Delete: two ESP SPIs',
    type: PT.D,
    bytes: hex('00 00 0010  03 04 0002  0000a001 0000a002'),
    record: { kind: 'D', critical: false, protocol: 3, spiSize: 4, spis: [hex('0000a001'), hex('0000a002')] },
  },
  {
    name: 'Delete: the IKE SA (no SPI)',
    type: PT.D,
    bytes: hex('00 00 0008  01 00 0000'),
    record: { kind: 'D', critical: false, protocol: 1, spiSize: 0, spis: [] },
  },
  {
    name: 'Vendor ID: 16 bytes',
    type: PT.V,
    bytes: hex(`00 00 0014  ${'0f'.repeat(16)}`),
    record: { kind: 'V', critical: false, data: fill(16, 0x0f) },
  },
  {
    name: 'TSi: one IPv4 range 192.0.2.0-192.0.2.255, any protocol, all ports',
    type: PT.TSi,
    bytes: hex(`
      00 00 0018  01 000000
      07 00 0010  0000 ffff  c0 00 02 00  c0 00 02 ff
    `),
    record: {
      kind: 'TSi',
      critical: false,
      selectors: [
        { tsType: 7, ipProtocol: 0, startPort: 0, endPort: 65535, startAddr: hex('c0000200'), endAddr: hex('c00002ff') },
      ],
    },
  },
  {
    name: 'TSr: IPv4 host and IPv6 2001:db8::/32 TCP 443',
    type: PT.TSr,
    bytes: hex(`
      00 00 0040  02 000000
      07 11 0010  1194 1194  cb 00 71 05  cb 00 71 05               # UDP 4500, 203.0.113.5
      08 06 0028  01bb 01bb                                           # TCP 443
      20010db8 00000000 00000000 00000000  20010db8 ffffffff ffffffff ffffffff
    `),
    record: {
      kind: 'TSr',
      critical: false,
      selectors: [
        { tsType: 7, ipProtocol: 17, startPort: 4500, endPort: 4500, startAddr: hex('cb007105'), endAddr: hex('cb007105') },
        {
          tsType: 8,
          ipProtocol: 6,
          startPort: 443,
          endPort: 443,
          startAddr: hex('20010db8000000000000000000000000'),
          endAddr: hex('20010db8ffffffffffffffffffffffff'),
        },
      ],
    },
  },
  {
    name: 'CP: CFG_REQUEST for an IPv4 address and DNS',
    type: PT.CP,
    bytes: hex('00 00 0010  01 000000  0001 0000  0003 0000'),
    record: { kind: 'CP', critical: false, cfgType: 1, attributes: [{ type: 1, value: new Uint8Array(0) }, { type: 3, value: new Uint8Array(0) }] },
  },
  {
    name: 'CP: CFG_REPLY with INTERNAL_IP4_ADDRESS 192.0.2.7',
    type: PT.CP,
    bytes: hex('00 00 0010  02 000000  0001 0004 c0000207'),
    record: { kind: 'CP', critical: false, cfgType: 2, attributes: [{ type: 1, value: hex('c0000207') }] },
  },
  {
    name: 'EAP: Identity request, opaque',
    type: PT.EAP,
    bytes: hex('00 00 0009  01 01 0005 01'),
    record: { kind: 'EAP', critical: false, data: hex('0101000501') },
  },
  {
    name: 'unknown payload type 200 with the critical bit',
    type: 200,
    bytes: hex('00 80 0008  de ad be ef'),
    record: { kind: 'UNKNOWN', critical: true, payloadType: 200, data: hex('deadbeef') },
  },
  {
    name: 'Vendor ID with the critical bit set (kept)',
    type: PT.V,
    bytes: hex('00 80 0005  01'),
    record: { kind: 'V', critical: true, data: hex('01') },
  },
];

describe('payload fixtures (RFC 7296 §3.2–3.16)', () => {
  for (const c of cases) {
    it(`${c.name}: decodes to the record and encodes back to the same bytes`, () => {
      expect(decodePayloads(c.type, c.bytes)).toEqual([c.record]);
      const { firstType, bytes } = encodePayloads([c.record]);
      expect(firstType).toBe(c.type);
      expect(Buffer.from(bytes).toString('hex')).toBe(Buffer.from(c.bytes).toString('hex'));
    });
  }

  it('a chain of payloads links Next Payload fields in order', () => {
    const chain = [cases[3].record, cases[7].record, cases[14].record]; // IDi, AUTH, TSi
    const { firstType, bytes } = encodePayloads(chain);
    expect(firstType).toBe(PT.IDi);
    expect(bytes[0]).toBe(PT.AUTH); // IDi's next payload
    expect(bytes[12]).toBe(PT.TSi); // AUTH's next payload (IDi is 12 bytes)
    expect(bytes[12 + 40]).toBe(PT.NONE);
    expect(decodePayloads(firstType, bytes)).toEqual(chain);
  });

  it('reserved fields set by a peer are ignored on receipt (RFC 7296 §2.5)', () => {
    const b = hex('00 7f 000c  01 ffffff  c6 33 64 01'); // reserved generic bits and ID reserved
    expect(decodePayloads(PT.IDi, b)).toEqual([{ kind: 'IDi', critical: false, idType: 1, data: hex('c6336401') }]);
  });

  it('an empty chain encodes to nothing with first type NONE', () => {
    expect(encodePayloads([])).toEqual({ firstType: 0, bytes: new Uint8Array(0) });
    expect(decodePayloads(0, new Uint8Array(0))).toEqual([]);
  });
});
