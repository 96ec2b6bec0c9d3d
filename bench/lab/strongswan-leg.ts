// The strongSwan leg of the throughput bench: one charon per lab host with kernel-libipsec
// (its userspace ESP on a TUN; Debian 5.9.8 always UDP-encapsulates), started and stopped
// by the interop harness (interop/lab/strongswan.ts), PSK, the same proposals as the tsvpn
// leg, 203.0.113.0/25 <-> 203.0.113.128/25. Left initiates; the leg is up when both sides
// list an INSTALLED Child SA.

import { randomBytes } from 'node:crypto';
import type { TwoHosts } from '../../src/io/netns.js';
import { hasInstalled, startStrongswan as startCharon, strongswanSupport, type Strongswan } from '../../interop/lab/strongswan.js';
import { swanctlConf } from '../../interop/lab/swanctl-conf.js';
import { ESP_PROPOSAL, IKE_PROPOSAL, type Leg } from './leg.js';
import { BenchError, onCleanup } from './proc.js';

export async function startStrongswan(h: TwoHosts, o: { leftNet: string; rightNet: string }): Promise<Leg> {
  const ok = strongswanSupport();
  if (!ok.ok) throw new BenchError(ok.why);
  const psk = randomBytes(24).toString('base64');
  const instances: Strongswan[] = [];
  const stop = onCleanup('strongSwan instances', async () => {
    await Promise.all(instances.map((s) => s.stop()));
  });
  try {
    const sides = [
      { host: h.left, peer: h.right, id: 'left.bench.example', peerId: 'right.bench.example', mine: o.leftNet, theirs: o.rightNet },
      { host: h.right, peer: h.left, id: 'right.bench.example', peerId: 'left.bench.example', mine: o.rightNet, theirs: o.leftNet },
    ];
    for (const s of sides) {
      const conf = swanctlConf({
        name: 'bench',
        localAddrs: s.host.outer,
        remoteAddrs: s.peer.outer,
        proposals: [IKE_PROPOSAL],
        local: { auth: 'psk', id: s.id },
        remote: { auth: 'psk', id: s.peerId },
        child: { name: 'bench', localTs: [s.mine], remoteTs: [s.theirs], espProposals: [ESP_PROPOSAL] },
        psk,
      });
      instances.push(await startCharon({ ns: s.host.ns, name: `bench-${s.host === h.left ? 'l' : 'r'}`, conf, charonLogLevel: 1 }));
    }
    const [left, right] = instances as [Strongswan, Strongswan];
    const r = await left.initiate('bench', { ike: 'bench', timeoutS: 20 });
    if (!r.ok) throw new BenchError(`swanctl --initiate failed: ${r.output.trim().split('\n').slice(-5).join(' / ')}`);
    await left.waitFor((sas) => hasInstalled(sas, 'bench'), 10_000, 'left Child SA INSTALLED');
    await right.waitFor((sas) => hasInstalled(sas, 'bench'), 10_000, 'right Child SA INSTALLED');
    const ver = `strongSwan ${/\d+\.\d+\.\d+/.exec(left.swanctl(['--version']).output)?.[0] ?? ''}`.trim();
    const carried = async (): Promise<number> =>
      left.listSas().flatMap((sa) => sa.children).reduce((n, c) => n + c.bytesIn + c.bytesOut, 0);
    return { detail: `${ver}, kernel-libipsec, ${IKE_PROPOSAL} / ESP ${ESP_PROPOSAL}, UDP-encapsulated`, carried, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
