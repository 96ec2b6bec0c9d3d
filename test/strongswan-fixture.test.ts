// Real strongSwan bytes: IKE_SA_INIT + IKE_AUTH exchanges between two strongSwan 5.9.8 charons,
// with the keys charon logged at ike/chd level 4 (test/fixtures/strongswan/*.json, made by
// interop/fixture/capture-strongswan.sh; see each file's `source`). tsvpn must parse every
// message, derive the same keys from the same inputs, open every SK payload, re-encode every
// payload to the same bytes, and verify both PSK AUTH payloads.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DhGroup,
  EncrId,
  ExchangeType,
  IdType,
  IntegId,
  PrfId,
  ProtocolId,
  TransformType,
} from '../src/wire/constants.js';
import type { IkeMessage, Payload, Proposal, SkPayload } from '../src/wire/types.js';
import { decodeMessage, decodePayloads, encodeMessage, encodePayloads, encodeSkPrefix } from '../src/wire/message.js';
import { deriveChildKeys, deriveIkeKeys, deriveSkeyseed, type EncrTransform } from '../src/crypto/kdf.js';
import { createSkCipher } from '../src/crypto/sk.js';
import type { Backend } from '../src/crypto/aead.js';
import { IntegrityError } from '../src/crypto/errors.js';
import { parseProposal, proposalAccepts, selectProposal } from '../src/crypto/proposal.js';
import { signedOctets } from '../src/ike/auth/signed-octets.js';
import { pskAuthData } from '../src/ike/auth/psk.js';

type Side = 'initiator' | 'responder';
interface Fixture {
  source: string;
  ikeProposal: string;
  espProposal: string;
  psk: string;
  ids: Record<Side, string>;
  trafficSelectors: Record<Side, string>;
  messages: { from: Side; exchange: 'IKE_SA_INIT' | 'IKE_AUTH'; hex: string }[];
  keys: Record<string, string>;
  childKeys: Record<string, string>;
  auth: Record<Side, { idPrime: string; octets: string; auth: string }>;
}

// What the proposal strings in each fixture mean (strongSwan proposal keywords, RFC 7296 §3.3.2
// and RFC 8031 / RFC 3526 group numbers): what a user would read off `swanctl --list-sas`.
const EXPECTED: Record<string, { encr: EncrTransform; prf: number; integ: number; dh: number; keLength: number }> = {
  'aes256gcm16-prfsha256-x25519': {
    encr: { id: EncrId.AES_GCM_16, keyLength: 256 },
    prf: PrfId.HMAC_SHA2_256,
    integ: IntegId.NONE,
    dh: DhGroup.CURVE25519,
    keLength: 32, // RFC 8031 §3.1: a Curve25519 public value is 32 octets
  },
  'aes256-sha256-modp2048': {
    encr: { id: EncrId.AES_CBC, keyLength: 256 },
    prf: PrfId.HMAC_SHA2_256,
    integ: IntegId.HMAC_SHA2_256_128,
    dh: DhGroup.MODP_2048,
    keLength: 256, // RFC 7296 §3.4: a MODP value is padded to the prime's length, 2048 bits
  },
};
const EXPECTED_ESP: Record<string, { encr: EncrTransform; integ: number }> = {
  aes256gcm16: { encr: { id: EncrId.AES_GCM_16, keyLength: 256 }, integ: IntegId.NONE },
  'aes256-sha256': { encr: { id: EncrId.AES_CBC, keyLength: 256 }, integ: IntegId.HMAC_SHA2_256_128 },
};

const dir = new URL('./fixtures/strongswan/', import.meta.url);
const fixtures: Fixture[] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as Fixture);

const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

// the record type whose `kind` union includes K (IdPayload is both 'IDi' and 'IDr')
type PayloadOf<K extends Payload['kind'], P = Payload> = P extends { kind: infer PK } ? (K extends PK ? P : never) : never;

function only<K extends Payload['kind']>(payloads: Payload[], kind: K): PayloadOf<K> {
  const found = payloads.filter((p) => p.kind === kind);
  expect(found, `exactly one ${kind} payload`).toHaveLength(1);
  return found[0] as PayloadOf<K>;
}

function transformId(p: Proposal, type: number): number | undefined {
  return p.transforms.find((t) => t.type === type)?.id;
}

