// RFC 4303 §2 ESP header and trailer, RFC 3948 port-4500 classification.
import { describe, it, expect } from 'vitest';
import { decodeEspHeader, espPadLength, readEspTrailer, writeEspTrailer } from '../../src/wire/esp.js';
import { classifyNatT, NAT_KEEPALIVE, NON_ESP_MARKER } from '../../src/wire/natt.js';
import { WireError } from '../../src/wire/errors.js';
import { IKE_SA_INIT_REQUEST } from './fixtures.js';
import { hex } from './hex.js';

const reasonOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof WireError) return e.reason;
    throw e;
  }
  return 'no error';
};

describe('ESP header (RFC 4303 §2.1)', () => {
  it('reads SPI and sequence number; payload follows at +8', () => {
    const b = hex('c0ffee01 00000005 45000014');
    expect(decodeEspHeader(b)).toEqual({ spi: 0xc0ffee01, seq: 5, payloadOffset: 8 });
  });
  it('honours an offset (e.g. after a UDP header)', () => {
    const b = hex('11945b20 00100000 00000101 ffffffff aa');
    expect(decodeEspHeader(b, 8)).toEqual({ spi: 0x101, seq: 0xffffffff, payloadOffset: 16 });
  });
  it('refuses fewer than 8 bytes and the reserved SPI 0', () => {
    expect(reasonOf(() => decodeEspHeader(hex('00000101 000000')))).toBe('truncated');
    expect(reasonOf(() => decodeEspHeader(hex('00000000 00000001')))).toBe('bad-spi');
  });
});

describe('ESP padding and trailer (RFC 4303 §2.4)', () => {
  it('pads to the cipher block size', () => {
    expect(espPadLength(10, 16)).toBe(4); // 10 + 4 + 2 = 16
    expect(espPadLength(14, 16)).toBe(0); // 14 + 0 + 2 = 16
    expect(espPadLength(15, 16)).toBe(15); // 15 + 15 + 2 = 32
    expect(espPadLength(0, 8)).toBe(6);
  });
  it('pads to 4 bytes for AEAD / stream ciphers (block size 1)', () => {
    expect(espPadLength(1, 1)).toBe(1); // 1 + 1 + 2 = 4
    expect(espPadLength(2, 1)).toBe(0);
    expect(espPadLength(1400, 1)).toBe(2); // 1400 + 2 + 2 = 1404
  });
  it('always ends the trailer on a block and 4-byte boundary with minimal padding', () => {
    for (const bs of [1, 4, 8, 16]) {
      const align = Math.max(bs, 4);
      for (let n = 0; n < 100; n++) {
        const pad = espPadLength(n, bs);
        expect((n + pad + 2) % align).toBe(0);
        expect(pad).toBeLessThan(align);
      }
    }
  });
  it('writes 1, 2, 3, ... then Pad Length and Next Header, and reads them back', () => {
    const buf = new Uint8Array(16).fill(0xee);
    const end = writeEspTrailer(buf, 10, 4, 4); // IPv4 in IPv4 (Next Header 4)
    expect(end).toBe(16);
    expect(buf.subarray(10)).toEqual(hex('01020304 04 04'));
    expect(readEspTrailer(buf)).toEqual({ payloadLength: 10, nextHeader: 4 });
  });
  it('reads a trailer with no padding', () => {
    expect(readEspTrailer(hex('aabb 00 29'))).toEqual({ payloadLength: 2, nextHeader: 41 });
  });
  it('refuses wrong padding bytes, a pad length beyond the plaintext, and < 2 bytes', () => {
    expect(reasonOf(() => readEspTrailer(hex('aa 01 03 03 02 04')))).toBe('bad-padding');
    expect(reasonOf(() => readEspTrailer(hex('01 02 05 04')))).toBe('bad-padding');
    expect(reasonOf(() => readEspTrailer(hex('04')))).toBe('truncated');
  });
});

describe('NAT-T classification on port 4500 (RFC 3948 §2)', () => {
  const withMarker = new Uint8Array(4 + IKE_SA_INIT_REQUEST.length);
  withMarker.set(NON_ESP_MARKER);
  withMarker.set(IKE_SA_INIT_REQUEST, 4);

  it('a single 0xFF is a keepalive (§2.3)', () => {
    expect(classifyNatT(NAT_KEEPALIVE)).toBe('keepalive');
    expect(classifyNatT(hex('ff'))).toBe('keepalive');
  });
  it('four zero bytes then an IKE message is IKE (§2.2)', () => {
    expect(NON_ESP_MARKER).toEqual(hex('00000000'));
    expect(classifyNatT(withMarker)).toBe('ike');
  });
  it('a non-zero SPI is ESP (§2.1)', () => {
    expect(classifyNatT(hex('00000101 00000001 deadbeef'))).toBe('esp');
    expect(classifyNatT(hex('01000000 00000001'))).toBe('esp');
  });
  it('anything else is invalid', () => {
    expect(classifyNatT(new Uint8Array(0))).toBe('invalid');
    expect(classifyNatT(hex('00'))).toBe('invalid');
    expect(classifyNatT(hex('ffff'))).toBe('invalid');
    expect(classifyNatT(hex('00000000'))).toBe('invalid'); // marker with no IKE header
    expect(classifyNatT(hex('00000101 0000'))).toBe('invalid'); // ESP shorter than SPI + seq
  });
});
