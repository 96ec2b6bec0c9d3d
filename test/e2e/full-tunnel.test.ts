// Everything through the tunnel (remote selector 0.0.0.0/0, "full tunnel") on a host that
// reaches its peer through its default route, as most hosts do: the routing trap must be
// avoided, i.e. the tunnel's own IKE and ESP packets to the peer keep leaving through the real
// interface while all other traffic, the rest to the peer's address included, goes into the TUN, and `tsvpn down` puts the routing
// table back exactly as it was, default route included.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { ip } from '../../src/io/netns.js';
import { labOk, netState, ping, step, tsvpn, usePair } from './helpers/lab.js';

const routeDev = (ns: string, dst: string, ...flow: string[]): string => {
  const r = spawnSync('ip', ['-n', ns, '-j', 'route', 'get', dst, ...flow], { encoding: 'utf8' });
  return (JSON.parse(r.stdout || '[{}]') as { dev?: string }[])[0]?.dev ?? `(no route: ${r.stderr.trim()})`;
};

describe.skipIf(!labOk)('tsvpn full tunnel, 0.0.0.0/0 (needs root, namespaces, /dev/net/tun, ping, tcpdump, python3)', () => {
  let before: ReturnType<typeof netState>;
  const get = usePair({
    names: { left: 'full-l', right: 'full-r' },
    edit: (side, peer) => {
      // left sends everything to right; right (the gateway) offers everything
      if (side === 'left') (peer.remote as { ts: string[] }).ts = ['0.0.0.0/0'];
      else (peer.local as { ts: string[] }).ts = ['0.0.0.0/0'];
    },
    beforeStart: (h) => {
      // left has no on-link /24 any more: the peer is reached through the default route
      ip(['route', 'del', '198.51.100.0/24', 'dev', h.left.dev], h.left.ns);
      ip(['route', 'add', 'default', 'dev', h.left.dev], h.left.ns);
      before = netState(h.left.ns);
    },
  });

  it('routes everything but tsvpn\'s own IKE and ESP to the peer into the TUN, and traffic flows', async () => {
    const pair = get();
    const { left, right } = pair.hosts;
    await step(pair, async () => {
      const tun = (JSON.parse((await tsvpn(pair, left.ns, ['status', '--json', pair.left.name])).out) as { tun: { name: string } }).tun.name;
      expect(routeDev(left.ns, '192.0.2.77')).toBe(tun);
      expect(routeDev(left.ns, right.inner)).toBe(tun);
      // tsvpn's IKE and NAT-T to the peer still go out the wire, so they are not swallowed;
      // anything else to the peer's address is covered by 0.0.0.0/0 and protected
      expect(routeDev(left.ns, right.outer, 'ipproto', 'udp', 'sport', '500')).toBe(left.dev);
      expect(routeDev(left.ns, right.outer, 'ipproto', 'udp', 'sport', '4500')).toBe(left.dev);
      expect(routeDev(left.ns, right.outer)).toBe(tun);
      expect(routeDev(left.ns, '198.51.100.3')).toBe(tun);
      const p = await ping(left.ns, left.inner, right.inner);
      expect(p.code, p.out).toBe(0);
      const back = await ping(right.ns, right.inner, left.inner);
      expect(back.code, back.out).toBe(0);
    });
  });

  it('tsvpn down restores the routes and rules as they were', async () => {
    const pair = get();
    await step(pair, async () => {
      const r = await tsvpn(pair, pair.hosts.left.ns, ['down', pair.left.name]);
      expect(r.code, r.err).toBe(0);
      expect(await pair.left.exited).toBe(0);
      expect(netState(pair.hosts.left.ns)).toEqual(before);
    });
  });
});
