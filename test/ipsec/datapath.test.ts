import { describe, it, expect } from 'vitest';
import { Sad, type SaSpec } from '../../src/ipsec/sad.js';
import { Spd } from '../../src/ipsec/spd.js';
import { processOutbound } from '../../src/ipsec/outbound.js';
import { processInbound } from '../../src/ipsec/inbound.js';
import { totalDrops } from '../../src/ipsec/counters.js';
import { createAead, type Backend } from '../../src/crypto/aead.js';
import { IntegId } from '../../src/wire/constants.js';
import { createEspTransform, type EspCipherSpec } from '../../src/ipsec/esp-transform.js';
import { IntegrityError } from '../../src/crypto/errors.js';
import { readEspTrailer } from '../../src/wire/esp.js';
import { udpPacket, sel, pair, gcm, hex, GCM_KEY, hasNativeAead, nativeAead, NEEDS_NATIVE } from './helpers.js';

/** A sender (SAD + SPD with one PROTECT entry) and a receiver SAD for one SA pair. */
function link(specs: { out: SaSpec; in: SaSpec }) {
  const tx = new Sad({ inPlaceAead: nativeAead });
  const spd = new Spd();
  const rx = new Sad({ inPlaceAead: nativeAead });
  const out = tx.addOutbound(specs.out, 0);
  const entry = spd.add({ local: out.localSelectors, remote: out.remoteSelectors, action: 'protect', sa: out });
  const inb = rx.addInbound(specs.in, 0);
  return { tx, spd, rx, out, inb, entry };
}

const cbc = (integId: number, keyLength = 32): (() => EspCipherSpec) => () => ({
  kind: 'cbc',
  encrKey: new Uint8Array(keyLength).fill(0x42),
  integId,
  integKey: new Uint8Array(integId === IntegId.HMAC_SHA1_96 ? 20 : integId === IntegId.HMAC_SHA2_512_256 ? 64 : 32).fill(0x17),
});

const chacha = (backend: Backend): EspCipherSpec => ({ kind: 'aead', alg: 'chacha20-poly1305', keyWithSalt: new Uint8Array(36).fill(7), backend });

/** [name, spec, needs the native addon] */
const ciphers: Array<[string, () => EspCipherSpec, boolean?]> = [
  ['aes-gcm-16/node', () => gcm('node')],
  ['aes-gcm-16/noble', () => gcm('noble')],
  ['aes-gcm-16/native', () => gcm('native'), true],
  ['chacha20-poly1305/node', () => chacha('node')],
  ['chacha20-poly1305/native', () => chacha('native'), true],
  ['aes256-cbc + hmac-sha256-128', cbc(IntegId.HMAC_SHA2_256_128)],
  ['aes128-cbc + hmac-sha1-96', cbc(IntegId.HMAC_SHA1_96, 16)],
  ['aes256-cbc + hmac-sha512-256', cbc(IntegId.HMAC_SHA2_512_256)],
];

