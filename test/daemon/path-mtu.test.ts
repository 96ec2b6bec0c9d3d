// The per-peer outer path MTU (src/daemon/path-mtu.ts, failure map F7): ICMP reports, the
// probe search, expiry, and the names the ICMP counters use.
import { describe, expect, it } from 'vitest';
import { PATH_MTU_EXPIRY_MS, PathMtus, icmpName } from '../../src/daemon/path-mtu.js';

const fragNeeded = (mtu: number) => ({ dst: '198.51.100.2', offender: '192.0.2.254', type: 3, code: 4, origin: 2, info: mtu, errno: 90 });

describe('path MTU per peer', () => {
  it('learns the MTU an ICMP frag-needed reports, counts it, and forgets it after 10 minutes', () => {
    const m = new PathMtus(() => 1500);
    expect(m.get('198.51.100.2', 0)).toEqual({ peer: '198.51.100.2', mtu: 1500, source: 'route' });
    expect(m.onIcmp(fragNeeded(1300), 1000)).toEqual({ peer: '198.51.100.2', mtu: 1300, source: 'icmp', reportedBy: '192.0.2.254', expiresAt: 1000 + PATH_MTU_EXPIRY_MS });
    expect(m.onIcmp(fragNeeded(1300), 2000)).toBeUndefined(); // no change, but counted
    expect(m.icmpReceived).toEqual({ 'frag-needed': 2 });
    expect(m.icmpMtuReports('198.51.100.2')).toBe(2);
    expect(m.get('198.51.100.2', 2000 + PATH_MTU_EXPIRY_MS).source).toBe('route');
  });

  it('never learns less than 576 (IPv4) or 1280 (IPv6) from an ICMP report', () => {
    const m = new PathMtus(() => 1500);
    expect(m.onIcmp(fragNeeded(68), 0)?.mtu).toBe(576);
    expect(m.onIcmp({ dst: '2001:db8::2', offender: '2001:db8::fe', type: 2, code: 0, origin: 3, info: 1000, errno: 90 }, 0)?.mtu).toBe(1280);
  });

  it('counts other ICMP errors by name without learning anything', () => {
    const m = new PathMtus(() => 1500);
    expect(m.onIcmp({ dst: '198.51.100.2', offender: '198.51.100.2', type: 3, code: 3, origin: 2, info: 0, errno: 111 }, 0)).toBeUndefined();
    expect(m.icmpReceived).toEqual({ 'port-unreachable': 1 });
    expect(icmpName({ origin: 3, type: 2, code: 0 })).toBe('packet-too-big');
    expect(icmpName({ origin: 1, type: 0, code: 0 })).toBe('local-too-big');
  });

  it('a probe whose large size went unanswered sets the path MTU to the size that passed and halves toward the one that did not', () => {
    const m = new PathMtus(() => 1500);
    let next = m.onProbe({ peer: '198.51.100.2', probed: [1500, 1280], answered: 1280, fits: false }, 0);
    expect(m.get('198.51.100.2', 0)).toMatchObject({ mtu: 1280, source: 'probe' });
    const sizes: number[] = [];
    // a path of 1300: each probe passes when it is at most 1300
    while (next !== undefined) {
      sizes.push(next);
      next = m.onProbe({ peer: '198.51.100.2', probed: [next], answered: next <= 1300 ? next : 100, fits: next <= 1300 }, 0);
      expect(m.get('198.51.100.2', 0).source).toBe('probe'); // a smaller size passing is no proof the route's does
    }
    expect(sizes.length).toBeLessThanOrEqual(5);
    const found = m.get('198.51.100.2', 0).mtu;
    expect(found).toBeLessThanOrEqual(1300);
    expect(found).toBeGreaterThan(1300 - 16);
  });

  it("a probe that passes at the route's size leaves the route's MTU; a learnt ICMP value is not overridden by a probe", () => {
    const m = new PathMtus(() => 1500);
    expect(m.onProbe({ peer: '198.51.100.2', probed: [1500], answered: 1500, fits: true }, 0)).toBeUndefined();
    expect(m.get('198.51.100.2', 0).source).toBe('route');
    m.onIcmp(fragNeeded(1300), 0);
    expect(m.onProbe({ peer: '198.51.100.2', probed: [1500, 1280], answered: 1280, fits: false }, 0)).toBeUndefined();
    expect(m.get('198.51.100.2', 0)).toMatchObject({ mtu: 1300, source: 'icmp' });
  });
});
