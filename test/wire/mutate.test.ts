// Randomized robustness: mutate valid messages thousands of times (seeded, reproducible) and
// require decodeMessage to either return a record or throw WireError, never anything else.
// A record that decodes must also survive encode -> decode unchanged.
import { describe, it, expect } from 'vitest';
import { decodeMessage, encodeMessage } from '../../src/wire/message.js';
import { WireError } from '../../src/wire/errors.js';
import { IKE_AUTH_REQUEST, IKE_SA_INIT_REQUEST, MIXED_PAYLOADS } from './fixtures.js';

/** mulberry32: a small seeded PRNG, so a failure is reproducible from its iteration number. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  const int = (n: number): number => Math.floor(rnd() * n);
  let b = src.slice();
  const steps = 1 + int(3);
  for (let s = 0; s < steps; s++) {
    switch (int(5)) {
      case 0: // bit flip
        if (b.length) b[int(b.length)] ^= 1 << int(8);
        break;
      case 1: // truncation
        b = b.slice(0, int(b.length + 1));
        break;
      case 2: {
        // insertion of random bytes
        const at = int(b.length + 1);
        const ins = Uint8Array.from({ length: 1 + int(8) }, () => int(256));
        const out = new Uint8Array(b.length + ins.length);
        out.set(b.subarray(0, at));
        out.set(ins, at);
        out.set(b.subarray(at), at + ins.length);
        b = out;
        break;
      }
      case 3: {
        // rewrite a 16-bit field at a random even offset past the header (payload, proposal,
        // transform, selector and attribute lengths all sit at such positions)
        if (b.length < 32) break;
        const at = 28 + 2 * int((b.length - 30) / 2);
        const v = [0, 3, 4, 7, 8, 0xffff, int(0x10000), (b[at] << 8 | b[at + 1]) + (int(9) - 4)][int(8)];
        b[at] = (v >> 8) & 0xff;
        b[at + 1] = v & 0xff;
        break;
      }
      case 4: // a count or type byte
        if (b.length) b[int(b.length)] = [0, 1, 2, 3, 7, 8, 0x80, 0xff, int(256)][int(9)];
        break;
    }
  }
  // half of the time keep the header length right, so the payload decoders get exercised
  if (b.length >= 28 && rnd() < 0.5) new DataView(b.buffer, b.byteOffset).setUint32(24, b.length);
  return b;
}

describe('mutated messages', () => {
  it('decode either returns a record or throws WireError (6000 mutations, seed 7296)', () => {
    const rnd = prng(7296);
    const seeds = [IKE_SA_INIT_REQUEST, IKE_AUTH_REQUEST, MIXED_PAYLOADS];
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < 6000; i++) {
      const input = mutate(seeds[i % seeds.length], rnd);
      let m;
      try {
        m = decodeMessage(input);
      } catch (e) {
        if (!(e instanceof WireError)) throw new Error(`iteration ${i}: ${String(e)}`);
        refused++;
        continue;
      }
      decoded++;
      const { length: _l, nextPayload: _n, ...fields } = m.header;
      const again = decodeMessage(encodeMessage(fields, m.payloads));
      const strip = (ps: typeof m.payloads) => ps.map((p) => (p.kind === 'SK' ? { ...p, aad: null } : p));
      expect(strip(again.payloads), `iteration ${i}`).toEqual(strip(m.payloads));
    }
    // the mutations must exercise both outcomes, not only the header check
    expect(decoded).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(1000);
  });
});

describe('mutated IP packets and ESP plaintexts', () => {
  it('decodeIpPacket and readEspTrailer return or throw WireError (4000 mutations, seed 791)', async () => {
    const { decodeIpPacket } = await import('../../src/wire/ip.js');
    const { readEspTrailer } = await import('../../src/wire/esp.js');
    const rnd = prng(791);
    const v4 = Uint8Array.from(Buffer.from('450000201c46400040110000c0000201c0000202123400350008000001020304', 'hex'));
    const v6 = Uint8Array.from(
      Buffer.from(
        '60000000001c0040' + '20010db8000000000000000000000001' + '20010db8000000000000000000000002' +
          '0600010400000000' + 'c35001bb00000000000000005002ffff00000000',
        'hex',
      ),
    );
    const esp = Uint8Array.from(Buffer.from('4500001401020304010203040404', 'hex'));
    for (let i = 0; i < 4000; i++) {
      const fn = i % 3 === 2 ? readEspTrailer : decodeIpPacket;
      const input = mutate([v4, v6, esp][i % 3], rnd);
      try {
        fn(input);
      } catch (e) {
        if (!(e instanceof WireError)) throw new Error(`iteration ${i}: ${String(e)}`);
      }
    }
  });
});
