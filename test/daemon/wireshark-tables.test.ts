// The key table lines Wireshark reads (strongSwan's save-keys formats), against fixed vectors:
// the exact text, byte for byte, as tshark 4.0 accepted it in test/e2e/save-keys.test.ts.
import { describe, expect, it } from 'vitest';
import { espLines, ikev2Line } from '../../src/daemon/wireshark-tables.js';
import type { ChildSaInfo, ExportedIkeKeys } from '../../src/ike/effects.js';
import { EncrId, IntegId } from '../../src/wire/constants.js';
import { childSaInfo } from './helpers/child-sa.js';

/** n octets counting up from `from`: 0x10 0x11 ... */
const seq = (n: number, from: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

const ike = (o: Partial<ExportedIkeKeys> = {}): ExportedIkeKeys => ({
  spiI: Uint8Array.from([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]),
  spiR: Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x2a]),
  encr: { id: EncrId.AES_GCM_16, keyLength: 128 },
  integ: IntegId.NONE,
  skEi: seq(20, 0x00),
  skEr: seq(20, 0x80),
  skAi: new Uint8Array(0),
  skAr: new Uint8Array(0),
  ...o,
});

const child = (o: Partial<ChildSaInfo> = {}): ChildSaInfo =>
  childSaInfo({ spiIn: 0x0000c001, spiOut: 0xc2000002, encr: { id: EncrId.AES_GCM_16, keyLength: 128 }, keysIn: { encr: seq(20, 0x40), integ: new Uint8Array(0) }, keysOut: { encr: seq(20, 0xc0), integ: new Uint8Array(0) }, ...o });

describe('ikev2_decryption_table lines', () => {
  it('AES-GCM-128: SPIs in 16 digits, keys with their salt in hex, empty SK_a*, NONE', () => {
    expect(ikev2Line(ike())).toBe(
      '0123456789abcdef,000000000000002a,000102030405060708090a0b0c0d0e0f10111213,808182838485868788898a8b8c8d8e8f90919293,"AES-GCM-128 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"\n',
    );
  });

  it('AES-CBC-256 with HMAC-SHA2-256-128: both key pairs', () => {
    const k = ike({ encr: { id: EncrId.AES_CBC, keyLength: 256 }, integ: IntegId.HMAC_SHA2_256_128, skEi: seq(32, 0), skEr: seq(32, 0x20), skAi: seq(32, 0x40), skAr: seq(32, 0x60) });
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    expect(ikev2Line(k)).toBe(`0123456789abcdef,000000000000002a,${hex(k.skEi)},${hex(k.skEr)},"AES-CBC-256 [RFC3602]",${hex(k.skAi)},${hex(k.skAr)},"HMAC_SHA2_256_128 [RFC4868]"\n`);
  });

  it('no line for a cipher Wireshark cannot decrypt in IKEv2 (ChaCha20-Poly1305)', () => {
    expect(ikev2Line(ike({ encr: { id: EncrId.CHACHA20_POLY1305 } }))).toBeUndefined();
  });
});

describe('esp_sa lines', () => {
  it('one line per direction: what we send (our address to theirs, their SPI), then what we receive', () => {
    expect(espLines(child())).toBe(
      '"IPv4","198.51.100.1","198.51.100.2","0xc2000002","AES-GCM with 16 octet ICV [RFC4106]","0xc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3","NULL","0x"\n' +
        '"IPv4","198.51.100.2","198.51.100.1","0x0000c001","AES-GCM with 16 octet ICV [RFC4106]","0x404142434445464748494a4b4c4d4e4f50515253","NULL","0x"\n',
    );
  });

  it('AES-CBC with HMAC-SHA1-96 over IPv6', () => {
    const c = child({ encr: { id: EncrId.AES_CBC, keyLength: 128 }, integ: IntegId.HMAC_SHA1_96, keysOut: { encr: seq(16, 0), integ: seq(20, 0x10) }, keysIn: { encr: seq(16, 0x30), integ: seq(20, 0x50) }, local: { addr: '2001:db8::1', port: 500 }, remote: { addr: '2001:db8::2', port: 500 } });
    expect(espLines(c)).toBe(
      '"IPv6","2001:db8::1","2001:db8::2","0xc2000002","AES-CBC [RFC3602]","0x000102030405060708090a0b0c0d0e0f","HMAC-SHA-1-96 [RFC2404]","0x101112131415161718191a1b1c1d1e1f20212223"\n' +
        '"IPv6","2001:db8::2","2001:db8::1","0x0000c001","AES-CBC [RFC3602]","0x303132333435363738393a3b3c3d3e3f","HMAC-SHA-1-96 [RFC2404]","0x505152535455565758595a5b5c5d5e5f60616263"\n',
    );
  });

  it('ChaCha20-Poly1305 under the name Wireshark 4.2 and later use', () => {
    expect(espLines(child({ encr: { id: EncrId.CHACHA20_POLY1305 }, keysIn: { encr: seq(36, 0), integ: new Uint8Array(0) }, keysOut: { encr: seq(36, 0), integ: new Uint8Array(0) } }))).toContain('"ChaCha20 with Poly1305 [RFC7634]"');
  });
});
