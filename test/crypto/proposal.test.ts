// Proposal strings (strongSwan syntax) and RFC 7296 §2.7 / §3.3.6 proposal selection.
import { describe, it, expect } from 'vitest';
import { DhGroup, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType as T } from '../../src/wire/constants.js';
import type { Proposal, Transform } from '../../src/wire/types.js';
import {
  formatProposal,
  negotiatedAlgorithms,
  parseProposal,
  parseProposalList,
  proposalAccepts,
  ProposalSyntaxError,
  selectProposal,
} from '../../src/crypto/proposal.js';

const encr = (id: number, keyLength?: number): Transform =>
  keyLength === undefined ? { type: T.ENCR, id } : { type: T.ENCR, id, keyLength };
const integ = (id: number): Transform => ({ type: T.INTEG, id });
const prf = (id: number): Transform => ({ type: T.PRF, id });
const dh = (id: number): Transform => ({ type: T.DH, id });
const esn = (id: number): Transform => ({ type: T.ESN, id });

function syntaxError(fn: () => unknown): ProposalSyntaxError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProposalSyntaxError);
    return e as ProposalSyntaxError;
  }
  throw new Error('expected ProposalSyntaxError');
}

describe('parseProposal', () => {
  it('IKE AEAD: aes256gcm16-prfsha256-x25519', () => {
    expect(parseProposal('aes256gcm16-prfsha256-x25519', 'ike')).toEqual({
      number: 1,
      protocol: ProtocolId.IKE,
      spi: new Uint8Array(0),
      transforms: [encr(EncrId.AES_GCM_16, 256), prf(PrfId.HMAC_SHA2_256), dh(DhGroup.CURVE25519)],
    });
  });
  it('IKE classic: an INTEG without explicit prf brings the matching PRF, as strongSwan does', () => {
    expect(parseProposal('aes128-sha256-modp2048', 'ike').transforms).toEqual([
      encr(EncrId.AES_CBC, 128),
      integ(IntegId.HMAC_SHA2_256_128),
      prf(PrfId.HMAC_SHA2_256),
      dh(DhGroup.MODP_2048),
    ]);
    expect(parseProposal('aes256-sha1-sha512-ecp384', 'ike').transforms).toEqual([
      encr(EncrId.AES_CBC, 256),
      integ(IntegId.HMAC_SHA1_96),
      integ(IntegId.HMAC_SHA2_512_256),
      prf(PrfId.HMAC_SHA1),
      prf(PrfId.HMAC_SHA2_512),
      dh(DhGroup.ECP_384),
    ]);
    // an explicit prf replaces the derived ones
    expect(parseProposal('aes256-sha256-prfsha384-ecp256', 'ike').transforms.filter((t) => t.type === T.PRF)).toEqual([
      prf(PrfId.HMAC_SHA2_384),
    ]);
  });
  it('several algorithms of one type keep their order; transforms are ordered ENCR, INTEG, PRF, DH', () => {
    expect(parseProposal('ecp256-aes256-sha256-aes128-modp2048', 'ike').transforms).toEqual([
      encr(EncrId.AES_CBC, 256),
      encr(EncrId.AES_CBC, 128),
      integ(IntegId.HMAC_SHA2_256_128),
      prf(PrfId.HMAC_SHA2_256),
      dh(DhGroup.ECP_256),
      dh(DhGroup.MODP_2048),
    ]);
  });
  it('keyword aliases: gcm ICV in bits, curve25519/curve448, case-insensitive', () => {
    const a = parseProposal('AES128GCM128-prfsha256-curve25519', 'ike');
    const b = parseProposal('aes128gcm16-prfsha256-x25519', 'ike');
    expect(a).toEqual(b);
    expect(parseProposal('aes192gcm12-aes256gcm8-prfsha1-curve448', 'ike').transforms).toEqual([
      encr(EncrId.AES_GCM_12, 192),
      encr(EncrId.AES_GCM_8, 256),
      prf(PrfId.HMAC_SHA1),
      dh(DhGroup.CURVE448),
    ]);
    expect(parseProposal('chacha20poly1305-prfsha512-ecp521', 'ike').transforms[0]).toEqual(encr(EncrId.CHACHA20_POLY1305));
  });
  it('ESP: defaults to NO_ESN only, keeps esn/noesn and a PFS group', () => {
    expect(parseProposal('aes128gcm16', 'esp')).toEqual({
      number: 1,
      protocol: ProtocolId.ESP,
      spi: new Uint8Array(0),
      transforms: [encr(EncrId.AES_GCM_16, 128), esn(EsnId.NO_ESN)],
    });
    expect(parseProposal('aes256-sha384-ecp384-esn-noesn', 'esp').transforms).toEqual([
      encr(EncrId.AES_CBC, 256),
      integ(IntegId.HMAC_SHA2_384_192),
      dh(DhGroup.ECP_384),
      esn(EsnId.ESN),
      esn(EsnId.NO_ESN),
    ]);
  });
  it('proposal lists are numbered from 1 (RFC 7296 §3.3.1)', () => {
    const list = parseProposalList('aes256gcm16-prfsha256-x25519, aes256-sha256-modp3072', 'ike');
    expect(list.map((p) => p.number)).toEqual([1, 2]);
    expect(list[1].transforms.at(-1)).toEqual(dh(DhGroup.MODP_3072));
  });
});

