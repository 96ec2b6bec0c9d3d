// RFC 5280 §4.2.1.10 name matching (src/ike/auth/name-constraints.ts), form by form, on
// constraints built with the DER writer: what a CA operator writes and what it must cover.
import { describe, expect, it } from 'vitest';
import { DerError, seq, tlv } from '../../../src/ike/auth/der.js';
import { dnFromText } from '../../../src/ike/auth/dn.js';
import { nameConstraintViolation, parseNameConstraints } from '../../../src/ike/auth/name-constraints.js';
import type { AltName } from '../../../src/ike/auth/x509-fields.js';

const ascii = (s: string) => new TextEncoder().encode(s);
const dns = (s: string) => tlv(0x82, ascii(s));
const email = (s: string) => tlv(0x81, ascii(s));
const ip = (...b: number[]) => tlv(0x87, new Uint8Array(b));
const dir = (text: string) => tlv(0xa4, dnFromText(text));
const subtrees = (tag: number, ...bases: Uint8Array[]) => tlv(tag, ...bases.map((b) => seq(b)));
const nc = (o: { permitted?: Uint8Array[]; excluded?: Uint8Array[] }) =>
  parseNameConstraints(seq(...(o.permitted ? [subtrees(0xa0, ...o.permitted)] : []), ...(o.excluded ? [subtrees(0xa1, ...o.excluded)] : [])));
const ok = (c: ReturnType<typeof nc>, n: AltName) => nameConstraintViolation(c, [n]) === undefined;

describe('name constraints', () => {
  it('dNSName: the base and names below it; a leading period means below only; no partial labels', () => {
    const c = nc({ permitted: [dns('example.com')] });
    expect(ok(c, { type: 'dns', value: 'example.com' })).toBe(true);
    expect(ok(c, { type: 'dns', value: 'VPN.Example.COM' })).toBe(true);
    expect(ok(c, { type: 'dns', value: 'badexample.com' })).toBe(false);
    const dot = nc({ permitted: [dns('.example.com')] });
    expect(ok(dot, { type: 'dns', value: 'example.com' })).toBe(false);
    expect(ok(dot, { type: 'dns', value: 'a.example.com' })).toBe(true);
  });

  it('rfc822Name: a mailbox, a host, or a domain below', () => {
    expect(ok(nc({ permitted: [email('ops@example.com')] }), { type: 'email', value: 'ops@example.com' })).toBe(true);
    expect(ok(nc({ permitted: [email('ops@example.com')] }), { type: 'email', value: 'dev@example.com' })).toBe(false);
    expect(ok(nc({ permitted: [email('example.com')] }), { type: 'email', value: 'dev@example.com' })).toBe(true);
    expect(ok(nc({ permitted: [email('example.com')] }), { type: 'email', value: 'dev@a.example.com' })).toBe(false);
    expect(ok(nc({ permitted: [email('.example.com')] }), { type: 'email', value: 'dev@a.example.com' })).toBe(true);
  });

  it('iPAddress: address and mask per family; an IPv6 name misses IPv4-only permitted subtrees', () => {
    const c = nc({ permitted: [ip(10, 1, 0, 0, 255, 255, 0, 0)] });
    expect(ok(c, { type: 'ip', value: new Uint8Array([10, 1, 200, 3]) })).toBe(true);
    expect(ok(c, { type: 'ip', value: new Uint8Array([10, 2, 0, 1]) })).toBe(false);
    expect(ok(c, { type: 'ip', value: new Uint8Array(16) })).toBe(false);
    const ex = nc({ excluded: [ip(192, 0, 2, 0, 255, 255, 255, 0)] });
    expect(nameConstraintViolation(ex, [{ type: 'ip', value: new Uint8Array([192, 0, 2, 9]) }])).toMatch(/iPAddress 192\.0\.2\.9 is in excluded subtree iPAddress/);
    expect(() => nc({ permitted: [ip(10, 0, 0, 0)] })).toThrow(DerError); // 4 octets: no mask
  });

  it('directoryName: the base RDNs begin the name', () => {
    const c = nc({ permitted: [dir('C=CH, O=example')] });
    expect(ok(c, { type: 'dn', value: dnFromText('C=CH, O=example, CN=moon') })).toBe(true);
    expect(ok(c, { type: 'dn', value: dnFromText('C=CH, O=other, CN=moon') })).toBe(false);
  });

  it('a form without constraints is free; an unsupported form only matters when the certificate has such a name', () => {
    const c = nc({ permitted: [dns('example.com')] });
    expect(ok(c, { type: 'email', value: 'x@elsewhere.org' })).toBe(true);
    const uri = nc({ permitted: [tlv(0x86, ascii('https://example.com'))] });
    expect(ok(uri, { type: 'dns', value: 'anything.org' })).toBe(true);
    expect(nameConstraintViolation(uri, [{ type: 'other', tag: 0x86 }])).toMatch(/cannot be checked/);
  });

  it('malformed: empty NameConstraints, minimum/maximum present, wrong tags', () => {
    expect(() => parseNameConstraints(seq())).toThrow(DerError);
    expect(() => parseNameConstraints(seq(tlv(0xa0, seq(dns('a.b'), tlv(0x80, new Uint8Array([1]))))))).toThrow(/minimum or maximum/);
    expect(() => parseNameConstraints(seq(tlv(0xa2, seq(dns('a.b')))))).toThrow(DerError);
  });
});
