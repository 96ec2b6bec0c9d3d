// Large packets (failure map F7) as a user checks them with `ping -M do` (DF set): the TUN's
// MTU is what fits in one ESP packet on the wire, so a ping of exactly that size passes
// without the outer packet being fragmented, and one byte more is refused with that MTU.
// With tun.mtu configured above what fits, tsvpn itself answers with ICMP "fragmentation
// needed" (RFC 1191) carrying the MTU that fits, and the sender's path MTU follows it.
import { describe, expect, it } from 'vitest';

import type { TunnelStatus } from '../../src/daemon/status.js';
import { labOk, ping, reassemblies, step, tsvpn, usePair } from './helpers/lab.js';

const IP_ICMP = 28; // IPv4 header + ICMP echo header: ping -s N sends N + 28 bytes

/** The MTU ping reports: "local error: message too long, mtu=1438" or "Frag needed and DF set (mtu = 1438)". */
function reportedMtu(text: string): number | undefined {
  const m = /mtu\s*=\s*(\d+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

describe.skipIf(!labOk)('tsvpn MTU, derived from the outer path (needs root, namespaces, /dev/net/tun, ping, tcpdump, python3)', () => {
  const get = usePair({ names: { left: 'mtu-l', right: 'mtu-r' } });

  it('a DF ping one byte over the TUN MTU is refused with that MTU; at the MTU it passes unfragmented', async () => {
    const pair = get();
    const { left, right } = pair.hosts;
    await step(pair, async () => {
      const s = JSON.parse((await tsvpn(pair, left.ns, ['status', '--json', pair.left.name])).out) as TunnelStatus;
      const mtu = s.tun!.mtu;
      expect(mtu).toBeLessThan(1500); // the veth's MTU: ESP needs room
      const over = await ping(left.ns, left.inner, right.inner, ['-c', '1', '-M', 'do', '-s', String(mtu - IP_ICMP + 1)]);
      expect(over.code).not.toBe(0);
      expect(over.out + over.err).toMatch(/message too long/);
      expect(reportedMtu(over.out + over.err)).toBe(mtu);

      const frags = reassemblies(right.ns);
      const at = await ping(left.ns, left.inner, right.inner, ['-M', 'do', '-s', String(mtu - IP_ICMP)]);
      expect(at.code, at.out + at.err).toBe(0);
      // the ESP packets carrying full-size inner packets fit the wire: nothing was reassembled
      expect(reassemblies(right.ns)).toBe(frags);
    });
  });
});

describe.skipIf(!labOk)('tsvpn MTU, tun.mtu configured above what fits (needs root, namespaces, /dev/net/tun, ping, tcpdump, python3)', () => {
  const get = usePair({
    names: { left: 'mtu-big-l', right: 'mtu-big-r' },
    edit: (_side, peer) => {
      peer.tun = { mtu: 1500 };
    },
  });

  it('tsvpn answers a too-big DF packet with ICMP fragmentation-needed, and the MTU it names passes unfragmented', async () => {
    const pair = get();
    const { left, right } = pair.hosts;
    await step(pair, async () => {
      const s = JSON.parse((await tsvpn(pair, left.ns, ['status', '--json', pair.left.name])).out) as TunnelStatus;
      expect(s.tun!.mtu).toBe(1500);
      // 1500 bytes in the TUN cannot fit one 1500-byte ESP packet on the veth
      const big = await ping(left.ns, left.inner, right.inner, ['-c', '2', '-M', 'do', '-s', String(1500 - IP_ICMP)]);
      const text = big.out + big.err;
      expect(big.code, text).not.toBe(0);
      expect(text).toMatch(/Frag needed and DF set|message too long/);
      const mtu = reportedMtu(text);
      expect(mtu, text).toBeDefined();
      expect(mtu!).toBeLessThan(1500);
      expect(mtu!).toBeGreaterThan(1300);

      // the kernel took the MTU tsvpn named as the path MTU; packets of that size go through whole
      const frags = reassemblies(right.ns);
      const at = await ping(left.ns, left.inner, right.inner, ['-M', 'do', '-s', String(mtu! - IP_ICMP)]);
      expect(at.code, at.out + at.err).toBe(0);
      expect(reassemblies(right.ns)).toBe(frags);
      const over = await ping(left.ns, left.inner, right.inner, ['-c', '1', '-M', 'do', '-s', String(mtu! - IP_ICMP + 1)]);
      expect(over.code).not.toBe(0);
      expect(reportedMtu(over.out + over.err)).toBe(mtu);
    });
  });
});