describe('parseProposal errors name the token', () => {
  const cases: [string, 'ike' | 'esp', string, string][] = [
    ['aes256-sha256-modp2048-bogus', 'ike', 'unknown-token', 'bogus'],
    ['aes256--sha256-modp2048', 'ike', 'empty', ''],
    ['', 'ike', 'empty', ''],
    ['3des-sha1-modp2048', 'ike', 'unsupported', '3des'],
    ['aes128-sha256-modp1024', 'ike', 'unsupported', 'modp1024'],
    ['aes128-aes128-sha256-modp2048', 'ike', 'duplicate', 'aes128'],
    ['aes128-sha256-prfsha256', 'esp', 'not-allowed', 'prfsha256'],
    ['aes128-sha256-modp2048-esn', 'ike', 'not-allowed', 'esn'],
    ['aes128-sha256-none', 'ike', 'not-allowed', 'none'],
    ['aes128gcm16-sha256-prfsha256-ecp256', 'ike', 'conflict', 'sha256'],
    ['aes128gcm16-aes128-sha256-ecp256', 'ike', 'conflict', 'aes128'],
    ['aes128gcm16-ecp256', 'ike', 'missing', 'prf'],
    ['aes128-sha256', 'ike', 'missing', 'dh'],
    ['sha256-prfsha256-ecp256', 'ike', 'missing', 'encr'],
    ['aes128-ecp256', 'esp', 'missing', 'integ'],
  ];
  for (const [text, protocol, reason, token] of cases) {
    it(`${protocol} '${text}' -> ${reason} (${token || 'empty'})`, () => {
      const e = syntaxError(() => parseProposal(text, protocol));
      expect(e.reason).toBe(reason);
      expect(e.token).toBe(token);
      if (token) expect(e.message).toContain(token);
    });
  }
});

describe('formatProposal', () => {
  it('gives back the canonical string', () => {
    expect(formatProposal(parseProposal('aes256gcm16-prfsha256-x25519', 'ike'))).toBe('aes256gcm16-prfsha256-x25519');
    expect(formatProposal(parseProposal('aes128gcm128-prfsha256-curve25519', 'ike'))).toBe('aes128gcm16-prfsha256-x25519');
    expect(formatProposal(parseProposal('aes256-sha256-modp2048', 'ike'))).toBe('aes256-sha256-prfsha256-modp2048');
    expect(formatProposal(parseProposal('aes128gcm16-ecp256', 'esp'))).toBe('aes128gcm16-ecp256-noesn');
  });
  it('parse(format(p)) equals p', () => {
    for (const [text, proto] of [
      ['aes256-aes128-sha256-sha1-modp2048-ecp256', 'ike'],
      ['chacha20poly1305-prfsha512-x448-ecp521', 'ike'],
      ['aes192gcm8-none-ecp256-esn', 'esp'],
      ['aes256-sha512-noesn-esn', 'esp'],
    ] as const) {
      const p = parseProposal(text, proto);
      expect(parseProposal(formatProposal(p), proto)).toEqual(p);
    }
  });
  it("prints a peer's unsupported or unknown transforms instead of failing", () => {
    const peer: Proposal = {
      number: 1,
      protocol: ProtocolId.IKE,
      spi: new Uint8Array(0),
      transforms: [encr(EncrId.THREE_DES), integ(IntegId.HMAC_MD5_96), prf(PrfId.HMAC_MD5), dh(DhGroup.MODP_1024), dh(9999)],
    };
    expect(formatProposal(peer)).toBe('3des-md5-prfmd5-modp1024-UNKNOWN_KE_9999');
  });
});

