import { describe, it, expect } from 'vitest';
import { RequestWindow, ResponseCache, retransmitDelay } from '../../src/ike/retransmit.js';
import { DEFAULT_RETRANSMIT } from '../../src/ike/config.js';

const ep = { addr: '198.51.100.1', port: 500 };

describe('retransmission schedule (strongSwan defaults: 4 s x 1.8^n, 5 tries)', () => {
  it('waits 4, 7.2, 12.96, 23.328, 41.99, 75.58 s, then gives up after 165 s in total', () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => retransmitDelay(DEFAULT_RETRANSMIT, n) / 1000)).toEqual([
      4, 7.2, 12.96, 23.328, 41.99, 75.583,
    ]);
    const w = new RequestWindow(DEFAULT_RETRANSMIT);
    w.sent(0, 34, new Uint8Array([1]), ep, ep);
    const times: number[] = [];
    let now = 0;
    for (;;) {
      now = w.pollTimeout()!;
      const a = w.onTimeout(now);
      if (a.action === 'give-up') break;
      expect(a.action).toBe('retransmit');
      times.push(now);
    }
    expect(times.length).toBe(5);
    expect(now).toBeCloseTo(165_062, -1);
  });

  it('does nothing before the deadline', () => {
    const w = new RequestWindow(DEFAULT_RETRANSMIT);
    w.sent(1000, 34, new Uint8Array([1]), ep, ep);
    expect(w.onTimeout(4999).action).toBe('none');
    expect(w.onTimeout(5000).action).toBe('retransmit');
  });

  it('advances the Message ID only when the response arrives (RFC 7296 §2.2)', () => {
    const w = new RequestWindow(DEFAULT_RETRANSMIT);
    w.sent(0, 34, new Uint8Array([1]), ep, ep);
    expect(w.matches(0)).toBe(true);
    expect(w.matches(1)).toBe(false);
    w.completed();
    expect(w.nextMessageId).toBe(1);
    expect(w.pollTimeout()).toBeUndefined();
  });
});

describe('response cache (RFC 7296 §2.1)', () => {
  it('classifies new, retransmitted, stale and future requests', () => {
    const c = new ResponseCache();
    const req = new Uint8Array([1, 2, 3]);
    expect(c.classify(0, req)).toBe('new');
    expect(c.classify(1, req)).toBe('out-of-window');
    c.store(0, req, [new Uint8Array([9])]);
    expect(c.classify(0, req)).toBe('retransmit');
    expect(c.classify(0, new Uint8Array([1, 2, 4]))).toBe('stale');
    expect(c.classify(1, req)).toBe('new');
    expect(c.cached()).toEqual([new Uint8Array([9])]);
  });
});
