// The dispatcher under IKE_SA_INIT floods (issue 13 holes 1, 2, 7): half-open SAs capped per
// source address and in total, COOKIEs engaging on refused proposals too, the COOKIE secret
// rotated on the dispatcher's own deadline and zeroed, failures of unauthenticated SAs marked.
import { describe, it, expect } from 'vitest';
import { IkeDispatcher, DEFAULT_COOKIE_ROTATION_MS } from '../../src/ike/dispatcher.js';
import type { Endpoint } from '../../src/ike/config.js';
import type { Effect } from '../../src/ike/effects.js';
import { IkeSa } from '../../src/ike/ike-sa.js';
import { config, failures, psk, sends, R_ADDR, I_ADDR, Pair } from './helpers/pair.js';
import { seededRandom } from './helpers/random.js';

const rCfg = config({ id: 'r', seed: 1 }, R_ADDR, I_ADDR);
const src = (i: number, port = 500): Endpoint => ({ addr: `198.51.${100 + (i >> 8)}.${i & 255}`, port });

/** A dispatcher whose `random` is recorded, so the test can look at the COOKIE secrets it got. */
function dispatcher(o: { cookieThreshold?: number; blockThreshold?: number; halfOpenLimit?: number } = {}) {
  const handedOut: Uint8Array[] = [];
  const rnd = seededRandom(7);
  const random = (n: number): Uint8Array => {
    const b = rnd(n);
    handedOut.push(b);
    return b;
  };
  const d = new IkeDispatcher({ configFor: () => [rCfg], random, ...o });
  return { d, handedOut };
}

/** An initiator at `from` whose first IKE_SA_INIT is sent to the dispatcher; it answers a COOKIE if asked. */
function connect(d: IkeDispatcher, now: number, from: Endpoint, seed: number, ike?: string[]): { fx: Effect[]; sa: IkeSa } {
  const sa = IkeSa.initiator(config({ id: `i${seed}`, seed, ike }, from, R_ADDR));
  let fx = deliver(d, now, sa.initiate(now), from);
  const cookie = sends(fx).length === 1 && fx.length === 1 && sends(fx)[0].length < 100; // a bare N(COOKIE) response
  if (cookie) fx = deliver(d, now, sa.handleDatagram(now, sends(fx)[0], { from: R_ADDR, to: from }), from);
  return { fx, sa };
}

function deliver(d: IkeDispatcher, now: number, fx: Effect[], from: Endpoint): Effect[] {
  return sends(fx).flatMap((b) => d.handleDatagram(now, b, { from, to: R_ADDR }));
}

describe('half-open caps (strongSwan block_threshold, init_limit_half_open)', () => {
  it('drops a new IKE_SA_INIT from an address that has blockThreshold half-open SAs, and counts it', () => {
    const { d } = dispatcher({ blockThreshold: 5, cookieThreshold: 1000 });
    for (let p = 0; p < 20; p++) connect(d, 0, { addr: '203.0.113.9', port: 1000 + p }, 100 + p);
    expect(d.halfOpenCount()).toBe(5);
    expect(d.stats.halfOpenPerAddress).toBe(15);
    // another address still gets in
    const other = connect(d, 0, src(1), 99);
    expect(sends(other.fx)).toHaveLength(1);
    expect(d.halfOpenCount()).toBe(6);
  });

  it('a peer that answers COOKIEs from its real address gets no more than blockThreshold half-open SAs', () => {
    const { d } = dispatcher({ cookieThreshold: 2 });
    for (let p = 0; p < 50; p++) connect(d, p, { addr: '203.0.113.9', port: 2000 + p }, 200 + p);
    expect(d.stats.cookiesSent).toBeGreaterThan(0);
    expect(d.halfOpenCount()).toBe(5); // DEFAULT_BLOCK_THRESHOLD
    expect(d.stats.halfOpenPerAddress).toBe(45);
  });

  it('drops a new IKE_SA_INIT once halfOpenLimit SAs are half-open, from any number of addresses', () => {
    const { d } = dispatcher({ halfOpenLimit: 40, cookieThreshold: 10 });
    for (let i = 0; i < 100; i++) connect(d, i, src(i), 300 + i);
    expect(d.halfOpenCount()).toBe(40);
    expect(d.list()).toHaveLength(40);
    expect(d.stats.halfOpenLimit).toBe(60);
    // the half-open SAs time out (RFC 7296 §2: half-open timeout) and room is made again
    let t = d.pollTimeout();
    while (t !== undefined && d.halfOpenCount() > 0) {
      d.handleTimeout(t);
      t = d.pollTimeout();
    }
    expect(d.halfOpenCount()).toBe(0);
    expect(sends(connect(d, 200_000, src(500), 999).fx)).toHaveLength(1);
    expect(d.halfOpenCount()).toBe(1);
  });
});

