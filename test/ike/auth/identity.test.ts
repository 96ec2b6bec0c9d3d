import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdType } from '../../../src/wire/constants.js';
import {
  IdentitySyntaxError,
  formatIdentity,
  identityMatches,
  parseIdentity,
} from '../../../src/ike/auth/identity.js';
import { encodeDn } from '../../../src/ike/auth/dn.js';
import { scratch, type Scratch } from './openssl.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

describe('parseIdentity picks the RFC 7296 §3.5 type the way strongSwan does', () => {
  it.each([
    ['198.51.100.1', IdType.ID_IPV4_ADDR, 'c6336401'],
    ['2001:db8::1', IdType.ID_IPV6_ADDR, '20010db8000000000000000000000001'],
    ['::ffff:192.0.2.1', IdType.ID_IPV6_ADDR, '00000000000000000000ffffc0000201'],
    ['@#0a1b2c', IdType.ID_KEY_ID, '0a1b2c'],
    ['keyid:0a1b2c', IdType.ID_KEY_ID, '0a1b2c'],
  ])('%s', (input, type, dataHex) => {
    const id = parseIdentity(input);
    expect(id.idType).toBe(type);
    expect(hex(id.data)).toBe(dataHex);
  });

  it.each([
    ['user@example.com', IdType.ID_RFC822_ADDR, 'user@example.com'],
    ['left.example', IdType.ID_FQDN, 'left.example'],
    ['@host', IdType.ID_FQDN, 'host'],
    ['@198.51.100.1', IdType.ID_FQDN, '198.51.100.1'],
    ['@@user', IdType.ID_RFC822_ADDR, 'user'],
    ['fqdn:a@b', IdType.ID_FQDN, 'a@b'],
  ])('%s', (input, type, data) => {
    const id = parseIdentity(input);
    expect(id.idType).toBe(type);
    expect(text(id.data)).toBe(data);
  });

  it('rejects malformed text with IdentitySyntaxError naming the problem', () => {
    expect(() => parseIdentity('')).toThrow(IdentitySyntaxError);
    expect(() => parseIdentity('@#abc')).toThrow(/hex/);
    expect(() => parseIdentity('C=CH, XX=nope')).toThrow(/unknown DN attribute "XX"/);
    expect(() => parseIdentity('C=CH, CN=')).toThrow(/empty value/);
    expect(() => parseIdentity('ipv4:300.1.1.1')).toThrow(IdentitySyntaxError);
    expect(() => parseIdentity('%any')).toThrow(IdentitySyntaxError);
  });
});

describe('formatIdentity round trips', () => {
  it.each([
    '198.51.100.1',
    '2001:db8::1',
    '2001:db8:0:1:1:1:1:1',
    'user@example.com',
    'left.example',
    'C=CH, O=strongSwan, CN=left',
    'C=CH, ST=Zurich, L=Rapperswil, O=strongSwan, OU=Test, CN=left, E=left@example.com',
    'CN=Zürich Gateway',
    'O=Acme\\, Inc., CN=gw',
    'DC=org, DC=example, UID=jdoe',
    '@#0a1b2c',
  ])('%s', (input) => {
    const id = parseIdentity(input);
    expect(formatIdentity(id.idType, id.data)).toBe(input);
    const back = parseIdentity(formatIdentity(id.idType, id.data));
    expect(back.idType).toBe(id.idType);
    expect(hex(back.data)).toBe(hex(id.data));
  });

  it('keeps forced types readable', () => {
    const fq = parseIdentity('@198.51.100.1');
    expect(parseIdentity(formatIdentity(fq.idType, fq.data)).idType).toBe(IdType.ID_FQDN);
    expect(formatIdentity(IdType.ID_IPV4_ADDR, new Uint8Array(3))).toMatch(/invalid/);
    expect(formatIdentity(IdType.ID_DER_ASN1_DN, new Uint8Array([0x30, 0x05]))).toMatch(/invalid/);
  });

  it('prints IPv6 per RFC 5952 (longest zero run compressed, lowercase)', () => {
    const id = parseIdentity('2001:DB8:0:0:1:0:0:1');
    expect(formatIdentity(id.idType, id.data)).toBe('2001:db8::1:0:0:1');
  });
});

