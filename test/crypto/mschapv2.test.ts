import { describe, expect, it } from 'vitest';
import { md4 } from '../../src/crypto/md4.js';
import { desEncrypt7, desEncryptBlock } from '../../src/crypto/des.js';
import * as ms from '../../src/crypto/mschapv2.js';
import { ascii, hex, toHex } from './hex.js';

describe('MD4 (RFC 1320 §A.5 test suite)', () => {
  const suite: [string, string][] = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [msg, digest] of suite) it(`MD4("${msg.slice(0, 20)}")`, () => expect(toHex(md4(ascii(msg)))).toBe(digest));
});

describe('DES (FIPS 46-3) known answers', () => {
  it('FIPS 81 Appendix B, ECB: "Now is t" under 0123456789abcdef', () => {
    expect(toHex(desEncryptBlock(hex('0123456789abcdef'), ascii('Now is t')))).toBe('3fa40e8a984d4815');
    expect(toHex(desEncryptBlock(hex('0123456789abcdef'), ascii('he time ')))).toBe('6a271787ab8883f9');
    expect(toHex(desEncryptBlock(hex('0123456789abcdef'), ascii('for all ')))).toBe('893d51ec4b563b53');
  });
  it('NIST SP 800-17 variable plaintext and variable key tests (key 0101.. / plaintext 0)', () => {
    expect(toHex(desEncryptBlock(hex('0101010101010101'), hex('8000000000000000')))).toBe('95f8a5e5dd31d900');
    expect(toHex(desEncryptBlock(hex('0101010101010101'), hex('4000000000000000')))).toBe('dd7f121ca5015619');
    expect(toHex(desEncryptBlock(hex('8001010101010101'), hex('0000000000000000')))).toBe('95a8d72813daa94d');
  });
  it('a 7-byte key is spread over the 8 key bytes, parity bits ignored (RFC 2759 §8.6)', () => {
    // the 8-byte key whose bytes carry the 56 bits seven at a time (low bit set as parity) gives the same block
    const key7 = hex('fe dc ba 98 76 54 32');
    const bits = [...key7].map((b) => b.toString(2).padStart(8, '0')).join('');
    const key8 = Uint8Array.from({ length: 8 }, (_, i) => parseInt(bits.slice(i * 7, i * 7 + 7) + '1', 2));
    expect(toHex(desEncrypt7(key7, ascii('Now is t')))).toBe(toHex(desEncryptBlock(key8, ascii('Now is t'))));
  });
  it('refuses keys and blocks of the wrong length', () => {
    expect(() => desEncryptBlock(new Uint8Array(7), new Uint8Array(8))).toThrow(RangeError);
    expect(() => desEncrypt7(new Uint8Array(8), new Uint8Array(8))).toThrow(RangeError);
  });
});

describe('MS-CHAPv2 (RFC 2759 §9.2 and RFC 3079 §3.5.3 sample data)', () => {
  const input = {
    userName: ascii('User'),
    authChallenge: hex('5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28'),
    peerChallenge: hex('21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E'),
    passwordHash: ms.ntPasswordHash(ascii('clientPass')),
  };
  const nt = ms.ntResponse(input);
  it('NtPasswordHash, ChallengeHash, NT-Response, PasswordHashHash', () => {
    expect(toHex(input.passwordHash)).toBe('44ebba8d5312b8d611474411f56989ae');
    expect(toHex(ms.challengeHash(input.peerChallenge, input.authChallenge, input.userName))).toBe('d02e4386bce91226');
    expect(toHex(nt)).toBe('82309ecd8d708b5ea08faa3981cd83544233114a3d85d6df');
    expect(toHex(md4(input.passwordHash))).toBe('41c00c584bd2d91c4017a2a12fa59f3f');
  });
  it('AuthenticatorResponse', () => {
    expect(ms.authenticatorResponseText(ms.authenticatorResponse(input, nt))).toBe('S=407A5589115FD0D6209F510FE9C04566932CDA56');
  });
  it('MasterKey and the server send key (RFC 3079 §3.5.3)', () => {
    const mk = ms.masterKey(input.passwordHash, nt);
    expect(toHex(mk)).toBe('fdece3717a8c838cb388e527ae3cdd31');
    expect(toHex(ms.asymmetricStartKey(mk, 'receive'))).toBe('8b7cdc149b993a1ba118cb153f56dccb'); // IsSend, IsServer: Magic3
  });
  it('MSK = client send key | client receive key | 32 zero bytes', () => {
    const msk = ms.msChapV2Msk(input.passwordHash, nt);
    const mk = ms.masterKey(input.passwordHash, nt);
    expect(msk.length).toBe(64);
    expect(toHex(msk.subarray(0, 16))).toBe(toHex(ms.asymmetricStartKey(mk, 'send')));
    expect(toHex(msk.subarray(16, 32))).toBe('8b7cdc149b993a1ba118cb153f56dccb');
    expect(msk.subarray(32).every((b) => b === 0)).toBe(true);
  });
  it('a password outside Latin-1 is hashed as UTF-16LE', () => {
    // MD4 of "é" as UTF-16LE (e9 00) differs from the UTF-8 bytes' hash
    expect(toHex(ms.ntPasswordHash(new TextEncoder().encode('é')))).toBe(toHex(md4(hex('e900'))));
  });
});
