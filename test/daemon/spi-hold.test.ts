// ESP that arrives a moment before the response that installs its SA (src/ipsec/spi-hold.ts):
// strongSwan, as IKE_AUTH responder of a make-before-break reauthentication, installs the new
// Child SA and may send on it before its response reaches us. While we wait for such a
// response the packet is held, then delivered; otherwise (or after the wait) it is dropped and
// counted as unknown-spi, as RFC 4303 §3.4.2 says.
import { describe, expect, it } from 'vitest';
import { Datapath } from '../../src/daemon/datapath.js';
import { silentLogger } from '../../src/daemon/log.js';
import { processOutbound } from '../../src/ipsec/outbound.js';
import { Sad } from '../../src/ipsec/sad.js';
import { HOLD_MS, HOLD_PACKETS, SpiHold } from '../../src/ipsec/spi-hold.js';
import { Spd } from '../../src/ipsec/spd.js';
import { gcm, pair, sel, udpPacket } from '../ipsec/helpers.js';

/** A peer that seals on SPI `spi`, and our datapath, which does not know that SPI yet. */
function rig(awaiting: { value: boolean }) {
  const p = pair(() => gcm(), { spi: 0x2000_0002, a: ['203.0.113.0/24'], b: ['192.0.2.0/24'] });
  const peerSad = new Sad();
  const peerSpd = new Spd();
  peerSpd.add({ local: sel('203.0.113.0/24'), remote: sel('192.0.2.0/24'), action: 'protect', sa: peerSad.addOutbound(p.out, 0) });
  const seal = (n: number): Uint8Array[] =>
    processOutbound(peerSpd, peerSad, Array.from({ length: n }, (_, i) => udpPacket('203.0.113.9', '192.0.2.7', 5000 + i, 53, 40)), 0).esp.map((e) => e.slice());

  const sad = new Sad();
  const clock = { now: 1000 };
  const tun: Uint8Array[] = [];
  const dp = new Datapath({
    sad,
    spd: new Spd(),
    tun: { writeBatch: (b, offs, lens, n) => (Array.from({ length: n }, (_, i) => tun.push(b.slice(offs[i], offs[i] + lens[i]))), n) },
    sendUdp: (_b, _o, _l, n) => n,
    now: () => clock.now,
    innerMtu: 1400,
    log: silentLogger,
  });
  dp.holdUnknownSpis = awaiting.value; // as the daemon sets it from its IKE SAs
  const install = () => sad.addInbound(p.in, clock.now);
  return { dp, sad, seal, install, clock, tun };
}

describe('ESP for an SA not yet installed', () => {
  it('is held while our IKE_AUTH / CREATE_CHILD_SA request is in flight, and delivered once the response installs its SA', () => {
    const r = rig({ value: true });
    const esp = r.seal(3);
    const seen = r.dp.inbound(esp, true);
    expect(seen.held).toBe(3); // the daemon arms its timer for the hold's deadline
    expect(seen.saSeen).toHaveLength(0);
    expect(r.dp.holdDeadline()).toBe(r.clock.now + HOLD_MS);
    expect(r.tun).toHaveLength(0);
    expect(r.sad.counters.inbound.drops['unknown-spi']).toBe(0);
    esp[0].fill(0); // the held copies do not share the receive batch's memory
    const sa = r.install();
    const released = r.dp.releaseHeld();
    expect(released.saSeen).toEqual([sa]); // what the released packets showed, as an inbound batch
    expect(released.held).toBe(0);
    expect(r.tun.map((p) => (p[20] << 8) | p[21])).toEqual([5000, 5001, 5002]); // in arrival order
    expect(r.sad.counters.inbound.drops['unknown-spi']).toBe(0);
    expect(r.sad.counters.inbound.passed).toBe(3);
    expect(r.dp.held.stats).toEqual({ held: 3, released: 3 });
    expect(r.dp.holdDeadline()).toBeUndefined();
  });

  it('is dropped at once, as unknown-spi, when no such request is in flight (RFC 4303 §3.4.2)', () => {
    const r = rig({ value: false });
    expect(r.dp.inbound(r.seal(2), true).held).toBe(0);
    expect(r.sad.counters.inbound.drops['unknown-spi']).toBe(2);
    expect(r.dp.held.size).toBe(0);
    expect(r.dp.holdDeadline()).toBeUndefined();
  });

  it('is dropped at once again when the daemon says the request is answered (holdUnknownSpis false)', () => {
    const r = rig({ value: true });
    r.dp.inbound(r.seal(1), true);
    r.dp.holdUnknownSpis = false;
    r.dp.inbound(r.seal(2), true);
    expect(r.dp.held.size).toBe(1);
    expect(r.sad.counters.inbound.drops['unknown-spi']).toBe(2);
  });

  it(`is counted as unknown-spi when its SA has not come after ${HOLD_MS} ms (the daemon's timer calls releaseHeld at holdDeadline)`, () => {
    const r = rig({ value: true });
    r.dp.inbound(r.seal(2), true);
    const deadline = r.dp.holdDeadline()!;
    r.clock.now += HOLD_MS - 1;
    r.dp.releaseHeld(); // an unrelated SA was installed: still waiting
    expect(r.sad.counters.inbound.drops['unknown-spi']).toBe(0);
    expect(r.dp.holdDeadline()).toBe(deadline);
    r.clock.now = deadline;
    r.dp.releaseHeld();
    expect(r.sad.counters.inbound.drops['unknown-spi']).toBe(2);
    expect(r.dp.held.size).toBe(0);
    expect(r.dp.holdDeadline()).toBeUndefined();
    expect(r.tun).toHaveLength(0);
  });

  it(`holds at most ${HOLD_PACKETS} packets; the rest are dropped as before`, () => {
    const r = rig({ value: true });
    r.dp.inbound(r.seal(HOLD_PACKETS + 5), true);
    expect(r.dp.held.size).toBe(HOLD_PACKETS);
    expect(r.sad.counters.inbound.drops['unknown-spi']).toBe(5);
    r.install();
    r.dp.releaseHeld();
    expect(r.tun).toHaveLength(HOLD_PACKETS);
  });

  it('a forged packet that was held still has to pass the ICV when released', () => {
    const r = rig({ value: true });
    const [esp] = r.seal(1);
    esp[esp.length - 1] ^= 1;
    r.dp.inbound([esp], true);
    r.install();
    r.dp.releaseHeld();
    expect(r.tun).toHaveLength(0);
    expect(r.sad.counters.inbound.drops.integrity).toBe(1);
  });
});

describe('SpiHold', () => {
  it('hands back, in arrival order, what became known or waited its time, and keeps the rest', () => {
    const h = new SpiHold(100, 10);
    h.offer(Uint8Array.of(1), 1, true, 0);
    h.offer(Uint8Array.of(2), 2, false, 50);
    h.offer(Uint8Array.of(3), 1, false, 60);
    h.offer(Uint8Array.of(4), 3, true, 90);
    const got = h.take(100, (spi) => spi === 1); // SPI 1 known; SPI 2's wait is over at 150, 3's at 190
    expect(got.udp.map((p) => p[0])).toEqual([1]);
    expect(got.raw.map((p) => p[0])).toEqual([3]);
    expect(h.size).toBe(2);
    expect(h.nextDeadline()).toBe(150);
    const later = h.take(150, () => false);
    expect(later.raw.map((p) => p[0])).toEqual([2]);
    expect(h.size).toBe(1);
    expect(h.stats).toEqual({ held: 4, released: 2 });
  });
});
