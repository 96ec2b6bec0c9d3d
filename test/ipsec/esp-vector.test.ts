import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { Sad } from '../../src/ipsec/sad.js';
import { Spd } from '../../src/ipsec/spd.js';
import { processOutbound } from '../../src/ipsec/outbound.js';
import { processInbound } from '../../src/ipsec/inbound.js';
import { ipToBytes } from '../../src/wire/selectors.js';
import { hex, toHex, sel, hasNativeAead, nativeAead, NEEDS_NATIVE } from './helpers.js';
import { IntegId } from '../../src/wire/constants.js';

// RFC 7634 Appendix A: the whole ESP packet, reproduced and decapsulated.
const v = JSON.parse(readFileSync(new URL('./vectors/rfc7634-appendix-a.json', import.meta.url), 'utf8'));

describe('RFC 7634 Appendix A ESP example (ChaCha20-Poly1305, tunnel mode)', () => {
  const spi = parseInt(v.spi, 16);
  // IV = 64-bit sequence number XOR mask; choose the mask that yields the IV of the example.
  const ivMask = hex(v.iv);
  ivMask[7] ^= v.seq;

  for (const backend of ['node', 'noble', 'native'] as const) {
    const native = backend === 'native';
    const skip = native && !hasNativeAead;
    const needs = native ? ` ${NEEDS_NATIVE}` : '';
    it.skipIf(skip)(`outbound reproduces the ESP packet byte for byte (${backend})${needs}`, () => {
      const sad = new Sad({ inPlaceAead: nativeAead });
      const spd = new Spd();
      const sa = sad.addOutbound(
        {
          spi,
          mode: 'tunnel',
          cipher: { kind: 'aead', alg: 'chacha20-poly1305', keyWithSalt: hex(v.keymat), backend, ivMask },
          localAddress: ipToBytes('198.51.100.1'),
          remoteAddress: ipToBytes('198.51.100.2'),
          localSelectors: sel('198.51.100.0/24'),
          remoteSelectors: sel('192.0.2.0/24'),
          firstSeq: v.seq,
        },
        0,
      );
      spd.add({ local: sa.localSelectors, remote: sa.remoteSelectors, action: 'protect', sa });
      const batch = processOutbound(spd, sad, [hex(v.innerPacket)], 1);
      expect(batch.drops).toEqual([]);
      expect(batch.esp).toHaveLength(1);
      expect(toHex(batch.esp[0])).toBe(v.espPacket);
      expect(sa.sequence).toBe(BigInt(v.seq));
    });

    it.skipIf(skip)(`inbound decapsulates it to the inner packet (${backend})${needs}`, () => {
      const sad = new Sad({ inPlaceAead: nativeAead });
      const sa = sad.addInbound(
        {
          spi,
          mode: 'tunnel',
          cipher: { kind: 'aead', alg: 'chacha20-poly1305', keyWithSalt: hex(v.keymat), backend },
          localAddress: ipToBytes('198.51.100.2'),
          remoteAddress: ipToBytes('198.51.100.1'),
          localSelectors: sel('192.0.2.0/24'),
          remoteSelectors: sel('198.51.100.0/24'),
        },
        0,
      );
      const batch = processInbound(sad, [hex(v.espPacket)], 1);
      expect(batch.drops).toEqual([]);
      expect(batch.packets.map(toHex)).toEqual([v.innerPacket]);
      expect(batch.nextHeader).toEqual([4]);
      expect(sa.sequence).toBe(BigInt(v.seq));
      // The same packet again is a replay (RFC 4303 §3.4.3).
      const again = processInbound(sad, [hex(v.espPacket)], 2);
      expect(again.drops.map((d) => d.reason)).toEqual(['replay']);
    });
  }
});

// RFC 3602 §4 Case #5: AES-CBC transport-mode ESP (the vector stops before the ICV).
const c5 = JSON.parse(readFileSync(new URL('./vectors/rfc3602-case5.json', import.meta.url), 'utf8'));

describe('RFC 3602 Case #5 (AES-128-CBC, transport mode)', () => {
  const spec = (dir: 'in' | 'out') => ({
    spi: parseInt(c5.spi, 16),
    mode: 'transport' as const,
    cipher: {
      kind: 'cbc' as const,
      encrKey: hex(c5.key),
      integId: IntegId.HMAC_SHA1_96,
      integKey: new Uint8Array(20).fill(0x61),
      random: (out: Uint8Array) => out.set(hex(c5.iv)),
    },
    localAddress: ipToBytes(dir === 'out' ? '192.168.123.3' : '192.168.123.100'),
    remoteAddress: ipToBytes(dir === 'out' ? '192.168.123.100' : '192.168.123.3'),
    localSelectors: sel(dir === 'out' ? '192.168.123.3/32' : '192.168.123.100/32'),
    remoteSelectors: sel(dir === 'out' ? '192.168.123.100/32' : '192.168.123.3/32'),
  });

  it('outbound produces SPI | seq | IV | ciphertext of the RFC, then a 12-octet ICV; inbound reverses it', () => {
    const tx = new Sad();
    const spd = new Spd();
    const sa = tx.addOutbound(spec('out'), 0);
    spd.add({ local: sa.localSelectors, remote: sa.remoteSelectors, action: 'protect', sa });
    const packet = hex(c5.ipHeader + c5.data);
    const { esp } = processOutbound(spd, tx, [packet], 0);
    expect(esp).toHaveLength(1);
    expect(toHex(esp[0].subarray(0, esp[0].length - 12))).toBe(c5.spi + '00000001' + c5.iv + c5.encryptedData);
    const rx = new Sad();
    rx.addInbound(spec('in'), 0);
    const got = processInbound(rx, esp, 0);
    expect(got.drops).toEqual([]);
    expect(got.nextHeader).toEqual([1]); // ICMP
    expect(toHex(got.packets[0])).toBe(c5.data);
  });
});