describe('ESP round trips', () => {
  for (const [name, cipher, native] of ciphers) {
    for (const esn of [false, true]) {
      it.skipIf(native && !hasNativeAead)(`${name}${esn ? ' with ESN' : ''}: every size comes back intact${native ? ` ${NEEDS_NATIVE}` : ''}`, () => {
        const l = link(pair(cipher, { esn }));
        const inner = [0, 1, 2, 3, 13, 100, 1372].map((n, i) => udpPacket('192.0.2.7', '203.0.113.9', 1000 + i, 53, n, i));
        const sent = processOutbound(l.spd, l.tx, inner, 10);
        expect(sent.drops).toEqual([]);
        expect(sent.esp).toHaveLength(inner.length);
        for (const e of sent.esp) {
          // RFC 4303 §2.4: the ciphertext ends on a 4-octet boundary (16 for AES-CBC)
          const t = l.out.transform;
          expect((e.length - 8 - t.ivLength - t.icvLength) % t.blockSize).toBe(0);
        }
        const got = processInbound(l.rx, sent.esp, 11);
        expect(got.drops).toEqual([]);
        expect(got.packets).toEqual(inner);
        expect(got.nextHeader.every((nh) => nh === 4)).toBe(true);
      });
    }
  }

  it('AES-GCM sealed by the noble backend opens with the node backend (same bytes on the wire)', () => {
    const specs = pair(() => gcm('noble'));
    specs.in.cipher = gcm('node');
    const l = link(specs);
    const inner = [udpPacket('192.0.2.1', '203.0.113.1', 1, 2, 500)];
    const got = processInbound(l.rx, processOutbound(l.spd, l.tx, inner, 0).esp, 0);
    expect(got.packets).toEqual(inner);
  });

  it.skipIf(!hasNativeAead)(`AES-GCM and ChaCha20-Poly1305 sealed natively open with node and the reverse, noble -> native too ${NEEDS_NATIVE}`, () => {
    const inner = [udpPacket('192.0.2.1', '203.0.113.1', 1, 2, 700)];
    for (const [from, to] of [['native', 'node'], ['node', 'native'], ['noble', 'native']] as const) {
      for (const spec of [gcm, chacha]) {
        for (const esn of [false, true]) {
          const specs = pair(() => spec(from), { esn });
          specs.in.cipher = spec(to);
          const l = link(specs);
          expect(processInbound(l.rx, processOutbound(l.spd, l.tx, inner, 0).esp, 0).packets).toEqual(inner);
        }
      }
    }
  });

  it.skipIf(!hasNativeAead)(`native open works in place: the plaintext is a view into the packet, a forged one is zeroed ${NEEDS_NATIVE}`, () => {
    const l = link(pair(() => gcm('native')));
    const inner = udpPacket('192.0.2.1', '203.0.113.1', 1, 2, 300, 0x77);
    const [esp] = processOutbound(l.spd, l.tx, [inner], 0).esp;
    const forged = esp.slice();
    forged[40] ^= 1;
    expect(() => l.inb.transform.open(forged, 0, false)).toThrow(IntegrityError);
    // RFC 4303 §3.4.4: nothing decrypted from a packet that failed the check is left to use
    expect(forged.subarray(16, forged.length - 16).every((b) => b === 0)).toBe(true);
    const plain = l.inb.transform.open(esp, 0, false);
    expect(plain.buffer).toBe(esp.buffer);
    expect(plain.byteOffset).toBe(esp.byteOffset + 16); // after SPI | Seq | IV
    expect(plain.length).toBe(esp.length - 16 - 16);
    expect(plain.subarray(0, readEspTrailer(plain).payloadLength)).toEqual(inner);
  });

  it('with ESN the unsent high half of the sequence number is authenticated (RFC 4106 §5, RFC 7634 §2.1)', () => {
    const specs: EspCipherSpec[] = [gcm('node'), gcm('noble'), chacha('node')];
    if (hasNativeAead) specs.push(gcm('native'), chacha('native'));
    for (const spec of specs) {
      const t = createEspTransform(spec, nativeAead);
      const packet = (): Uint8Array => {
        const buf = new Uint8Array(16 + 20 + 16);
        buf.set(hex('0000abcd 00000005'), 0);
        buf.fill(0x42, 16, 34).set([0, 4], 34); // payload, Pad Length 0, Next Header 4
        expect(t.seal(buf, 0, 20, 7, 5, true)).toBe(buf.length);
        return buf;
      };
      expect(() => t.open(packet(), 6, true)).toThrow(IntegrityError);
      expect(() => t.open(packet(), 7, false)).toThrow(IntegrityError);
      expect(readEspTrailer(t.open(packet(), 7, true))).toMatchObject({ payloadLength: 18, nextHeader: 4 });
      t.dispose();
    }
  });

  it('IPv6 inner packets use Next Header 41 and round-trip', () => {
    const l = link(pair(() => gcm(), { a: ['2001:db8:1::/48'], b: ['2001:db8:2::/48'] }));
    const inner = [udpPacket('2001:db8:1::5', '2001:db8:2::9', 4500, 443, 77)];
    const got = processInbound(l.rx, processOutbound(l.spd, l.tx, inner, 0).esp, 0);
    expect(got.packets).toEqual(inner);
    expect(got.nextHeader).toEqual([41]);
  });

  it('transport mode carries only the upper layer, Next Header = its protocol', () => {
    const l = link(pair(() => gcm(), { mode: 'transport' }));
    const inner = udpPacket('192.0.2.7', '203.0.113.9', 1234, 53, 40);
    const sent = processOutbound(l.spd, l.tx, [inner], 0);
    expect(sent.source).toEqual([0]);
    const got = processInbound(l.rx, sent.esp, 0);
    expect(got.nextHeader).toEqual([17]);
    expect(got.packets).toEqual([inner.subarray(20)]);
  });

  it('the IV never repeats under one key (RFC 4106 §3.1): consecutive packets carry consecutive IVs', () => {
    const l = link(pair(() => gcm()));
    const p = udpPacket('192.0.2.1', '203.0.113.1', 1, 2, 10);
    const { esp } = processOutbound(l.spd, l.tx, [p, p, p], 0);
    const ivs = esp.map((e) => Buffer.from(e.subarray(8, 16)).toString('hex'));
    expect(new Set(ivs).size).toBe(3);
    expect(esp.map((e) => e[7])).toEqual([1, 2, 3]); // sequence numbers 1, 2, 3
  });
});

