// innerMtu checked against the real datapath: seal inner packets of n and n+1 bytes with
// processOutbound and add the outer headers the daemon adds (outer IP in tunnel mode, UDP
// when encapsulated); n must fit the outer MTU and n+1 must not.
import { describe, it, expect } from 'vitest';
import { Sad, type SaSpec } from '../../src/ipsec/sad.js';
import { Spd } from '../../src/ipsec/spd.js';
import { processOutbound } from '../../src/ipsec/outbound.js';
import { espOverhead, innerMtu, type EspSizes } from '../../src/ipsec/mtu.js';
import { ipToBytes } from '../../src/wire/selectors.js';
import { IntegId } from '../../src/wire/constants.js';
import type { EspCipherSpec } from '../../src/ipsec/esp-transform.js';
import { decodeIpPacket } from '../../src/wire/ip.js';
import { udpPacket, sel, gcm } from './helpers.js';

const ciphers: Array<[string, () => EspCipherSpec]> = [
  ['aes-gcm-16', () => gcm('node')],
  ['chacha20-poly1305', () => ({ kind: 'aead', alg: 'chacha20-poly1305', keyWithSalt: new Uint8Array(36).fill(7) })],
  ['aes256-cbc + hmac-sha256-128', () => ({ kind: 'cbc', encrKey: new Uint8Array(32).fill(1), integId: IntegId.HMAC_SHA2_256_128, integKey: new Uint8Array(32).fill(2) })],
  ['aes128-cbc + hmac-sha1-96', () => ({ kind: 'cbc', encrKey: new Uint8Array(16).fill(1), integId: IntegId.HMAC_SHA1_96, integKey: new Uint8Array(20).fill(2) })],
];

const OUTER = { 4: ['198.51.100.1', '198.51.100.2'], 6: ['2001:db8::1', '2001:db8::2'] } as const;
const INNER = { 4: ['192.0.2.7', '203.0.113.9'], 6: ['2001:db8:1::7', '2001:db8:2::9'] } as const;

/** A sender for one SA: the outer family decides the outer addresses, `inner` the selectors. */
function sender(cipher: () => EspCipherSpec, mode: 'tunnel' | 'transport', outer: 4 | 6, inner: 4 | 6) {
  const sad = new Sad();
  const spd = new Spd();
  const spec: SaSpec = {
    spi: 0x2000_0001,
    mode,
    cipher: cipher(),
    localAddress: ipToBytes(OUTER[outer][0]),
    remoteAddress: ipToBytes(OUTER[outer][1]),
    localSelectors: sel(inner === 4 ? '0.0.0.0/0' : '::/0'),
    remoteSelectors: sel(inner === 4 ? '0.0.0.0/0' : '::/0'),
  };
  const sa = sad.addOutbound(spec, 0);
  spd.add({ local: sa.localSelectors, remote: sa.remoteSelectors, action: 'protect', sa });
  return { sad, spd, sa };
}

/**
 * An inner UDP packet of exactly `total` bytes, with `options` more header bytes: IPv4 NOP
 * options, or IPv6 Destination Options headers of 8 octets each.
 */
function innerPacket(family: 4 | 6, total: number, options = 0): Uint8Array {
  const base = family === 4 ? 20 : 40;
  const p = udpPacket(INNER[family][0], INNER[family][1], 4000, 53, total - base - options - 8);
  if (options === 0) return p;
  const q = new Uint8Array(total);
  q.set(p.subarray(0, base), 0);
  q.set(p.subarray(base), base + options);
  if (family === 4) {
    q.fill(1, 20, 20 + options); // RFC 791 §3.1: option type 1, No Operation
    q[0] = 0x40 | ((20 + options) / 4);
    q[2] = total >> 8;
    q[3] = total & 0xff;
  } else {
    q[6] = 60; // RFC 8200 §4.6: Destination Options
    for (let at = 40; at < 40 + options; at += 8) {
      q[at] = at + 8 < 40 + options ? 60 : 17; // Next Header: another one, then UDP
      q[at + 1] = 0; // Hdr Ext Len: 8 octets
      q.set([1, 4, 0, 0, 0, 0], at + 2); // RFC 8200 §4.2: PadN filling the header
    }
    q[4] = (total - 40) >> 8;
    q[5] = (total - 40) & 0xff;
  }
  return q;
}

/** Size of the packet on the wire after sealing: what must fit the outer MTU. */
function wireSize(s: ReturnType<typeof sender>, pkt: Uint8Array, sizes: EspSizes): number {
  const r = processOutbound(s.spd, s.sad, [pkt], 0);
  expect(r.drops).toEqual([]);
  const esp = r.esp[0].length;
  const udp = sizes.encap ? 8 : 0;
  if (sizes.mode === 'tunnel') return (sizes.outerFamily === 4 ? 20 : 40) + udp + esp;
  return decodeIpPacket(pkt).headerLength + udp + esp; // RFC 4303 §3.1.1: the inner IP header stays in front
}

const MTUS = [1500, 1499, 1498, 1497, 1420, 1400, 1280, 1279, 576];

