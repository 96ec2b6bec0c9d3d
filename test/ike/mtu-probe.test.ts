// The path MTU probe (src/ike/tasks/mtu-probe.ts, failure map F7): a padded INFORMATIONAL
// whose retransmissions shrink, answered by a peer that ignores the private-use Notify.
import { describe, it, expect } from 'vitest';
import { Pair, I_ADDR, R_ADDR, events, sends, type SideOptions } from './helpers/pair.js';
import { paddingFor } from '../../src/ike/tasks/mtu-probe.js';
import type { Effect } from '../../src/ike/effects.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 1 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 2 };

describe('path MTU probe over IKE', () => {
  it('pads the request to the size asked for, and the peer answers it', () => {
    const p = new Pair(moon, sun);
    p.establish();
    const fx = p.initiator.probeMtu(p.now, [1400]);
    const [req] = sends(fx);
    expect(req.length).toBeLessThanOrEqual(1400);
    expect(req.length).toBeGreaterThan(1400 - 16); // within one cipher block
    const before = p.iEffects.length;
    p.run(fx);
    expect(events(p.iEffects.slice(before))).toContainEqual({ type: 'mtu-probe', sent: [req.length], answered: req.length });
    expect(p.initiator.state).toBe('ESTABLISHED');
    expect(p.responder!.state).toBe('ESTABLISHED');
  });

  it('copies of the probe are each answered; the answers after the first count as duplicate responses, not invalid message IDs', () => {
    const p = new Pair(moon, sun);
    p.establish();
    const [req] = sends(p.initiator.probeMtu(p.now, [1400]));
    const answers = [1, 2, 3].flatMap(() => sends(p.toResponder(req, I_ADDR, R_ADDR)));
    expect(answers).toHaveLength(3); // the first processed, the copies answered from the response cache
    for (const a of answers) p.initiator.handleDatagram(p.now, a, { from: R_ADDR, to: I_ADDR });
    expect(p.initiator.stats).toMatchObject({ duplicateResponses: 2, invalidMessageId: 0 });
    expect(p.responder!.stats.retransmitsReceived).toBe(2);
  });

  it('a lost large probe is retransmitted smaller under the same Message ID; the answer names the size that passed', () => {
    const p = new Pair(moon, sun);
    p.establish();
    const [large] = sends(p.initiator.probeMtu(p.now, [1400, 1200]));
    // the 1400-byte request is dropped on the path: nothing reaches the responder
    p.now = p.initiator.pollTimeout()!;
    const retx = p.initiator.handleTimeout(p.now);
    const [smaller] = sends(retx);
    expect(smaller.length).toBeLessThanOrEqual(1200);
    expect(smaller.length).toBeLessThan(large.length);
    expect(Buffer.from(smaller.subarray(20, 24))).toEqual(Buffer.from(large.subarray(20, 24))); // same Message ID
    const before = p.iEffects.length;
    p.run(retx);
    expect(events(p.iEffects.slice(before))).toContainEqual({ type: 'mtu-probe', sent: [large.length, smaller.length], answered: smaller.length });
    // the window moved on: the next request is answered as usual
    p.run(p.initiator.liveness(p.now));
    expect(events(p.iEffects)).toContainEqual({ type: 'liveness', ok: true });
  });

  it('after the sizes run out the request goes unpadded; nothing answered at all is a dead peer', () => {
    const p = new Pair(moon, sun);
    p.establish();
    const sizes: number[] = sends(p.initiator.probeMtu(p.now, [1400])).map((b) => b.length);
    const fx: Effect[] = [];
    for (let n = 0; p.initiator.pollTimeout() !== undefined && n < 20; n++) {
      p.now = p.initiator.pollTimeout()!;
      const f = p.initiator.handleTimeout(p.now);
      sizes.push(...sends(f).map((b) => b.length));
      fx.push(...f);
    }
    expect(sizes[1]).toBeLessThan(200); // unpadded: an empty INFORMATIONAL
    expect(new Set(sizes.slice(1)).size).toBe(1);
    expect(events(fx)).toContainEqual(expect.objectContaining({ type: 'liveness', ok: false }));
    expect(p.initiator.state).toBe('DELETED');
  });

  it('paddingFor never overshoots and is -1 when not even an empty Notify fits', () => {
    const cbc = (n: number) => 16 + Math.ceil((n + 1) / 16) * 16 + 16; // AES-CBC with a 16-octet ICV
    for (const len of [100, 1280, 1300, 1471, 1472]) {
      const d = paddingFor(len, cbc);
      expect(28 + 4 + cbc(8 + d)).toBeLessThanOrEqual(len);
      expect(28 + 4 + cbc(8 + d + 16)).toBeGreaterThan(len);
    }
    expect(paddingFor(40, cbc)).toBe(-1);
  });
});