describe('inbound drops, each under its reason', () => {
  it('a flipped ciphertext bit is an integrity drop and leaves the replay window unchanged', () => {
    for (const [, cipher, native] of ciphers) {
      if (native && !hasNativeAead) continue;
      const l = link(pair(cipher));
      const [good] = processOutbound(l.spd, l.tx, [udpPacket('192.0.2.1', '203.0.113.1', 1, 2, 64)], 0).esp;
      const bad = good.slice();
      bad[good.length - 20] ^= 0x01; // inside the ciphertext (before the ICV)
      const r1 = processInbound(l.rx, [bad], 0);
      expect(r1.drops.map((d) => d.reason)).toEqual(['integrity']);
      expect(l.inb.sequence).toBe(0n); // RFC 4303 §3.4.3: no commit without a valid ICV
      const r2 = processInbound(l.rx, [good], 0);
      expect(r2.packets).toHaveLength(1);
      expect(l.inb.sequence).toBe(1n);
    }
  });

  it('unknown SPI, too short, and duplicate are told apart', () => {
    const l = link(pair(() => gcm()));
    const [esp] = processOutbound(l.spd, l.tx, [udpPacket('192.0.2.1', '203.0.113.1', 1, 2, 8)], 0).esp;
    const otherSpi = esp.slice();
    otherSpi[0] ^= 0xff;
    const r = processInbound(l.rx, [otherSpi, esp.subarray(0, 5), esp.subarray(0, 30), esp, esp], 0);
    expect(r.drops.map((d) => [d.index, d.reason])).toEqual([
      [0, 'unknown-spi'],
      [1, 'malformed'],
      [2, 'malformed'],
      [4, 'replay'],
    ]);
    expect(r.packets).toHaveLength(1);
  });

  it('an inner packet outside the SA selectors is dropped (RFC 4301 §5.2 step 4)', () => {
    // The sender's policy is wider than what the receiver agreed to.
    const specs = pair(() => gcm(), { a: ['192.0.2.0/24'], b: ['203.0.113.0/24'] });
    specs.out.localSelectors = sel('0.0.0.0/0');
    const l = link(specs);
    const inside = udpPacket('192.0.2.1', '203.0.113.1', 1, 2, 8);
    const outside = udpPacket('10.0.0.1', '203.0.113.1', 1, 2, 8);
    const r = processInbound(l.rx, processOutbound(l.spd, l.tx, [inside, outside], 0).esp, 0);
    expect(r.packets).toEqual([inside]);
    expect(r.drops.map((d) => d.reason)).toEqual(['selector-mismatch']);
    expect(l.inb.counters.drops['selector-mismatch']).toBe(1);
  });

  it('bad padding, dummy packets and a wrong Next Header, all with a valid tag', () => {
    const l = link(pair(() => gcm()));
    const aead = createAead('aes-gcm-16', GCM_KEY);
    const inner = udpPacket('192.0.2.1', '203.0.113.1', 1, 2, 2); // 30 bytes
    const build = (seq: number, trailer: number[]): Uint8Array => {
      const header = hex(`10000001 ${seq.toString(16).padStart(8, '0')}`);
      const iv = hex(`00000000 ${seq.toString(16).padStart(8, '0')}`);
      const pt = new Uint8Array([...inner, ...trailer]);
      return new Uint8Array([...header, ...iv, ...aead.seal(iv, header, pt)]);
    };
    const r = processInbound(l.rx, [
      build(1, [9, 9, 2, 4]), // padding bytes must be 1, 2 (RFC 4303 §2.4)
      build(2, [1, 2, 2, 59]), // RFC 4303 §2.6 dummy packet
      build(3, [1, 2, 2, 6]), // tunnel mode but Next Header TCP
      build(4, [1, 2, 2, 4]), // good
    ], 0);
    expect(r.drops.map((d) => d.reason)).toEqual(['bad-padding', 'dummy', 'bad-next-header']);
    expect(r.packets).toEqual([inner]);
    // bad padding was not committed; dummy and wrong-next-header were authentic and were
    expect(l.inb.replay!.check(1)).toBe(0);
    expect(l.inb.replay!.check(2)).toBeLessThan(0);
  });
});

