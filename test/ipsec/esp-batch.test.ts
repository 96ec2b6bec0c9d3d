// ESP through the native AEAD's batch calls (one call per run of one SA's packets): the
// published RFC 7634 ESP packet, a batch whose middle packet has a bad ICV, in-batch
// duplicates, and the same bytes and counters from every backend (node and noble seal and
// open one packet at a time).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { Sad, type SaSpec } from '../../src/ipsec/sad.js';
import { Spd } from '../../src/ipsec/spd.js';
import { processInbound } from '../../src/ipsec/inbound.js';
import { createEspTransform } from '../../src/ipsec/esp-transform.js';
import { espPadLength, writeEspTrailer, ESP_HEADER_LENGTH } from '../../src/wire/esp.js';
import { processOutbound, NEXT_HEADER_IPV4 } from '../../src/ipsec/outbound.js';
import type { InPlaceAeadFactory } from '../../src/crypto/aead.js';
import { ipToBytes } from '../../src/wire/selectors.js';
import { udpPacket, sel, pair, gcm, hex, toHex, hasNativeAead, nativeAead, NEEDS_NATIVE } from './helpers.js';

const v = JSON.parse(readFileSync(new URL('./vectors/rfc7634-appendix-a.json', import.meta.url), 'utf8'));

/** The addon's factory, counting the calls its contexts get. */
function counting() {
  const calls = { sealInPlace: 0, openInPlace: 0, sealBatch: 0, openBatch: 0, batchPackets: 0 };
  const factory: InPlaceAeadFactory = (alg, key, salt) => {
    const ctx = nativeAead!(alg, key, salt);
    return {
      sealInPlace: (...a) => (calls.sealInPlace++, ctx.sealInPlace(...a)),
      openInPlace: (...a) => (calls.openInPlace++, ctx.openInPlace(...a)),
      sealBatch: (...a) => (calls.sealBatch++, (calls.batchPackets += a[6]), ctx.sealBatch!(...a)),
      openBatch: (...a) => (calls.openBatch++, (calls.batchPackets += a[6]), ctx.openBatch!(...a)),
      dispose: () => ctx.dispose(),
    };
  };
  return { calls, factory };
}

function link(specs: { out: SaSpec; in: SaSpec }, inPlaceAead: InPlaceAeadFactory | undefined) {
  const tx = new Sad({ inPlaceAead });
  const rx = new Sad({ inPlaceAead });
  const spd = new Spd();
  const out = tx.addOutbound(specs.out, 0);
  spd.add({ local: out.localSelectors, remote: out.remoteSelectors, action: 'protect', sa: out });
  const inb = rx.addInbound(specs.in, 0);
  return { tx, rx, spd, inb };
}

describe.skipIf(!hasNativeAead)(`ESP through the native batch calls ${NEEDS_NATIVE}`, () => {
  it('RFC 7634 Appendix A: the ESP packet is sealed and opened by one batch call each, byte for byte', () => {
    const { calls, factory } = counting();
    const ivMask = hex(v.iv);
    ivMask[7] ^= v.seq; // IV = sequence number XOR mask: the example's IV
    const spi = parseInt(v.spi, 16);
    const cipher = () => ({ kind: 'aead', alg: 'chacha20-poly1305', keyWithSalt: hex(v.keymat), ivMask }) as const;
    const tx = new Sad({ inPlaceAead: factory });
    const spd = new Spd();
    const out = tx.addOutbound(
      { spi, mode: 'tunnel', cipher: cipher(), localAddress: ipToBytes('198.51.100.1'), remoteAddress: ipToBytes('198.51.100.2'), localSelectors: sel('198.51.100.0/24'), remoteSelectors: sel('192.0.2.0/24'), firstSeq: v.seq },
      0,
    );
    spd.add({ local: out.localSelectors, remote: out.remoteSelectors, action: 'protect', sa: out });
    const sent = processOutbound(spd, tx, [hex(v.innerPacket)], 1);
    expect(sent.esp.map(toHex)).toEqual([v.espPacket]);
    const rx = new Sad({ inPlaceAead: factory });
    rx.addInbound(
      { spi, mode: 'tunnel', cipher: cipher(), localAddress: ipToBytes('198.51.100.2'), remoteAddress: ipToBytes('198.51.100.1'), localSelectors: sel('192.0.2.0/24'), remoteSelectors: sel('198.51.100.0/24') },
      0,
    );
    const got = processInbound(rx, [hex(v.espPacket)], 1);
    expect(got.packets.map(toHex)).toEqual([v.innerPacket]);
    expect(calls).toMatchObject({ sealBatch: 1, openBatch: 1, sealInPlace: 0, openInPlace: 0 });
  });

  it('a batch with one bad ICV in the middle: one call opens it, the others are delivered, the one is counted', () => {
    const { calls, factory } = counting();
    const l = link(pair(() => gcm()), factory);
    const inner = [1, 2, 3, 4, 5].map((n) => udpPacket('192.0.2.1', '203.0.113.1', n, 2, 100 + n));
    const sent = processOutbound(l.spd, l.tx, inner, 0);
    expect(calls).toMatchObject({ sealBatch: 1, batchPackets: 5, sealInPlace: 0 });
    // as the UDP reader hands them over: views into one receive slab
    const slab = new Uint8Array(8192);
    let off = 0;
    const views = sent.esp.map((p) => {
      slab.set(p, off);
      off += p.length + 7;
      return slab.subarray(off - p.length - 7, off - 7);
    });
    views[2][views[2].length - 1] ^= 1; // the ICV of the third
    const r = processInbound(l.rx, views, 1);
    expect(calls).toMatchObject({ openBatch: 1, batchPackets: 10, openInPlace: 0 });
    expect(r.packets.map(toHex)).toEqual([0, 1, 3, 4].map((i) => toHex(inner[i])));
    expect(r.drops.map((d) => [d.index, d.reason])).toEqual([[2, 'integrity']]);
    expect(l.inb.counters.drops.integrity).toBe(1);
    expect(l.inb.counters.passed).toBe(4);
    expect(l.rx.counters.inbound).toMatchObject({ packets: 5, passed: 4 });
    expect(l.inb.sequence).toBe(5n); // the window moved past the good ones
  });

  it('duplicates in one batch: the copy is a replay, unless the first copy failed its ICV', () => {
    const l = link(pair(() => gcm()), nativeAead);
    const sent = processOutbound(l.spd, l.tx, [1, 2].map((n) => udpPacket('192.0.2.1', '203.0.113.1', n, 2)), 0);
    const [a, b] = sent.esp.map((p) => p.slice());
    const forged = a.slice();
    forged[forged.length - 1] ^= 1;
    const r = processInbound(l.rx, [forged, a.slice(), b, a], 1);
    // the forged copy fails; the genuine one after it is delivered; the last copy is a replay
    expect(r.drops.map((d) => [d.index, d.reason])).toEqual([
      [0, 'integrity'],
      [3, 'replay'],
    ]);
    expect(r.packets).toHaveLength(2);
    expect(l.inb.counters.drops).toMatchObject({ integrity: 1, replay: 1 });
  });
});

