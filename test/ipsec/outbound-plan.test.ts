// processOutbound's scratch plan belongs to the SAD: reused from batch to batch, grown only
// for a larger batch, and never shared between two SADs.
import { describe, it, expect } from 'vitest';
import { Sad } from '../../src/ipsec/sad.js';
import { Spd } from '../../src/ipsec/spd.js';
import { processOutbound } from '../../src/ipsec/outbound.js';
import { processInbound } from '../../src/ipsec/inbound.js';
import { udpPacket, pair, gcm, hasNativeAead, nativeAead, NEEDS_NATIVE } from './helpers.js';

function sender() {
  const specs = pair(() => gcm('node'));
  const sad = new Sad();
  const spd = new Spd();
  const sa = sad.addOutbound(specs.out, 0);
  spd.add({ local: sa.localSelectors, remote: sa.remoteSelectors, action: 'protect', sa });
  const rx = new Sad();
  rx.addInbound(specs.in, 0);
  return { sad, spd, rx };
}

const batch = (n: number) => Array.from({ length: n }, (_, i) => udpPacket('192.0.2.1', '203.0.113.1', 1000 + i, 53, 40 + i));

describe('outbound scratch plan per SAD', () => {
  it('is reused across batches, grows for a larger one, and two SADs interleave without sharing it', () => {
    const a = sender(), b = sender();
    expect(a.sad.outboundPlan).not.toBe(b.sad.outboundPlan);
    const slots = a.sad.outboundPlan.planIndex;
    for (const n of [1, 64, 3]) {
      const inner = batch(n);
      const fromA = processOutbound(a.spd, a.sad, inner, 0);
      const fromB = processOutbound(b.spd, b.sad, inner.slice(0, 1), 0);
      expect(processInbound(a.rx, fromA.esp, 0).packets).toEqual(inner);
      expect(processInbound(b.rx, fromB.esp, 0).packets).toEqual(inner.slice(0, 1));
    }
    expect(a.sad.outboundPlan.planIndex).toBe(slots); // no new plan for batches of up to 64
    const big = batch(100);
    expect(processInbound(a.rx, processOutbound(a.spd, a.sad, big, 0).esp, 0).packets).toEqual(big);
    expect(a.sad.outboundPlan.planIndex.length).toBe(100);
  });

  it('seals every batch into the same slab, no new buffer per batch, and what it sends opens after stale bytes were there', () => {
    const a = sender();
    const first = processOutbound(a.spd, a.sad, batch(3), 0).esp.map((e) => e.slice());
    const slab = a.sad.outboundPlan.slab;
    for (let k = 0; k < 5; k++) {
      const inner = batch(3 + k).reverse(); // other sizes over the last batch's bytes
      const { esp } = processOutbound(a.spd, a.sad, inner, 0);
      for (const e of esp) expect(e.buffer).toBe(slab.buffer);
      expect(processInbound(a.rx, esp, 0).packets).toEqual(inner);
    }
    expect(processInbound(a.rx, first, 0).packets).toEqual(batch(3));
  });

  it.skipIf(!hasNativeAead)(`native AEAD: seals in the slab and opens in the received buffer, delivering views into it ${NEEDS_NATIVE}`, () => {
    const specs = pair(() => gcm('native'));
    const sad = new Sad({ inPlaceAead: nativeAead });
    const spd = new Spd();
    const sa = sad.addOutbound(specs.out, 0);
    spd.add({ local: sa.localSelectors, remote: sa.remoteSelectors, action: 'protect', sa });
    const rx = new Sad({ inPlaceAead: nativeAead });
    rx.addInbound(specs.in, 0);
    const inner = batch(4);
    const { esp } = processOutbound(spd, sad, inner, 0);
    expect(esp.every((e) => e.buffer === sad.outboundPlan.slab.buffer)).toBe(true);
    const received = new Uint8Array(esp.reduce((n, e) => n + e.length, 0));
    let off = 0;
    const views = esp.map((e) => (received.set(e, off), received.subarray(off, (off += e.length))));
    const got = processInbound(rx, views, 0);
    expect(got.packets).toEqual(inner);
    for (const p of got.packets) expect(p.buffer).toBe(received.buffer);
  });
});
