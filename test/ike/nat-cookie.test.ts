import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { addressBytes, detectNat, natDetectionHash, AddressError } from '../../src/ike/nat.js';
import { CookieJar } from '../../src/ike/cookie.js';
import { seededRandom } from './helpers/random.js';

const spiI = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const spiR = new Uint8Array(8);

describe('NAT detection (RFC 7296 §2.23)', () => {
  it('hashes SPIi | SPIr | IP | port with SHA-1', () => {
    const want = createHash('sha1')
      .update(Buffer.from([...spiI, ...spiR, 198, 51, 100, 7, 0x01, 0xf4]))
      .digest();
    expect(Buffer.from(natDetectionHash(spiI, spiR, { addr: '198.51.100.7', port: 500 }))).toEqual(want);
  });

  it('parses IPv4 and IPv6 text and refuses garbage with AddressError', () => {
    expect(Array.from(addressBytes('2001:db8::1'))).toEqual([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(Array.from(addressBytes('::ffff:192.0.2.1')).slice(10)).toEqual([0xff, 0xff, 192, 0, 2, 1]);
    for (const bad of ['1.2.3', '256.1.1.1', '1::2::3', 'x', '1:2:3:4:5:6:7:8:9']) expect(() => addressBytes(bad)).toThrow(AddressError);
  });

  it('reports who is behind the NAT', () => {
    const inside = { addr: '192.0.2.10', port: 500 };
    const outside = { addr: '203.0.113.5', port: 4500 };
    const responder = { addr: '198.51.100.1', port: 500 };
    // the initiator hashed its private address; the responder sees the NAT's public one
    const src = [natDetectionHash(spiI, spiR, inside)];
    const dst = [natDetectionHash(spiI, spiR, responder)];
    expect(detectNat(spiI, spiR, src, dst, outside, responder)).toEqual({ remote: true, local: false });
    expect(detectNat(spiI, spiR, src, dst, inside, responder)).toEqual({ remote: false, local: false });
    expect(detectNat(spiI, spiR, [], dst, inside, responder)).toBeUndefined();
  });
});

describe('COOKIE (RFC 7296 §2.6)', () => {
  const ni = new Uint8Array(32).fill(7);
  const from = { addr: '198.51.100.2', port: 500 };
  it('accepts its own cookie and refuses one for another address, nonce or SPI', () => {
    const jar = new CookieJar(seededRandom(1));
    const c = jar.make(ni, from, spiI);
    expect(jar.verify(c, ni, from, spiI)).toBe(true);
    expect(jar.verify(c, ni, { addr: '198.51.100.3', port: 500 }, spiI)).toBe(false);
    expect(jar.verify(c, new Uint8Array(32), from, spiI)).toBe(false);
    expect(jar.verify(c, ni, from, new Uint8Array(8))).toBe(false);
    expect(jar.verify(c.slice(0, 10), ni, from, spiI)).toBe(false);
  });
  it('keeps the previous secret valid for one rotation', () => {
    const jar = new CookieJar(seededRandom(2));
    const c = jar.make(ni, from, spiI);
    jar.rotate();
    expect(jar.verify(c, ni, from, spiI)).toBe(true);
    jar.rotate();
    expect(jar.verify(c, ni, from, spiI)).toBe(false);
  });
});