describe('selectProposal (responder)', () => {
  const ike = (s: string, number = 1) => ({ ...parseProposal(s, 'ike'), number });
  it('picks in the configured order and returns one transform per type', () => {
    const offered = [ike('aes128-aes256-sha1-sha256-modp2048-ecp256')];
    const configured = [ike('aes256-sha256-ecp256-modp2048')];
    expect(selectProposal(offered, configured)?.transforms).toEqual([
      encr(EncrId.AES_CBC, 256),
      integ(IntegId.HMAC_SHA2_256_128),
      prf(PrfId.HMAC_SHA2_256),
      dh(DhGroup.ECP_256),
    ]);
  });
  it("configured proposals are tried first, and the result keeps the offered proposal's number and SPI", () => {
    const spi = new Uint8Array([1, 2, 3, 4]);
    const offered = [
      { ...parseProposal('aes128-sha256-modp2048', 'esp'), number: 1, spi },
      { ...parseProposal('aes256gcm16', 'esp'), number: 2, spi },
    ];
    const configured = parseProposalList('aes256gcm16, aes128-sha256', 'esp');
    const chosen = selectProposal(offered, configured)!;
    expect(chosen.number).toBe(2);
    expect(chosen.spi).toBe(spi);
    expect(chosen.transforms).toEqual([encr(EncrId.AES_GCM_16, 256), esn(EsnId.NO_ESN)]);
  });
  it('a Key Length attribute matches only the same key length', () => {
    expect(selectProposal([ike('aes128-sha256-ecp256')], [ike('aes256-sha256-ecp256')])).toBeNull();
    expect(selectProposal([ike('aes128gcm16-prfsha256-ecp256')], [ike('aes256gcm16-prfsha256-ecp256')])).toBeNull();
  });
  it('no common DH group, or a different protocol, means NO_PROPOSAL_CHOSEN (null)', () => {
    expect(selectProposal([ike('aes128-sha256-modp2048')], [ike('aes128-sha256-ecp256')])).toBeNull();
    expect(selectProposal([parseProposal('aes128-sha256', 'esp')], [ike('aes128-sha256-ecp256')])).toBeNull();
  });
  it('PFS in ESP: a configured group must be offered; NONE matches a side without a group', () => {
    const esp = (s: string) => parseProposal(s, 'esp');
    // peer wants PFS with ecp256, we are configured with ecp256: chosen
    expect(selectProposal([esp('aes128gcm16-ecp256')], [esp('aes128gcm16-ecp256')])?.transforms).toContainEqual(dh(DhGroup.ECP_256));
    // peer offers no PFS, we require ecp256: refused
    expect(selectProposal([esp('aes128gcm16')], [esp('aes128gcm16-ecp256')])).toBeNull();
    // peer offers PFS or none, we are configured without PFS: no DH transform in the answer
    expect(selectProposal([esp('aes128gcm16-ecp256-none')], [esp('aes128gcm16')])?.transforms).toEqual([
      encr(EncrId.AES_GCM_16, 128),
      esn(EsnId.NO_ESN),
    ]);
    // peer insists on PFS (no NONE), we configured none: refused
    expect(selectProposal([esp('aes128gcm16-x25519')], [esp('aes128gcm16')])).toBeNull();
  });
  it('ESN: picks the configured preference among the offered', () => {
    const esp = (s: string) => parseProposal(s, 'esp');
    expect(selectProposal([esp('aes128gcm16-noesn-esn')], [esp('aes128gcm16-esn-noesn')])?.transforms.at(-1)).toEqual(esn(EsnId.ESN));
    expect(selectProposal([esp('aes128gcm16-esn')], [esp('aes128gcm16-noesn')])).toBeNull();
  });
  it('an AEAD offer carrying INTEG NONE is accepted, and INTEG is not in the answer', () => {
    const offered: Proposal = {
      number: 1,
      protocol: ProtocolId.IKE,
      spi: new Uint8Array(0),
      transforms: [encr(EncrId.AES_GCM_16, 256), integ(IntegId.NONE), prf(PrfId.HMAC_SHA2_256), dh(DhGroup.CURVE25519)],
    };
    expect(selectProposal([offered], [ike('aes256gcm16-prfsha256-x25519')])?.transforms).toEqual([
      encr(EncrId.AES_GCM_16, 256),
      prf(PrfId.HMAC_SHA2_256),
      dh(DhGroup.CURVE25519),
    ]);
  });
  it('an offered transform type we do not know makes that proposal unacceptable', () => {
    const offered = { ...ike('aes128gcm16-prfsha256-ecp256'), transforms: [...ike('aes128gcm16-prfsha256-ecp256').transforms, { type: 6, id: 1 }] };
    expect(selectProposal([offered], [ike('aes128gcm16-prfsha256-ecp256')])).toBeNull();
  });
});

