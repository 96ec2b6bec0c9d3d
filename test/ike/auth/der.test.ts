import { describe, expect, it } from 'vitest';
import { DerError, children, oid, oidText, readOnly, readTlv, uint, uintBytes } from '../../../src/ike/auth/der.js';
import { decodeDn, formatDn } from '../../../src/ike/auth/dn.js';

const b = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

describe('DER (X.690) reader and writer', () => {
  it('OIDs encode per X.690 §8.19 (values from RFC 5280 / RFC 8410)', () => {
    expect(hex(oid('2.5.4.3'))).toBe('0603550403'); // id-at-commonName
    expect(hex(oid('1.2.840.113549.1.1.11'))).toBe('06092a864886f70d01010b'); // sha256WithRSAEncryption
    expect(hex(oid('1.3.101.112'))).toBe('06032b6570'); // id-Ed25519
    expect(oidText(b('2a864886f70d010901'))).toBe('1.2.840.113549.1.9.1');
    expect(oidText(b('0992268993f22c640119'))).toBe('0.9.2342.19200300.100.1.25');
  });

  it('INTEGERs keep a leading zero for a set high bit and strip it on read', () => {
    expect(hex(uint(b('ff')))).toBe('020200ff');
    expect(hex(uint(b('0001')))).toBe('020101');
    expect(hex(uintBytes(b('00ff'), 2))).toBe('00ff');
  });

  it('long-form lengths read and write', () => {
    const body = new Uint8Array(300);
    const t = readTlv(Uint8Array.from([0x04, 0x82, 0x01, 0x2c, ...body]));
    expect(t.content.length).toBe(300);
  });

  it.each([
    ['', /truncated header/],
    ['3005020101', /length exceeds buffer/],
    ['3080', /unsupported length form/],
    ['1f0100', /multi-byte tag/],
    ['308200', /truncated length/],
    ['020100ff', /trailing bytes/],
  ])('malformed %s → DerError', (input, msg) => {
    expect(() => readOnly(b(input))).toThrow(DerError);
    expect(() => readOnly(b(input))).toThrow(msg);
  });

  it('nested lengths are checked against the parent, not the whole buffer', () => {
    expect(() => children(readTlv(b('3002020105')).content)).toThrow(DerError);
    expect(() => oidText(b('2a86'))).toThrow(/ends inside an arc/);
    expect(() => uintBytes(b('80'), 4)).toThrow(/negative/);
  });

  it('a malformed DN is a DerError, not a crash', () => {
    expect(() => decodeDn(b('3003020100'))).toThrow(DerError);
    expect(() => decodeDn(b('3005310330010a'))).toThrow(DerError);
  });

  it('a UniversalString character above U+10FFFF or in the surrogates is a DerError, not a RangeError (found by fuzzing)', () => {
    // Name { RDN { CN UniversalString 'fuzz' read as one 4-octet character 0x66757a7a } }
    const dn = Buffer.from('300f310d300b06035504031c0466757a7a', 'hex');
    expect(() => formatDn(dn)).toThrow(DerError);
    const surrogate = Buffer.from('300f310d300b06035504031c040000d800', 'hex');
    expect(() => formatDn(surrogate)).toThrow(DerError);
    // a real character still reads: U+00E9
    expect(formatDn(Buffer.from('300f310d300b06035504031c04000000e9', 'hex'))).toBe('CN=é');
  });
});
