// PSK AUTH (RFC 7296 §2.15) checked against the formula computed here, step by step, with
// node:crypto HMAC directly: an independent implementation, not the code under test.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IdType, PrfId } from '../../../src/wire/constants.js';
import { pskAuthData, verifyPskAuth } from '../../../src/ike/auth/psk.js';
import { restOfIdPayload, signedOctets } from '../../../src/ike/auth/signed-octets.js';

const h = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const hmac = (alg: string, key: Uint8Array, ...data: Uint8Array[]) => {
  const m = createHmac(alg, key);
  for (const d of data) m.update(d);
  return new Uint8Array(m.digest());
};

// A made-up but well-formed exchange: the bytes of an IKE_SA_INIT request (header only
// here; the formula treats it as opaque), the responder's nonce, SK_pi and IDi.
const firstMessage = h('0011223344556677 0000000000000000 21202208 00000000 0000001c');
const nonceR = h('a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0');
const skPi = h('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
const idData = new TextEncoder().encode('left.example');
const psk = new TextEncoder().encode('This is a strong password');

describe('signedOctets (RFC 7296 §2.15)', () => {
  it('RestOfInitIDPayload is ID Type, three zero octets, then the data', () => {
    expect(Buffer.from(restOfIdPayload(IdType.ID_FQDN, idData)).toString('hex')).toBe(
      '02000000' + Buffer.from('left.example').toString('hex'),
    );
  });

  it.each([
    [PrfId.HMAC_SHA2_256, 'sha256'],
    [PrfId.HMAC_SHA2_384, 'sha384'],
    [PrfId.HMAC_SHA2_512, 'sha512'],
    [PrfId.HMAC_SHA1, 'sha1'],
  ])('= RealMessage1 | NonceRData | prf(SK_pi, IDType | RESERVED | data), prf %i', (prfId, alg) => {
    const octets = signedOctets({ firstMessage, peerNonce: nonceR, prfId, skP: skPi, idType: IdType.ID_FQDN, idData });
    const maced = hmac(alg, skPi, new Uint8Array([2, 0, 0, 0]), idData);
    expect(Buffer.from(octets).toString('hex')).toBe(
      Buffer.concat([firstMessage, nonceR, maced]).toString('hex'),
    );
  });
});

describe('PSK AUTH (RFC 7296 §2.15)', () => {
  const octets = signedOctets({
    firstMessage, peerNonce: nonceR, prfId: PrfId.HMAC_SHA2_256, skP: skPi, idType: IdType.ID_FQDN, idData,
  });

  it('AUTH = prf(prf(PSK, "Key Pad for IKEv2"), SignedOctets), computed independently', () => {
    const pad = Buffer.from('Key Pad for IKEv2', 'ascii');
    expect(pad.length).toBe(17); // no NUL terminator
    const inner = hmac('sha256', psk, pad);
    const expected = hmac('sha256', inner, octets);
    expect(Buffer.from(pskAuthData(PrfId.HMAC_SHA2_256, psk, octets)).toString('hex')).toBe(
      Buffer.from(expected).toString('hex'),
    );
    expect(verifyPskAuth(PrfId.HMAC_SHA2_256, psk, octets, expected)).toBe(true);
  });

  it('rejects a wrong PSK, tampered octets, and a truncated AUTH', () => {
    const good = pskAuthData(PrfId.HMAC_SHA2_256, psk, octets);
    const wrongPsk = new TextEncoder().encode('This is a strong passworD');
    expect(verifyPskAuth(PrfId.HMAC_SHA2_256, wrongPsk, octets, good)).toBe(false);
    const tampered = octets.slice();
    tampered[5] ^= 1;
    expect(verifyPskAuth(PrfId.HMAC_SHA2_256, psk, tampered, good)).toBe(false);
    expect(verifyPskAuth(PrfId.HMAC_SHA2_256, psk, octets, good.subarray(0, 16))).toBe(false);
  });

  it('does not modify the PSK it is given', () => {
    const copy = psk.slice();
    pskAuthData(PrfId.HMAC_SHA2_512, psk, octets);
    expect(Buffer.from(psk).equals(Buffer.from(copy))).toBe(true);
  });
});

describe('against a real strongSwan 5.9.8 exchange (test/fixtures/strongswan, PSK, prfsha256)', () => {
  const files = ['aes256gcm16-prfsha256-x25519.json', 'aes256-sha256-modp2048.json'];
  it.each(files)('%s: our signed octets and AUTH equal what both charons logged', (file) => {
    const f = JSON.parse(readFileSync(new URL(`../../fixtures/strongswan/${file}`, import.meta.url), 'utf8'));
    const psk = new TextEncoder().encode(f.psk);
    const sides = [
      { side: 'initiator', msg: f.messages[0], nonce: f.keys.nr, skP: f.keys.skPi, id: f.ids.initiator },
      { side: 'responder', msg: f.messages[1], nonce: f.keys.ni, skP: f.keys.skPr, id: f.ids.responder },
    ];
    for (const s of sides) {
      expect(s.msg.exchange).toBe('IKE_SA_INIT');
      const octets = signedOctets({
        firstMessage: h(s.msg.hex), peerNonce: h(s.nonce), prfId: PrfId.HMAC_SHA2_256, skP: h(s.skP),
        idType: IdType.ID_FQDN, idData: new TextEncoder().encode(s.id),
      });
      expect(Buffer.from(octets).toString('hex')).toBe(f.auth[s.side].octets);
      const auth = pskAuthData(PrfId.HMAC_SHA2_256, psk, octets);
      expect(Buffer.from(auth).toString('hex')).toBe(f.auth[s.side].auth);
      expect(verifyPskAuth(PrfId.HMAC_SHA2_256, psk, octets, h(f.auth[s.side].auth))).toBe(true);
    }
  });
});