describe('every backend: the same drops and deliveries for one mixed batch', () => {
  const backends = hasNativeAead ? (['node', 'noble', 'native'] as const) : (['node', 'noble'] as const);
  it(`${backends.join(', ')}: one bad ICV, one duplicate, one unknown SPI`, () => {
    const seen = backends.map((backend) => {
      const l = link(pair(() => gcm(backend)), nativeAead);
      const sent = processOutbound(l.spd, l.tx, [1, 2, 3, 4].map((n) => udpPacket('192.0.2.1', '203.0.113.1', n, 2, n * 50)), 0);
      const esp = sent.esp.map((p) => p.slice());
      esp[1][20] ^= 4;
      const other = esp[0].slice();
      other[0] ^= 0xff;
      const r = processInbound(l.rx, [esp[0], esp[1], other, esp[2], esp[2].slice(), esp[3]], 1);
      return { drops: r.drops.map((d) => `${d.index}:${d.reason}`), packets: r.packets.map(toHex), counters: l.rx.counters.inbound };
    });
    expect(seen[0].drops).toEqual(['1:integrity', '2:unknown-spi', '4:replay']);
    for (const s of seen.slice(1)) expect(s).toEqual(seen[0]);
  });
});

describe('extended sequence numbers: a batch decides as one packet at a time would (RFC 4303 Appendix A2.2)', () => {
  // An ESN receiver infers a packet's high 32 bits from its window: a number more than W (1024)
  // behind the top is taken for the next 2^32 and fails its ICV. When an earlier packet of the
  // same batch moves the top, later packets must be judged against the moved window.
  const spec = pair(() => gcm('node'), { esn: true });
  const tx = createEspTransform(spec.out.cipher);
  const esp = (seq: number): Uint8Array => {
    const inner = udpPacket('192.0.2.1', '203.0.113.1', 1000, 2000, 40, seq & 0xff);
    const pad = espPadLength(inner.length, tx.blockSize);
    const buf = new Uint8Array(ESP_HEADER_LENGTH + tx.ivLength + inner.length + pad + 2 + tx.icvLength);
    new DataView(buf.buffer).setUint32(0, spec.out.spi);
    new DataView(buf.buffer).setUint32(4, seq);
    buf.set(inner, ESP_HEADER_LENGTH + tx.ivLength);
    writeEspTrailer(buf, ESP_HEADER_LENGTH + tx.ivLength + inner.length, pad, NEXT_HEADER_IPV4);
    return buf.subarray(0, tx.seal(buf, 0, inner.length + pad + 2, 0, seq, true));
  };
  const backends = hasNativeAead ? (['node', 'native'] as const) : (['node'] as const);

  it(`${backends.join(', ')}: a number the batch leaves more than W behind fails its ICV, a copy of one seen before too`, () => {
    for (const backend of backends) {
      const batched = new Sad({ inPlaceAead: nativeAead });
      const single = new Sad();
      batched.addInbound({ ...spec.in, cipher: gcm(backend) } as SaSpec, 0);
      single.addInbound({ ...spec.in, cipher: gcm('node') }, 0);
      const warmup = [2990, 3000];
      for (const sad of [batched, single]) processInbound(sad, warmup.map(esp), 1);
      // 5000 moves the top: 3500 (new before it, 1500 behind after it) and 2990 (a copy, now far behind)
      const batch = [5000, 3500, 2990, 5001].map(esp);
      const got = processInbound(batched, batch.map((p) => p.slice()), 1);
      const one = batch.map((p, i) => processInbound(single, [p.slice()], 1).drops.map((d) => `${i}:${d.reason}`)).flat();
      expect(got.drops.map((d) => `${d.index}:${d.reason}`), backend).toEqual(['1:integrity', '2:integrity']);
      expect(one).toEqual(['1:integrity', '2:integrity']);
      expect(got.packets).toHaveLength(2);
      expect(batched.counters.inbound, backend).toEqual(single.counters.inbound);
    }
  });
});