describe('DN identities against openssl', () => {
  let s: Scratch;
  beforeAll(() => {
    s = scratch();
  });
  afterAll(() => s.remove());

  it('DER for "C=CH, O=strongSwan, CN=left" decodes in openssl to PrintableString RDNs in order', () => {
    const id = parseIdentity('C=CH, O=strongSwan, CN=left');
    expect(id.idType).toBe(IdType.ID_DER_ASN1_DN);
    s.write('dn.der', id.data);
    const dump = s.openssl('asn1parse', '-inform', 'DER', '-in', 'dn.der');
    const lines = dump
      .split('\n')
      .filter((l) => /OBJECT|STRING/.test(l))
      .map((l) => l.replace(/^.*prim:\s+/, '').replace(/\s+/g, ' ').trim());
    expect(lines).toEqual([
      'OBJECT :countryName',
      'PRINTABLESTRING :CH',
      'OBJECT :organizationName',
      'PRINTABLESTRING :strongSwan',
      'OBJECT :commonName',
      'PRINTABLESTRING :left',
    ]);
    // the whole encoding is exactly what openssl re-encodes from the same structure
    s.write('gen.cnf', 'asn1=SEQUENCE:dn\n[dn]\nc=SET:c\no=SET:o\ncn=SET:cn\n[c]\na=SEQUENCE:ca\n[ca]\nt=OID:countryName\nv=PRINTABLESTRING:CH\n[o]\na=SEQUENCE:oa\n[oa]\nt=OID:organizationName\nv=PRINTABLESTRING:strongSwan\n[cn]\na=SEQUENCE:cna\n[cna]\nt=OID:commonName\nv=PRINTABLESTRING:left\n');
    s.openssl('asn1parse', '-genconf', 'gen.cnf', '-out', 'ref.der', '-noout');
    expect(hex(id.data)).toBe(hex(s.read('ref.der')));
  });

  it('non-PrintableString characters fall back to UTF8String, email to IA5String', () => {
    const id = parseIdentity('CN=Zürich_GW, E=gw@example.com');
    s.write('u.der', id.data);
    const dump = s.openssl('asn1parse', '-inform', 'DER', '-in', 'u.der');
    expect(dump).toMatch(/UTF8STRING/);
    expect(dump).toMatch(/IA5STRING\s+:gw@example.com/);
    expect(dump).toMatch(/emailAddress/);
  });

  it('a certificate subject made by openssl formats to the same text (RFC 2253 order reversed)', () => {
    s.openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem',
      '-out', 'c.pem', '-days', '1', '-subj', '/C=CH/O=strongSwan/OU=Lab/CN=left.example');
    const rfc2253 = s.openssl('x509', '-in', 'c.pem', '-noout', '-subject', '-nameopt', 'RFC2253').trim();
    expect(rfc2253).toBe('subject=CN=left.example,OU=Lab,O=strongSwan,C=CH');
    const ours = parseIdentity('C=CH, O=strongSwan, OU=Lab, CN=left.example');
    const printed = formatIdentity(ours.idType, ours.data);
    expect(printed.split(', ').reverse().join(',')).toBe(rfc2253.replace('subject=', ''));
  });
});

describe('identityMatches', () => {
  const id = (t: string) => parseIdentity(t);
  it('%any matches everything', () => {
    expect(identityMatches('%any', id('198.51.100.1'))).toBe(true);
    expect(identityMatches('%any', { idType: 200, data: new Uint8Array() })).toBe(true);
  });
  it('compares types and values', () => {
    expect(identityMatches('198.51.100.1', id('198.51.100.1'))).toBe(true);
    expect(identityMatches('198.51.100.1', id('198.51.100.2'))).toBe(false);
    expect(identityMatches('left.example', id('@198.51.100.1'))).toBe(false);
    expect(identityMatches('198.51.100.1', id('@198.51.100.1'))).toBe(false);
    expect(identityMatches('Left.Example', id('left.example'))).toBe(true);
    expect(identityMatches('*.example', id('left.example'))).toBe(true);
    expect(identityMatches('*@example.com', id('user@example.com'))).toBe(true);
    expect(identityMatches('2001:db8::1', id('2001:db8:0:0:0:0:0:1'))).toBe(true);
  });
  it('compares a DN as a decoded DN, not as bytes', () => {
    // same DN with UTF8String values (what openssl writes by default) still matches
    const utf8 = encodeDn([
      { oid: '2.5.4.6', tag: 0x13, value: 'CH' },
      { oid: '2.5.4.10', tag: 0x0c, value: 'strongSwan' },
      { oid: '2.5.4.3', tag: 0x0c, value: 'left' },
    ]);
    expect(hex(utf8)).not.toBe(hex(parseIdentity('C=CH, O=strongSwan, CN=left').data));
    expect(identityMatches('C=CH, O=strongSwan, CN=left', { idType: IdType.ID_DER_ASN1_DN, data: utf8 })).toBe(true);
    expect(identityMatches('c=CH,o=strongSwan,cn=left', id('C=CH, O=strongSwan, CN=left'))).toBe(true);
    expect(identityMatches('C=CH, O=strongSwan, CN=*', id('C=CH, O=strongSwan, CN=right'))).toBe(true);
    expect(identityMatches('C=CH, O=strongSwan, CN=left', id('C=CH, O=strongSwan, CN=right'))).toBe(false);
    expect(identityMatches('C=CH, CN=left', id('C=CH, O=strongSwan, CN=left'))).toBe(false);
    expect(identityMatches('C=CH, CN=left', { idType: IdType.ID_DER_ASN1_DN, data: new Uint8Array([0x30, 9]) })).toBe(false);
  });
});