describe('proposalAccepts (initiator)', () => {
  const offered = parseProposalList('aes256gcm16-prfsha256-x25519-ecp256, aes256-sha256-modp2048', 'ike');
  it("accepts the responder's single choice from one of our proposals", () => {
    const chosen = selectProposal(offered, [parseProposal('aes256-sha256-modp2048', 'ike')])!;
    expect(chosen.number).toBe(2);
    expect(proposalAccepts(offered, chosen)).toBe(true);
  });
  it('refuses a transform we did not offer in that proposal, two of one type, a missing type, or an unknown number', () => {
    const base = { number: 1, protocol: ProtocolId.IKE, spi: new Uint8Array(0) };
    const ok = [encr(EncrId.AES_GCM_16, 256), prf(PrfId.HMAC_SHA2_256), dh(DhGroup.ECP_256)];
    expect(proposalAccepts(offered, { ...base, transforms: ok })).toBe(true);
    expect(proposalAccepts(offered, { ...base, transforms: [encr(EncrId.AES_GCM_16, 128), ok[1], ok[2]] })).toBe(false);
    expect(proposalAccepts(offered, { ...base, transforms: [...ok, dh(DhGroup.CURVE25519)] })).toBe(false);
    expect(proposalAccepts(offered, { ...base, transforms: ok.slice(0, 2) })).toBe(false);
    expect(proposalAccepts(offered, { ...base, number: 3, transforms: ok })).toBe(false);
    // proposal 2 does not contain AES-GCM
    expect(proposalAccepts(offered, { ...base, number: 2, transforms: ok })).toBe(false);
  });
  it('accepts an ESP answer without DH when we offered NONE', () => {
    const esp = [parseProposal('aes128gcm16-ecp256-none', 'esp')];
    expect(proposalAccepts(esp, { ...esp[0], transforms: [encr(EncrId.AES_GCM_16, 128), esn(EsnId.NO_ESN)] })).toBe(true);
    expect(proposalAccepts(esp, { ...esp[0], transforms: [encr(EncrId.AES_GCM_16, 128)] })).toBe(false);
  });
});

describe('negotiatedAlgorithms', () => {
  it('names the suite for the crypto layer, with 0 for missing types', () => {
    expect(negotiatedAlgorithms(parseProposal('aes256gcm16-prfsha384-ecp384', 'ike'))).toEqual({
      encr: { id: EncrId.AES_GCM_16, keyLength: 256 },
      integ: 0,
      prf: PrfId.HMAC_SHA2_384,
      dh: DhGroup.ECP_384,
      esn: false,
    });
    expect(negotiatedAlgorithms(parseProposal('aes128-sha256-esn', 'esp'))).toEqual({
      encr: { id: EncrId.AES_CBC, keyLength: 128 },
      integ: IntegId.HMAC_SHA2_256_128,
      prf: 0,
      dh: 0,
      esn: true,
    });
  });
});