describe('SPD (RFC 4301 §4.4.1: ordered, first match wins)', () => {
  it('a BYPASS entry before a PROTECT entry wins for what it covers', () => {
    const l = link(pair(() => gcm()));
    l.spd.add({ local: sel('192.0.2.0/24'), remote: sel('203.0.113.53/32[udp/53]'), action: 'bypass' }, 0);
    l.spd.add({ local: sel('192.0.2.0/24'), remote: sel('203.0.113.66/32'), action: 'discard' }, 1);
    const dns = udpPacket('192.0.2.1', '203.0.113.53', 999, 53, 8);
    const other = udpPacket('192.0.2.1', '203.0.113.53', 999, 80, 8);
    const blocked = udpPacket('192.0.2.1', '203.0.113.66', 999, 80, 8);
    const nowhere = udpPacket('10.1.1.1', '10.2.2.2', 1, 1, 8);
    const b = processOutbound(l.spd, l.tx, [dns, other, blocked, nowhere, new Uint8Array([0x45, 0])], 0);
    expect(b.bypass).toEqual([dns]);
    expect(b.source).toEqual([1]); // protected
    expect(b.drops).toEqual([
      { index: 2, reason: 'policy-discard' },
      { index: 3, reason: 'no-policy' },
      { index: 4, reason: 'malformed-outbound' },
    ]);
    expect(l.spd.list().map((e) => e.hits)).toEqual([1, 1, 1]);
  });

  it('the same entries in the other order: PROTECT first swallows the bypass traffic', () => {
    const l = link(pair(() => gcm()));
    l.spd.add({ local: sel('192.0.2.0/24'), remote: sel('203.0.113.53/32[udp/53]'), action: 'bypass' });
    const b = processOutbound(l.spd, l.tx, [udpPacket('192.0.2.1', '203.0.113.53', 999, 53, 8)], 0);
    expect(b.bypass).toEqual([]);
    expect(b.esp).toHaveLength(1);
  });

  it('a PROTECT entry without an SA drops as no-sa; a removed SA too', () => {
    const l = link(pair(() => gcm()));
    const p = udpPacket('192.0.2.1', '203.0.113.1', 1, 2, 8);
    l.tx.remove(l.out);
    expect(processOutbound(l.spd, l.tx, [p], 0).drops[0].reason).toBe('no-sa');
    l.spd.setSa(l.entry, undefined);
    expect(processOutbound(l.spd, l.tx, [p], 0).drops[0].reason).toBe('no-sa');
  });
});