function chosenTransforms(p: Proposal): { encr: EncrTransform; prf?: number; integ: number; dh?: number } {
  const encr = p.transforms.find((t) => t.type === TransformType.ENCR);
  expect(encr).toBeDefined();
  return {
    encr: { id: encr!.id, keyLength: encr!.keyLength },
    prf: transformId(p, TransformType.PRF),
    integ: transformId(p, TransformType.INTEG) ?? IntegId.NONE,
    dh: transformId(p, TransformType.DH),
  };
}

// CIDR text -> [first, last] IPv4 address (the configured selectors are /25s)
function cidrRange(cidr: string): [string, string] {
  const [addr, bits] = cidr.split('/');
  const n = addr.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  const dotted = (v: number) => [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
  return [dotted(n), dotted(n + size - 1)];
}
const dottedOf = (b: Uint8Array) => Array.from(b).join('.');

for (const fx of fixtures) {
  describe(`strongSwan fixture ${fx.ikeProposal} / ESP ${fx.espProposal}`, () => {
    const want = EXPECTED[fx.ikeProposal];
    const wantEsp = EXPECTED_ESP[fx.espProposal];
    const raw = fx.messages.map((m) => fromHex(m.hex));
    // decoded inside each test, so a decoder error fails that test rather than the whole file
    const decode = (): IkeMessage[] => raw.map((b) => decodeMessage(b));
    function saInit() {
      const [initReq, initResp] = decode();
      return {
        initReq,
        initResp,
        ni: only(initReq.payloads, 'NONCE').data,
        nr: only(initResp.payloads, 'NONCE').data,
        spiI: initResp.header.spiI,
        spiR: initResp.header.spiR,
      };
    }

    it('is a fixture this test knows how to read', () => {
      expect(want, `expected transforms for ${fx.ikeProposal}`).toBeDefined();
      expect(wantEsp, `expected transforms for ESP ${fx.espProposal}`).toBeDefined();
      expect(fx.source).toMatch(/strongSwan 5\.9\.8/);
      expect(fx.messages.map((m) => `${m.from} ${m.exchange}`)).toEqual([
        'initiator IKE_SA_INIT',
        'responder IKE_SA_INIT',
        'initiator IKE_AUTH',
        'responder IKE_AUTH',
      ]);
    });

    it('decodes every message header: exchange, flags, message IDs, SPIs (RFC 7296 §3.1)', () => {
      decode().forEach((m, i) => {
        const from = fx.messages[i].from;
        expect(m.header.exchangeType).toBe(ExchangeType[fx.messages[i].exchange]);
        expect(m.header.majorVersion).toBe(2);
        expect(m.header.flags.initiator).toBe(from === 'initiator');
        expect(m.header.flags.response).toBe(from === 'responder');
        expect(m.header.messageId).toBe(i < 2 ? 0 : 1);
        expect(m.header.length).toBe(raw[i].length);
        expect(toHex(m.header.spiI)).toBe(fx.keys.spiI);
        expect(toHex(m.header.spiR)).toBe(i === 0 ? '0000000000000000' : fx.keys.spiR);
      });
    });

    it('re-encodes both IKE_SA_INIT messages byte for byte', () => {
      const decoded = decode();
      for (const i of [0, 1]) {
        const { length: _l, nextPayload: _n, ...header } = decoded[i].header;
        expect(toHex(encodeMessage(header, decoded[i].payloads))).toBe(fx.messages[i].hex);
      }
    });

    it('IKE_SA_INIT carries the expected proposal, KE group and nonces', () => {
      const { initReq, initResp, ni, nr } = saInit();
      const offered = only(initReq.payloads, 'SA').proposals;
      const chosen = only(initResp.payloads, 'SA').proposals;
      expect(offered).toHaveLength(1);
      expect(chosen).toHaveLength(1);
      expect(chosen[0].protocol).toBe(ProtocolId.IKE);
      const { keLength: _k, ...transforms } = want;
      expect(chosenTransforms(chosen[0])).toEqual(transforms);
      expect(chosenTransforms(offered[0])).toEqual(transforms);
      for (const m of [initReq, initResp]) {
        const ke = only(m.payloads, 'KE');
        expect(ke.group).toBe(want.dh);
        expect(ke.data.length).toBe(want.keLength);
      }
      expect(toHex(ni)).toBe(fx.keys.ni);
      expect(toHex(nr)).toBe(fx.keys.nr);
    });

    it('derives the SKEYSEED charon logged from the nonces and shared secret (RFC 7296 §2.14)', () => {
      const { ni, nr } = saInit();
      const skeyseed = deriveSkeyseed(want.prf, ni, nr, fromHex(fx.keys.sharedSecret));
      expect(toHex(skeyseed)).toBe(fx.keys.skeyseed);
    });

    it('derives every SK_* key charon logged (RFC 7296 §2.14)', () => {
      const { ni, nr, spiI, spiR } = saInit();
      const keys = deriveIkeKeys(want.prf, want.encr, want.integ, fromHex(fx.keys.skeyseed), ni, nr, spiI, spiR);
      for (const name of ['skD', 'skAi', 'skAr', 'skEi', 'skEr', 'skPi', 'skPr'] as const) {
        // charon logs no SK_a* for an AEAD cipher: they are empty (RFC 5282 §8)
        expect(toHex(keys[name]), name).toBe(fx.keys[name] ?? '');
      }
    });

    // RFC 7296 §3.14: each side seals its IKE_AUTH with its own SK_e / SK_a (i = initiator's)
    function openAuth(i: 2 | 3, backend: Backend = 'node'): { sk: SkPayload; inner: Uint8Array; payloads: Payload[] } {
      const from = fx.messages[i].from;
      const msg = decode()[i];
      expect(msg.payloads.map((p) => p.kind)).toEqual(['SK']);
      const sk = msg.payloads[0] as SkPayload;
      const k = fx.keys;
      const cipher = createSkCipher(
        want.encr,
        want.integ,
        fromHex(from === 'initiator' ? k.skEi : k.skEr),
        fromHex((from === 'initiator' ? k.skAi : k.skAr) ?? ''),
        backend,
      );
      const inner = cipher.open(sk.aad, sk.body);
      cipher.dispose();
      return { sk, inner, payloads: decodePayloads(sk.firstInner, inner) };
    }
    const opened = (side: Side): Payload[] => openAuth(side === 'initiator' ? 2 : 3).payloads;

    for (const i of [2, 3] as const) {
      it(`opens the ${fx.messages[i].from}'s IKE_AUTH SK payload and re-encodes it byte for byte`, () => {
        const { sk, inner, payloads } = openAuth(i);
        const again = encodePayloads(payloads);
        expect(again.firstType).toBe(sk.firstInner);
        expect(toHex(again.bytes)).toBe(toHex(inner));

        const { length: _l, nextPayload: _n, ...header } = decode()[i].header;
        const prefix = encodeSkPrefix(header, sk.firstInner, sk.body.length);
        expect(toHex(prefix)).toBe(toHex(sk.aad));
        expect(toHex(prefix) + toHex(sk.body)).toBe(fx.messages[i].hex);
      });

      it(`opens the ${fx.messages[i].from}'s IKE_AUTH the same with the noble backend, refuses a flipped ICV bit`, () => {
        const { sk, inner } = openAuth(i, 'noble');
        expect(toHex(inner)).toBe(toHex(openAuth(i).inner));
        const k = fx.keys;
        const from = fx.messages[i].from;
        const cipher = createSkCipher(
          want.encr,
          want.integ,
          fromHex(from === 'initiator' ? k.skEi : k.skEr),
          fromHex((from === 'initiator' ? k.skAi : k.skAr) ?? ''),
        );
        const tampered = sk.body.slice();
        tampered[tampered.length - 1] ^= 0x01;
        expect(() => cipher.open(sk.aad, tampered)).toThrow(IntegrityError);
      });
    }

    it('IKE_AUTH carries the configured identities and traffic selectors', () => {
      const idi = only(opened('initiator'), 'IDi');
      const idr = only(opened('responder'), 'IDr');
      expect(idi.idType).toBe(IdType.ID_FQDN);
      expect(idi.data).toEqual(text(fx.ids.initiator));
      expect(idr.idType).toBe(IdType.ID_FQDN);
      expect(idr.data).toEqual(text(fx.ids.responder));
      for (const side of ['initiator', 'responder'] as const) {
        const tsi = only(opened(side), 'TSi').selectors;
        const tsr = only(opened(side), 'TSr').selectors;
        expect(tsi.map((s) => [dottedOf(s.startAddr), dottedOf(s.endAddr)])).toContainEqual(
          cidrRange(fx.trafficSelectors.initiator),
        );
        expect(tsr.map((s) => [dottedOf(s.startAddr), dottedOf(s.endAddr)])).toContainEqual(
          cidrRange(fx.trafficSelectors.responder),
        );
      }
      const esp = only(opened('responder'), 'SA').proposals;
      expect(esp).toHaveLength(1);
      expect(esp[0].protocol).toBe(ProtocolId.ESP);
      expect(esp[0].spi).toHaveLength(4);
      const t = chosenTransforms(esp[0]);
      expect({ encr: t.encr, integ: t.integ }).toEqual(wantEsp);
    });

    it('computes the signed octets charon logged and verifies both PSK AUTH payloads (RFC 7296 §2.15)', () => {
      const { ni, nr, spiI, spiR } = saInit();
      const keys = deriveIkeKeys(want.prf, want.encr, want.integ, fromHex(fx.keys.skeyseed), ni, nr, spiI, spiR);
      const sides = {
        initiator: { first: raw[0], peerNonce: nr, skP: keys.skPi, id: only(opened('initiator'), 'IDi') },
        responder: { first: raw[1], peerNonce: ni, skP: keys.skPr, id: only(opened('responder'), 'IDr') },
      };
      for (const side of ['initiator', 'responder'] as const) {
        const s = sides[side];
        const octets = signedOctets({
          firstMessage: s.first,
          peerNonce: s.peerNonce,
          prfId: want.prf,
          skP: s.skP,
          idType: s.id.idType,
          idData: s.id.data,
        });
        expect(toHex(octets), `${side} signed octets`).toBe(fx.auth[side].octets);
        const auth = only(opened(side), 'AUTH');
        expect(auth.method).toBe(2); // RFC 7296 §3.8: Shared Key Message Integrity Code
        expect(toHex(auth.data)).toBe(fx.auth[side].auth);
        expect(toHex(pskAuthData(want.prf, text(fx.psk), octets)), `${side} AUTH`).toBe(toHex(auth.data));
      }
    });

    it("reads the proposal strings as strongSwan did: same transforms offered, same choice (RFC 7296 §3.3.6)", () => {
      const byTypeThenId = (ts: Proposal['transforms']) =>
        [...ts].sort((a, b) => a.type - b.type || a.id - b.id).map((t) => [t.type, t.id, t.keyLength]);
      const { initReq, initResp } = saInit();
      const cases = [
        {
          text: fx.ikeProposal,
          protocol: 'ike' as const,
          offered: only(initReq.payloads, 'SA').proposals,
          chosen: only(initResp.payloads, 'SA').proposals[0],
        },
        {
          text: fx.espProposal,
          protocol: 'esp' as const,
          offered: only(opened('initiator'), 'SA').proposals,
          chosen: only(opened('responder'), 'SA').proposals[0],
        },
      ];
      for (const c of cases) {
        const mine = parseProposal(c.text, c.protocol);
        expect(c.offered).toHaveLength(1);
        expect(byTypeThenId(mine.transforms), c.text).toEqual(byTypeThenId(c.offered[0].transforms));
        const selected = selectProposal(c.offered, [mine]);
        expect(selected).not.toBeNull();
        expect(byTypeThenId(selected!.transforms)).toEqual(byTypeThenId(c.chosen.transforms));
        expect(proposalAccepts(c.offered, c.chosen)).toBe(true);
      }
    });

    it('derives the Child SA keys charon logged (RFC 7296 §2.17)', () => {
      const { ni, nr } = saInit();
      const skD = fromHex(fx.keys.skD);
      const child = deriveChildKeys(want.prf, skD, ni, nr, undefined, wantEsp.encr, wantEsp.integ);
      expect(toHex(child.encrI)).toBe(fx.childKeys.encrI);
      expect(toHex(child.encrR)).toBe(fx.childKeys.encrR);
      expect(toHex(child.integI)).toBe(fx.childKeys.integI ?? '');
      expect(toHex(child.integR)).toBe(fx.childKeys.integR ?? '');
    });
  });
}

describe('strongSwan fixtures', () => {
  it('cover both an AEAD and an ENCR+INTEG SK payload', () => {
    const encrs = fixtures.map((f) => EXPECTED[f.ikeProposal]?.encr.id);
    expect(encrs).toContain(EncrId.AES_GCM_16);
    expect(encrs).toContain(EncrId.AES_CBC);
  });
});