describe('innerMtu against the ESP datapath (tunnel mode)', () => {
  for (const [name, cipher] of ciphers) {
    for (const outer of [4, 6] as const) {
      for (const encap of [false, true]) {
        it(`${name}, IPv${outer} outer${encap ? ', UDP-encapsulated' : ''}: n fits, n+1 does not`, () => {
          for (const inner of [4, 6] as const) {
            const s = sender(cipher, 'tunnel', outer, inner);
            const t = s.sa.transform;
            const sizes: EspSizes = { ivLength: t.ivLength, icvLength: t.icvLength, blockSize: t.blockSize, encap, outerFamily: outer, mode: 'tunnel' };
            for (const mtu of MTUS) {
              const n = innerMtu(mtu, sizes);
              expect(wireSize(s, innerPacket(inner, n), sizes)).toBeLessThanOrEqual(mtu);
              expect(wireSize(s, innerPacket(inner, n + 1), sizes)).toBeGreaterThan(mtu);
              // every smaller packet fits too (padding never makes a smaller packet bigger)
              for (let k = n - 20; k < n; k++) expect(wireSize(s, innerPacket(inner, k), sizes)).toBeLessThanOrEqual(mtu);
            }
          }
        });
      }
    }
  }
});

describe('innerMtu against the ESP datapath (transport mode)', () => {
  for (const [name, cipher] of ciphers) {
    for (const family of [4, 6] as const) {
      it(`${name}, IPv${family}: n fits whatever the header options; some header length makes n+1 too big`, () => {
        const s = sender(cipher, 'transport', family, family);
        const t = s.sa.transform;
        const sizes: EspSizes = { ivLength: t.ivLength, icvLength: t.icvLength, blockSize: t.blockSize, encap: true, outerFamily: family, mode: 'transport' };
        // IPv4 options in 4-octet steps (RFC 791 IHL up to 60 octets), IPv6 extension
        // headers in 8-octet steps (RFC 8200 §4)
        const optionSizes = family === 4 ? [0, 4, 8, 12, 16, 20] : [0, 8, 16, 24];
        for (const mtu of MTUS) {
          const n = innerMtu(mtu, sizes);
          const tooBig = optionSizes.map((o) => wireSize(s, innerPacket(family, n + 1, o), sizes) > mtu);
          for (const o of optionSizes) expect(wireSize(s, innerPacket(family, n, o), sizes)).toBeLessThanOrEqual(mtu);
          expect(tooBig).toContain(true);
        }
      });
    }
  }
});

describe('espOverhead', () => {
  it('counts outer IP only in tunnel mode, UDP only when encapsulated, and aligns to at least 4 (RFC 4303 §2.4)', () => {
    const gcmSizes = { ivLength: 8, icvLength: 16, blockSize: 4 };
    const base = espOverhead({ ...gcmSizes, encap: false, outerFamily: 4, mode: 'transport' });
    expect(espOverhead({ ...gcmSizes, encap: true, outerFamily: 4, mode: 'transport' }).fixed - base.fixed).toBe(8);
    expect(espOverhead({ ...gcmSizes, encap: false, outerFamily: 4, mode: 'tunnel' }).fixed - base.fixed).toBe(20);
    expect(espOverhead({ ...gcmSizes, encap: false, outerFamily: 6, mode: 'tunnel' }).fixed - base.fixed).toBe(40);
    expect(espOverhead({ ...gcmSizes, blockSize: 1, encap: false, outerFamily: 4, mode: 'tunnel' }).blockSize).toBe(4);
    expect(espOverhead({ ivLength: 16, icvLength: 12, blockSize: 16, encap: false, outerFamily: 4, mode: 'tunnel' }).blockSize).toBe(16);
  });

  it('AES-GCM over UDP in IPv4 leaves 1438 bytes of a 1500-byte path (the figure usually quoted for NAT-T + GCM)', () => {
    // 1500 - 20 (IP) - 8 (UDP) - 8 (SPI, seq) - 8 (IV) - 2 (trailer) - 16 (ICV) = 1438, already 4-aligned with the trailer
    expect(innerMtu(1500, { ivLength: 8, icvLength: 16, blockSize: 4, encap: true, outerFamily: 4, mode: 'tunnel' })).toBe(1438);
  });

  it('returns 0 when nothing fits and rejects nonsense sizes with RangeError', () => {
    const sizes: EspSizes = { ivLength: 16, icvLength: 16, blockSize: 16, encap: true, outerFamily: 6, mode: 'tunnel' };
    expect(innerMtu(60, sizes)).toBe(0);
    expect(innerMtu(0, sizes)).toBe(0);
    expect(() => innerMtu(-1, sizes)).toThrow(RangeError);
    expect(() => innerMtu(1500.5, sizes)).toThrow(RangeError);
    expect(() => espOverhead({ ...sizes, ivLength: -1 })).toThrow(RangeError);
    expect(() => espOverhead({ ...sizes, blockSize: Number.NaN })).toThrow(RangeError);
  });
});
