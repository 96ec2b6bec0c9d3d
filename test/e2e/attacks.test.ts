// An attacker on the wire between the two hosts: a captured ESP packet sent again is dropped
// as a replay (RFC 4303 §3.4.3), and a captured packet with a fresh sequence number and one
// flipped bit is dropped by the integrity check (§3.4.4) without moving the replay window.
// Both show in `tsvpn status --json` on the receiver as drops by reason.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sleep, until } from '../../interop/lab/wait.js';
import type { TunnelPair } from '../../src/cli/lab-tunnel.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { HELPERS, labOk, nsRun, nsStart, ping, step, tsvpn, usePair } from './helpers/lab.js';

// encap auto without a NAT is ESP as IP protocol 50; encap udp forces RFC 3948 ESP-in-UDP on 4500
describe.skipIf(!labOk).each(['auto', 'udp'] as const)('tsvpn (encap %s) against replayed and tampered ESP (needs root, namespaces, /dev/net/tun, ping, tcpdump, python3)', (encap) => {
  const get = usePair({
    names: { left: `atk-${encap}-l`, right: `atk-${encap}-r` },
    edit: (_side, peer) => {
      peer.encap = encap;
    },
  });
  let pair: TunnelPair | undefined;
  let dir: string;
  const pcap = (): string => join(dir, 'esp.pcap');

  beforeAll(() => {
    pair = get();
    dir = mkdtempSync(join(tmpdir(), 'tsvpn-e2e-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const drops = async (): Promise<Record<string, number>> => {
    const r = await tsvpn(pair!, pair!.hosts.right.ns, ['status', '--json', pair!.right.name]);
    expect(r.code, r.err).toBe(0);
    return (JSON.parse(r.out) as TunnelStatus).drops.inbound;
  };
  const inject = async (mode: 'replay' | 'tamper'): Promise<void> => {
    // from the left host, with the captured IP header: the packet looks like left's own
    const r = await nsRun(pair!.hosts.left.ns, 'python3', [join(HELPERS, 'esp-inject.py'), pcap(), mode]);
    expect(r.code, r.err).toBe(0);
  };
  /** The right end's inbound drops once the `reason` count has moved past `before`. */
  const dropped = (reason: string, before: Record<string, number>): Promise<Record<string, number>> =>
    until(drops, { timeout: 2000, what: `a ${reason} drop on the right end`, done: (d) => (d[reason] ?? 0) > (before[reason] ?? 0) });

  it('captures an ESP packet from left to right on the wire', async () => {
    const { left, right } = pair!.hosts;
    await step(pair, async () => {
      // ESP from left: IP protocol 50, or UDP 4500 that is neither a keepalive nor IKE (RFC 3948 §2.2, §2.3)
      const filter = `src host ${left.outer} and (ip proto 50 or (udp dst port 4500 and udp[4:2] > 9 and udp[8:4] != 0))`;
      const cap = await nsStart(right.ns, 'tcpdump', ['-n', '-i', right.dev, '-U', '-c', '1', '-w', pcap(), filter], 'listening on');
      const p = await ping(left.ns, left.inner, right.inner, ['-c', '1']);
      expect(p.code, p.out).toBe(0);
      const done = await Promise.race([cap.result, sleep(5000).then(() => undefined)]);
      if (!done) cap.proc.kill('SIGTERM');
      expect(done?.code, done?.err).toBe(0);
      const s = await tsvpn(pair!, right.ns, ['status', '--json', pair!.right.name]);
      expect((JSON.parse(s.out) as TunnelStatus).encap).toBe(encap === 'udp' ? 'udp' : 'raw');
    });
  });

  it('drops the same packet sent again as a replay', async () => {
    await step(pair, async () => {
      const before = await drops();
      await inject('replay');
      const after = await dropped('replay', before);
      expect((after.replay ?? 0) - (before.replay ?? 0)).toBe(1);
      expect(after.integrity ?? 0).toBe(before.integrity ?? 0);
    });
  });

  it('drops it with a fresh sequence number and one flipped bit for integrity, and keeps working', async () => {
    const { left, right } = pair!.hosts;
    await step(pair, async () => {
      const before = await drops();
      await inject('tamper');
      const after = await dropped('integrity', before);
      expect((after.integrity ?? 0) - (before.integrity ?? 0)).toBe(1);
      expect(after.replay ?? 0).toBe(before.replay ?? 0);
      // the forged sequence number did not move the window (RFC 4303 §3.4.3: only after the
      // ICV verified), so the real packets that follow are still accepted
      const p = await ping(left.ns, left.inner, right.inner);
      expect(p.code, p.out).toBe(0);
      expect((await drops()).replay ?? 0).toBe(after.replay ?? 0);
    });
  });
});