describe('COOKIEs on the refused-proposal path (RFC 7296 §2.6)', () => {
  it('refused IKE_SA_INIT requests count toward the threshold: a spoofed flood gets COOKIEs, not an error each', () => {
    const { d } = dispatcher({ cookieThreshold: 10 });
    const refusals: number[] = [];
    for (let i = 0; i < 100; i++) {
      const sa = IkeSa.initiator(config({ id: 'x', seed: 400 + i, ike: ['aes128-sha256-modp2048'] }, src(i), R_ADDR));
      const fx = deliver(d, i * 10, sa.initiate(i * 10), src(i)); // spoofed: never answers the COOKIE
      refusals.push(failures(fx).length);
    }
    expect(refusals.reduce((a, b) => a + b, 0)).toBe(10);
    expect(d.stats.cookiesSent).toBe(90);
    expect(d.stats.initRefused).toBe(10);
    expect(d.halfOpenCount()).toBe(0);
    // the window passes: refusals no longer count, no COOKIE for the next one
    const later = connect(d, 60_000, src(900), 900);
    expect(d.stats.cookiesSent).toBe(90);
    expect(sends(later.fx)).toHaveLength(1);
  });

  it('marks the failure of a refused IKE_SA_INIT unauthenticated, with the source address', () => {
    const { d } = dispatcher();
    const { fx } = connect(d, 0, src(3), 3, ['aes128-sha256-modp2048']);
    const f = failures(fx);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ row: 'F2', unauthenticated: { from: src(3) } });
  });

  it('marks an IKE_AUTH that fails authentication (F3) unauthenticated: the peer never proved who it is', () => {
    const p = new Pair({ id: 'i', seed: 13, localAuth: psk('a wrong pre-shared key, long enough') }, { id: 'r', seed: 14 });
    p.establish();
    const f = failures(p.rEffects);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ row: 'F3', unauthenticated: { from: I_ADDR } });
    expect(p.dispatcher.halfOpenCount()).toBe(0);
  });

  it('leaves the failures of an authenticated SA unmarked', () => {
    // the responder refuses the Child SA's selectors after authenticating the peer (F4)
    const p = new Pair({ id: 'i', seed: 11, remoteTs: ['10.9.0.0/16'] }, { id: 'r', seed: 12 });
    p.establish();
    const f = failures(p.rEffects);
    expect(f.length).toBeGreaterThan(0);
    for (const e of f) expect(e).not.toHaveProperty('unauthenticated');
  });
});

describe('COOKIE secret rotation and zeroing (RFC 7296 §2.6)', () => {
  const from = src(42);
  /** The COOKIE the dispatcher answers an IKE_SA_INIT with, and the request it came for. */
  function cookieFor(d: IkeDispatcher, now: number, seed: number) {
    const sa = IkeSa.initiator(config({ id: 'c', seed }, from, R_ADDR));
    const fx = deliver(d, now, sa.initiate(now), from);
    expect(sends(fx)).toHaveLength(1);
    return { sa, answer: sends(fx)[0] };
  }
  const answered = (d: IkeDispatcher, now: number, c: { sa: IkeSa; answer: Uint8Array }): boolean => {
    const retry = c.sa.handleDatagram(now, c.answer, { from: R_ADDR, to: from });
    const before = d.halfOpenCount();
    deliver(d, now, retry, from);
    return d.halfOpenCount() === before + 1;
  };

  it('rotates on its own deadline: a cookie of the previous period is accepted, one two periods old refused', () => {
    const { d } = dispatcher({ cookieThreshold: 0 });
    const c1 = cookieFor(d, 0, 1);
    const c2 = cookieFor(d, 0, 2);
    expect(d.pollTimeout()).toBe(DEFAULT_COOKIE_ROTATION_MS);
    d.handleTimeout(DEFAULT_COOKIE_ROTATION_MS);
    expect(answered(d, DEFAULT_COOKIE_ROTATION_MS + 1, c1)).toBe(true); // previous secret
    cookieFor(d, DEFAULT_COOKIE_ROTATION_MS + 2, 3); // cookies handed out in this period: rotation goes on
    d.handleTimeout(2 * DEFAULT_COOKIE_ROTATION_MS);
    expect(answered(d, 2 * DEFAULT_COOKIE_ROTATION_MS + 1, c2)).toBe(false); // two periods old
    expect(d.stats.cookiesRejected).toBe(1);
  });

  it('zeroes a secret when it leaves the previous slot, and both at dispose', () => {
    const { d, handedOut } = dispatcher({ cookieThreshold: 0 });
    const first = handedOut[0];
    expect(first.length).toBe(32);
    expect(first.some((b) => b !== 0)).toBe(true);
    cookieFor(d, 0, 1);
    d.handleTimeout(DEFAULT_COOKIE_ROTATION_MS);
    expect(first.some((b) => b !== 0)).toBe(true); // previous: still valid
    d.handleTimeout(2 * DEFAULT_COOKIE_ROTATION_MS);
    expect(first.every((b) => b === 0)).toBe(true);
    const live = handedOut.filter((b) => b.length === 32 && b.some((x) => x !== 0));
    expect(live.length).toBeGreaterThan(0);
    d.dispose();
    for (const b of live) expect(b.every((x) => x === 0)).toBe(true);
  });

  it('an idle dispatcher has no rotation deadline (no cookie outstanding)', () => {
    const { d } = dispatcher();
    expect(d.pollTimeout()).toBeUndefined();
  });
});
