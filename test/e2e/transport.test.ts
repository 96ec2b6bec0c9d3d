// Transport mode end to end (RFC 4301 §4.1, RFC 4303 §3.1.1): two `tsvpn up` processes whose
// Child SA protects the hosts' own outer addresses 198.51.100.1 <-> 198.51.100.2. Pings both
// ways and a TCP transfer between those addresses must go through the SA (its counters move by
// at least what was sent), and `tsvpn down` must leave no rule, route or device behind.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import type { TunnelPair } from '../../src/cli/lab-tunnel.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { HELPERS, labOk, netState, nsRun, nsStart, ping, step, tsvpn, usePair } from './helpers/lab.js';

const MB10 = 10 * 1024 * 1024;

describe.skipIf(!labOk)('tsvpn transport mode between two hosts (needs root, namespaces, /dev/net/tun, ping, tcpdump, python3)', () => {
  let before: Record<'left' | 'right', ReturnType<typeof netState>>;
  const get = usePair(
    {
      names: { left: 'tr-left', right: 'tr-right' },
      beforeStart: (h) => (before = { left: netState(h.left.ns), right: netState(h.right.ns) }),
      edit: (_side, p) => {
        const j = p as unknown as { local: { addr: string; ts: string[] }; remote: { addr: string; ts: string[] }; child: { mode: string } };
        j.child.mode = 'transport';
        j.local.ts = [`${j.local.addr}/32`];
        j.remote.ts = [`${j.remote.addr}/32`];
      },
    },
    false,
  );
  let pair: TunnelPair | undefined;
  beforeAll(() => {
    pair = get();
  });

  const status = async (side: 'left' | 'right'): Promise<TunnelStatus> => {
    const r = await tsvpn(pair!, pair!.hosts[side].ns, ['status', '--json', pair![side].name]);
    expect(r.code, r.err).toBe(0);
    return JSON.parse(r.out) as TunnelStatus;
  };
  const child = (s: TunnelStatus) => s.ikeSas.flatMap((sa) => sa.children).find((c) => c.state === 'INSTALLED')!;

  it('comes up with a transport-mode Child SA whose selectors are the two hosts', { timeout: 30_000 }, async () => {
    await pair!.waitInstalled(20_000);
    await step(pair, async () => {
      const { left, right } = pair!.hosts;
      const [l, r] = [child(await status('left')), child(await status('right'))];
      expect(l.spiOut).toBe(r.spiIn);
      expect(l.remoteTs).toEqual([right.outer]); // a /32 selector shows as the address alone
      expect(r.remoteTs).toEqual([left.outer]);
      // the kernel's routing decision, as `ip route get` shows it: IKE, NAT-T and ESP to the
      // peer take the normal path, everything else to the peer goes into the TUN
      const via = (args: string[]) => spawnSync('ip', ['-n', left.ns, '-j', 'route', 'get', right.outer, ...args], { encoding: 'utf8' });
      const dev = (args: string[]) => (JSON.parse(via(args).stdout) as { dev: string }[])[0]!.dev;
      expect(dev([])).toBe(`tsvpn-${pair!.left.name}`);
      expect(dev(['ipproto', 'tcp', 'dport', '22'])).toBe(`tsvpn-${pair!.left.name}`);
      expect(dev(['ipproto', 'udp', 'sport', '53'])).toBe(`tsvpn-${pair!.left.name}`);
      for (const sport of ['500', '4500']) expect(dev(['ipproto', 'udp', 'sport', sport])).not.toMatch(/^tsvpn-/);
      // (`ip route get` cannot name protocol 50; raw ESP reaching the peer shows in the tests below)
    });
  });

  it('carries ping both ways between the outer addresses, through the SA', async () => {
    const { left, right } = pair!.hosts;
    await step(pair, async () => {
      for (const [from, to, rx] of [
        [left, right, 'right'],
        [right, left, 'left'],
      ] as const) {
        const was = child(await status(rx)).packetsIn;
        const r = await ping(from.ns, from.outer, to.outer);
        expect(r.code, `ping ${from.outer} -> ${to.outer}\n${r.out}${r.err}`).toBe(0);
        expect(r.out).toMatch(/3 packets transmitted, 3 received/);
        // the echo requests arrived as ESP (not in the clear): the receiver's SA counted them
        expect(child(await status(rx)).packetsIn - was).toBeGreaterThanOrEqual(3);
      }
    });
  });

  it('moves 10 MB over TCP between the hosts with a matching SHA-256, all of it through ESP', { timeout: 60_000 }, async () => {
    const { left, right } = pair!.hosts;
    await step(pair, async () => {
      const was = child(await status('right')).bytesIn;
      const sink = await nsStart(right.ns, process.execPath, [join(HELPERS, 'tcp-sink.mjs'), right.outer, '5202'], 'listening');
      const src = await nsRun(left.ns, process.execPath, [join(HELPERS, 'tcp-source.mjs'), left.outer, right.outer, '5202', String(MB10)], 45_000);
      const got = await sink.result;
      expect(src.code, src.err).toBe(0);
      expect(got.code, got.err).toBe(0);
      const sent = JSON.parse(src.out) as { sha256: string };
      const received = JSON.parse(got.out.split('\n').find((l) => l.startsWith('{'))!) as { bytes: number; sha256: string };
      expect(received.bytes).toBe(MB10);
      expect(received.sha256).toBe(sent.sha256);
      const r = child(await status('right'));
      expect(r.bytesIn - was).toBeGreaterThanOrEqual(MB10);
      expect(r.drops.integrity ?? 0).toBe(0);
    });
  });

  it('tsvpn down on both ends leaves no rule, route or device behind', async () => {
    await step(pair, async () => {
      for (const side of ['left', 'right'] as const) {
        const r = await tsvpn(pair!, pair!.hosts[side].ns, ['down', pair![side].name]);
        expect(r.code, r.err).toBe(0);
      }
      expect(await pair!.left.exited).toBe(0);
      expect(await pair!.right.exited).toBe(0);
      expect(netState(pair!.hosts.left.ns)).toEqual(before.left);
      expect(netState(pair!.hosts.right.ns)).toEqual(before.right);
    });
  });
});
