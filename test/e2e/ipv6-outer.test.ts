// The outer path over IPv6 (RFC 4303 and RFC 7296 are address-family neutral): IKE over UDP
// on IPv6, ESP (IP protocol 50) in IPv6 packets, IPv4 inside. The tunnel comes up, carries
// traffic both ways with counters moving, and status names the IPv6 endpoints.
import { describe, expect, it } from 'vitest';

import { labOk, ping, withPair } from './helpers/lab.js';

describe.skipIf(!labOk)('IPv6 outer addresses (needs root, /dev/net/tun)', () => {
  it('IKE and ESP over IPv6 carry IPv4 inner traffic both ways', { timeout: 60_000 }, async () => {
    const hosts = { left: { outer: '2001:db8:100::1' }, right: { outer: '2001:db8:100::2' } };
    await withPair({ names: { left: 'v6-l', right: 'v6-r' }, hosts }, async (pair) => {
      await pair.waitInstalled();
      const { left, right } = pair.hosts;
      expect((await ping(left.ns, left.inner, right.inner)).code).toBe(0);
      expect((await ping(right.ns, right.inner, left.inner)).code).toBe(0);
      const [sl, sr] = [await pair.status('left'), await pair.status('right')];
      expect(sl.ikeSas[0]).toMatchObject({ state: 'ESTABLISHED', local: '[2001:db8:100::1]:500', remote: '[2001:db8:100::2]:500' });
      expect(sr.ikeSas[0].remote).toBe('[2001:db8:100::1]:500');
      expect([sl.encap, sr.encap]).toEqual(['raw', 'raw']); // ESP as IP protocol 50 in IPv6, no UDP
      const c = sl.ikeSas[0].children[0];
      expect(c.packetsOut).toBeGreaterThanOrEqual(6);
      expect(c.packetsIn).toBeGreaterThanOrEqual(6);
      expect(sl.drops.inbound).toEqual({});
      expect(sr.drops.inbound).toEqual({});
    });
  });
});
