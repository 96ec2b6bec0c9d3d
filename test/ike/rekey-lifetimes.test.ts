// Lifetimes drive rekeying (RFC 7296 §2.8: each end rekeys on its own timer): soft lifetime
// with jitter (swanctl rekey_time / rand_time), hard lifetime deletes, byte and packet limits
// and the sequence-number soft limit reported by the datapath.
import { describe, it, expect } from 'vitest';
import { planLifetime } from '../../src/ike/lifetimes.js';
import type { SideOptions } from './helpers/pair.js';
import { seededRandom } from './helpers/random.js';
import { Lab, ofType } from './rekey-harness.js';

const moon: SideOptions = { id: 'moon.example', remoteId: 'sun.example', seed: 21 };
const sun: SideOptions = { id: 'sun.example', remoteId: 'moon.example', localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], seed: 22 };

describe('lifetimes (swanctl rekey_time, life_time, rand_time)', () => {
  it('strongSwan defaults: Child SA rekeys within [54 min, 60 min] and expires at 66 min; the IKE SA within [3.6 h, 4 h], expiring at 4.4 h', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 50; seed++) {
      const lab = new Lab({ ...moon, seed }, { ...sun, seed: seed + 100 });
      lab.establish();
      const t0 = lab.now;
      for (const side of ['a', 'b'] as const) {
        const c = lab.child(side);
        expect(c.rekeyAt! - t0).toBeGreaterThanOrEqual(3600_000 - 360_000);
        expect(c.rekeyAt! - t0).toBeLessThanOrEqual(3600_000);
        expect(c.expireAt! - t0).toBe(3960_000);
        const ike = lab.ike(side);
        expect(ike.rekeyAt! - t0).toBeGreaterThanOrEqual(4 * 3600_000 - 1440_000);
        expect(ike.rekeyAt! - t0).toBeLessThanOrEqual(4 * 3600_000);
        expect(ike.expireAt! - t0).toBe(15_840_000); // 4.4 h
        seen.add(c.rekeyAt!);
      }
    }
    expect(seen.size).toBeGreaterThan(90); // jittered: the two ends (and tunnels) do not rekey in step
  });

  it('rekey_time 0 turns rekeying off; life_time alone still expires the SA; rand_time is capped by rekey_time', () => {
    const r = seededRandom(3);
    expect(planLifetime(0, { rekeyTime: 0 }, 3600, r)).toEqual({ rekeyAt: undefined, expireAt: undefined });
    expect(planLifetime(0, { rekeyTime: 0, lifeTime: 50 }, 3600, r)).toEqual({ rekeyAt: undefined, expireAt: 50_000 });
    for (let i = 0; i < 100; i++) {
      const l = planLifetime(0, { rekeyTime: 100, randTime: 500 }, 3600, r);
      expect(l.rekeyAt).toBeGreaterThanOrEqual(0);
      expect(l.rekeyAt).toBeLessThanOrEqual(100_000);
      expect(l.expireAt).toBe(110_000);
    }
    // a life_time shorter than rekey_time: the rekey still starts before the hard limit
    const short = planLifetime(0, { rekeyTime: 100, lifeTime: 60, randTime: 0 }, 3600, r);
    expect(short.rekeyAt).toBeLessThan(short.expireAt!);
  });

  it('the soft lifetime fires by itself: the earlier end rekeys, the other end\'s timer is then moot', () => {
    const lab = new Lab(moon, sun, (cfg) => (cfg.children[0].rekeyTime = 100));
    lab.establish();
    const first = Math.min(lab.child('a').rekeyAt!, lab.child('b').rekeyAt!);
    const starter = lab.child('a').rekeyAt === first ? 'a' : 'b';
    lab.advance(first);
    expect(lab.queue[starter === 'a' ? 'b' : 'a'].length).toBe(1); // the CREATE_CHILD_SA request
    lab.flush();
    const pair = lab.expectOnePair();
    expect(ofType(lab.events(starter), 'child-rekeyed').length).toBe(1);
    // the new SAs have fresh lifetimes, counted from the rekey
    for (const side of ['a', 'b'] as const) expect(lab.child(side).rekeyAt!).toBeGreaterThan(first + 80_000);
    expect(pair).toBeTruthy();
  });

  it('hard lifetime: without a rekey the Child SA is deleted at life_time, with F6 evidence', () => {
    const lab = new Lab(moon, sun, (cfg, side) => {
      cfg.children[0].rekeyTime = 0;
      cfg.children[0].lifeTime = side === 'a' ? 50 : 70;
    });
    lab.establish();
    const t = lab.child('a').expireAt!;
    expect(t - lab.now).toBe(50_000);
    lab.advance(t);
    lab.flush();
    for (const side of ['a', 'b'] as const) {
      expect(lab.children(side).filter((c) => c.state !== 'DELETED')).toEqual([]);
      expect(lab.dp[side].sas.size).toBe(0);
    }
    expect(ofType(lab.events('a'), 'failure')[0]).toMatchObject({ row: 'F6', evidence: { scope: 'child', result: 'expired', lifetimes: { lifeS: 50 } } });
    expect(ofType(lab.events('b'), 'child-deleted')[0]).toMatchObject({ reason: 'peer' });
    expect(lab.ike('a').state).toBe('ESTABLISHED');
  });

  it('hard lifetime of the IKE SA deletes it (and its Child SAs) when it was never rekeyed', () => {
    const lab = new Lab(moon, sun, (cfg) => {
      cfg.rekeyTime = 0;
      cfg.lifeTime = 30;
    });
    lab.establish();
    lab.advance(lab.ike('a').expireAt!);
    lab.flush();
    expect(ofType(lab.events('a'), 'failure')[0]).toMatchObject({ row: 'F6', evidence: { scope: 'ike', result: 'expired' } });
    expect(lab.a.list()).toEqual([]);
    expect(lab.b.list()).toEqual([]);
  });

  it('byte and packet limits (rekey_bytes, rekey_packets) and the sequence-number soft limit start a rekey when the datapath reports them', () => {
    const lab = new Lab(moon, sun, (cfg) => {
      cfg.children[0].rekeyBytes = 1_000_000;
      cfg.children[0].rekeyPackets = 5000;
    });
    lab.establish();
    const c = lab.child('a');
    expect(lab.cmd('a', (sa) => sa.childUsage(lab.now, c.spiIn, { bytes: 999_999, packets: 10 }))).toEqual([]);
    expect(lab.cmd('a', (sa) => sa.childUsage(lab.now, c.spiOut, { bytes: 1_000_000, packets: 10 })).filter((e) => e.type === 'send').length).toBe(1);
    expect(lab.cmd('a', (sa) => sa.childUsage(lab.now, c.spiIn, { bytes: 2_000_000 }))).toEqual([]); // already rekeying
    lab.flush();
    const packets = lab.child('b');
    expect(lab.cmd('b', (sa) => sa.childUsage(lab.now, packets.spiIn, { packets: 5000 })).filter((e) => e.type === 'send').length).toBe(1);
    lab.flush();
    const seq = lab.child('a');
    expect(lab.cmd('a', (sa) => sa.childUsage(lab.now, seq.spiOut, { seqSoft: true })).filter((e) => e.type === 'send').length).toBe(1);
    lab.flush();
    lab.expectOnePair();
    expect(lab.child('a').rekeys).toBe(3);
  });
});