describe('sequence numbers (RFC 4303 §3.3.3)', () => {
  it('without ESN the SA stops at 2^32 - 1, counts the drop and asks for a rekey once', () => {
    const specs = pair(() => gcm());
    specs.out.firstSeq = 0xffff_fffe;
    const l = link(specs);
    const p = udpPacket('192.0.2.1', '203.0.113.1', 1, 2, 8);
    const b = processOutbound(l.spd, l.tx, [p, p, p, p], 0);
    expect(b.esp).toHaveLength(2);
    expect(b.drops.map((d) => d.reason)).toEqual(['seq-exhausted', 'seq-exhausted']);
    expect(b.events).toEqual([
      { type: 'seq-soft-limit', spi: 0x1000_0001 },
      { type: 'seq-exhausted', spi: 0x1000_0001 },
    ]);
    expect(l.out.counters.drops['seq-exhausted']).toBe(2);
    expect(processOutbound(l.spd, l.tx, [p], 0).events).toEqual([]); // raised once
  });

  it('with ESN the counter crosses 2^32 and the receiver infers the high half', () => {
    const specs = pair(() => gcm(), { esn: true });
    specs.out.firstSeq = 0xffff_fffe;
    const l = link(specs);
    // Bring the receiver's window near 2^32 as a long-lived SA would be.
    const p = (n: number) => udpPacket('192.0.2.1', '203.0.113.1', 1, 2, 8, n);
    l.inb.replay!.commit(0x8000_0000, 0);
    l.inb.replay!.commit(0xffff_fff0, 0);
    const b = processOutbound(l.spd, l.tx, [p(1), p(2), p(3)], 0);
    expect(b.esp.map((e) => Buffer.from(e.subarray(4, 8)).toString('hex'))).toEqual(['fffffffe', 'ffffffff', '00000000']);
    const r = processInbound(l.rx, b.esp, 0);
    expect(r.drops).toEqual([]);
    expect(r.packets).toEqual([p(1), p(2), p(3)]);
    expect(l.inb.sequence).toBe(1n << 32n);
  });
});

describe('counters add up', () => {
  it('inbound: packets = delivered + every drop, per SA and globally; outbound likewise', () => {
    const l = link(pair(() => gcm()));
    l.spd.add({ local: sel('192.0.2.0/24'), remote: sel('198.51.100.0/24'), action: 'bypass' });
    const good = [1, 2, 3, 4, 5].map((n) => udpPacket('192.0.2.1', '203.0.113.1', n, 2, n * 10));
    const sent = processOutbound(l.spd, l.tx, [...good, udpPacket('192.0.2.1', '198.51.100.9', 1, 1), udpPacket('10.0.0.1', '10.0.0.2', 1, 1)], 0);
    const o = l.tx.counters.outbound;
    expect(o.packets).toBe(7);
    expect(o.packets).toBe(o.passed + l.tx.counters.bypassed + totalDrops(o.drops));
    const tampered = sent.esp[1].slice();
    tampered[20] ^= 4;
    const junk = [sent.esp[0], sent.esp[0], tampered, new Uint8Array(3), hex('deadbeef00000001'), ...sent.esp.slice(2)];
    const r = processInbound(l.rx, junk, 5);
    const g = l.rx.counters.inbound;
    expect(g.packets).toBe(junk.length);
    expect(g.passed).toBe(r.packets.length);
    expect(g.packets).toBe(g.passed + totalDrops(g.drops));
    expect(g.drops).toMatchObject({ replay: 1, integrity: 1, malformed: 1, 'unknown-spi': 1 });
    const s = l.inb.counters;
    expect(s.packets).toBe(s.passed + totalDrops(s.drops));
    expect(s.passed).toBe(4);
    expect(s.bytes).toBe([0, 2, 3, 4].reduce((n, i) => n + good[i].length, 0));
    expect(l.inb.lastUsed).toBe(5);
  });

  it('remove() zeroes the keys: the SA can no longer open or seal', () => {
    const l = link(pair(() => gcm()));
    const [esp] = processOutbound(l.spd, l.tx, [udpPacket('192.0.2.1', '203.0.113.1', 1, 2)], 0).esp;
    l.rx.remove(l.inb);
    expect(l.rx.inbound(0x1000_0001)).toBeUndefined();
    expect(() => l.inb.transform.open(esp, 0, false)).toThrow();
    expect(processInbound(l.rx, [esp], 0).drops[0].reason).toBe('unknown-spi');
  });
});
