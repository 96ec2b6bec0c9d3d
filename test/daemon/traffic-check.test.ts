// F5 from the counters (src/daemon/traffic-check.ts): outbound moves, inbound stays flat,
// the peer still answers IKE.
import { describe, expect, it } from 'vitest';

import { checkPolicyMisses, checkTraffic, FLAT_INBOUND_MIN_OUT, type ChildSample, type TrafficSample } from '../../src/daemon/traffic-check.js';
import { bytesToIp } from '../../src/wire/ip-text.js';
import { ipToBytes, parseSelector } from '../../src/wire/selectors.js';

const child = (over: Partial<ChildSample> = {}): ChildSample => ({ spiIn: 'c1', conn: 'left', child: 'left', packetsOut: 0, packetsIn: 0, ikeHeardAt: 0, heardWithinMs: 40_000, ...over });
const at = (ms: number, ...children: ChildSample[]): TrafficSample => ({ at: ms, children });

describe('checkTraffic', () => {
  it('finds F5 when outbound grew, inbound stayed flat and IKE was heard within the window', () => {
    const v = checkTraffic(at(0, child({ packetsOut: 10, packetsIn: 7 })), at(10_000, child({ packetsOut: 40, packetsIn: 7, ikeHeardAt: 4_000 })), new Set());
    expect(v.found).toEqual([{ conn: 'left', child: 'left', spiIn: 'c1', outboundDelta: 30, inboundDelta: 0, windowS: 10, ikeLastHeardS: 6, hint: expect.stringMatching(/ESP \(IP protocol 50, or UDP 4500/) }]);
    expect([...v.flagged]).toEqual(['c1']);
  });

  it('says nothing when inbound moved, when too few packets went out, or when the peer is silent over IKE too (F1, not F5)', () => {
    const prev = at(0, child());
    expect(checkTraffic(prev, at(10_000, child({ packetsOut: 50, packetsIn: 1 })), new Set()).found).toEqual([]);
    expect(checkTraffic(prev, at(10_000, child({ packetsOut: FLAT_INBOUND_MIN_OUT })), new Set()).found).toEqual([]);
    expect(checkTraffic(prev, at(10_000, child({ packetsOut: 50, ikeHeardAt: undefined })), new Set()).found).toEqual([]);
    expect(checkTraffic(prev, at(60_000, child({ packetsOut: 50, ikeHeardAt: 10_000 })), new Set()).found).toEqual([]); // heard 50 s ago, limit 40 s
  });

  it('skips a Child SA with no earlier sample (installed or rekeyed this window)', () => {
    expect(checkTraffic(at(0), at(10_000, child({ packetsOut: 50, ikeHeardAt: 9_000 })), new Set()).found).toEqual([]);
  });

  it('reports a flat Child SA once, keeps it flagged while quiet, and says when its inbound moves again', () => {
    const second = checkTraffic(at(10_000, child({ packetsOut: 40 })), at(20_000, child({ packetsOut: 80, ikeHeardAt: 19_000 })), new Set(['c1']));
    expect(second.found).toEqual([]);
    expect([...second.flagged]).toEqual(['c1']);
    const quiet = checkTraffic(at(20_000, child({ packetsOut: 80 })), at(30_000, child({ packetsOut: 80 })), second.flagged);
    expect([...quiet.flagged]).toEqual(['c1']);
    const back = checkTraffic(at(30_000, child({ packetsOut: 80 })), at(40_000, child({ packetsOut: 90, packetsIn: 3, ikeHeardAt: 39_000 })), quiet.flagged);
    expect(back.recovered).toEqual(['c1']);
    expect(back.flagged.size).toBe(0);
  });

  it('judges each Child SA on its own', () => {
    const a = child({ spiIn: 'a', child: 'a' });
    const b = child({ spiIn: 'b', child: 'b' });
    const v = checkTraffic(at(0, a, b), at(10_000, { ...a, packetsOut: 20, ikeHeardAt: 5_000 }, { ...b, packetsOut: 20, packetsIn: 20, ikeHeardAt: 5_000 }), new Set());
    expect(v.found.map((f) => f.child)).toEqual(['a']);
  });
});

const ts = (t: string) => ({ text: t, ...parseSelector(t) });
const miss = (src: string, dst: string, at: number) => ({ src: ipToBytes(src), dst: ipToBytes(dst), protocol: 17, at });
const misses = (o: Partial<Parameters<typeof checkPolicyMisses>[0]> = {}) =>
  checkPolicyMisses({ prevTotal: 1, total: 6, windowStart: 0, now: 10_000, recent: [], remote: [ts('203.0.113.128/25')], local: [ts('203.0.113.0/25')], reported: new Set(), format: bytesToIp, ...o });

describe('checkPolicyMisses', () => {
  it('a destination outside every remote selector: F5 with the nearest selector and the count', () => {
    expect(misses({ recent: [miss('203.0.113.1', '203.0.114.9', 5_000)] })).toEqual({ src: '203.0.113.1', dst: '203.0.114.9', protocol: 17, misses: 5, windowS: 10, nearestSelector: '203.0.113.128/25', hint: expect.stringMatching(/outside every remote selector \(nearest 203\.0\.113\.128\/25\)/) });
  });

  it('a destination inside remote.ts from a source outside local.ts: says the source is the problem', () => {
    expect(misses({ recent: [miss('198.51.100.1', '203.0.113.129', 5_000)] })?.hint).toMatch(/the source 198\.51\.100\.1 is outside local\.ts \(203\.0\.113\.0\/25\)/);
  });

  it('nothing for fewer than 3 misses, old misses, multicast or link-local, another family, or a destination already reported', () => {
    const recent = [miss('203.0.113.1', '203.0.114.9', 5_000)];
    expect(misses({ recent, total: 3 })).toBeUndefined();
    expect(misses({ recent: [miss('203.0.113.1', '203.0.114.9', 0)] })).toBeUndefined();
    expect(misses({ recent: [miss('203.0.113.1', '224.0.0.251', 5_000), miss('203.0.113.1', '169.254.1.1', 5_000)] })).toBeUndefined();
    expect(misses({ recent: [miss('fe80::1', 'ff02::2', 5_000), miss('2001:db8::1', '2001:db8:1::1', 5_000)] })).toBeUndefined();
    expect(misses({ recent, reported: new Set(['203.0.114.9']) })).toBeUndefined();
  });

  it('reports the newest destination not yet reported', () => {
    expect(misses({ recent: [miss('203.0.113.1', '10.0.0.1', 4_000), miss('203.0.113.1', '10.0.0.2', 6_000)], reported: new Set(['10.0.0.2']) })?.dst).toBe('10.0.0.1');
  });
});
