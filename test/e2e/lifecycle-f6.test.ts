// Failure-map row F6, "data works until rekey": the peer refuses every rekey of the Child SA
// (its ESP proposal wants another PFS group). tsvpn reports F6 with the peer's notify and the
// group it offered, tries again every 2-10 s while the SA still works, and when the SA reaches
// its hard lifetime it starts over with a new IKE SA, whose IKE_AUTH Child SA needs no key
// exchange: traffic flows again without an operator.
import { describe, expect, it } from 'vitest';

import { until } from '../../interop/lab/wait.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { labOk, ping, withPair } from './helpers/lab.js';


describe.skipIf(!labOk)('F6: rekeys the peer refuses (needs root, /dev/net/tun)', () => {
  it('F6 names NO_PROPOSAL_CHOSEN and the group, the rekey is retried, and at the hard lifetime a new IKE SA brings the tunnel back', { timeout: 90_000 }, async () => {
    const edit = (side: string, p: Record<string, unknown>): void => {
      // left rekeys every 5 s with PFS x25519; right's configuration wants ecp256 and never rekeys itself
      if (side === 'left') p.child = { ...(p.child as object), proposals: ['aes256gcm16-x25519'], rekey: '5s', rand: '1s', life: '16s' };
      else p.child = { ...(p.child as object), proposals: ['aes256gcm16-ecp256'], rekey: '1h' };
    };
    await withPair({ names: { left: 'f6-l', right: 'f6-r' }, edit }, async (pair) => {
      await pair.waitInstalled();
      const { left, right } = pair.hosts;
      const first = await pair.status('left');
      const firstIke = first.ikeSas[0].localSpi;
      const failures = new Map<string, NonNullable<TunnelStatus['lastFailure']>>(); // by time
      // every failure seen on the way is kept: the assertions below read them
      const restarted = await until(
        async () => {
          const s = await pair.status('left');
          if (s.lastFailure) failures.set(s.lastFailure.at, s.lastFailure);
          const sa = s.ikeSas.find((x) => x.state === 'ESTABLISHED');
          return sa && sa.localSpi !== firstIke && sa.children.some((c) => c.state === 'INSTALLED') ? s : undefined;
        },
        { timeout: 40_000, interval: 250, what: 'a new IKE SA with an INSTALLED Child SA' },
      ).catch(() => undefined);
      const seen = [...failures.values()];
      const evidence = JSON.stringify(seen);
      const refused = seen.filter((f) => f.row === 'F6' && (f.evidence as { result?: string }).result === 'refused');
      // F6 with the peer's notify and the group we offered, more than once: the rekey was retried
      expect(refused.length, evidence).toBeGreaterThanOrEqual(2);
      expect(refused[0].evidence, evidence).toMatchObject({ scope: 'child', notify: 'NO_PROPOSAL_CHOSEN', pfsGroup: 'CURVE25519' });
      expect(refused[0].message).toMatch(/tried again in 2-10 s/);
      // then the hard lifetime, and a new IKE SA with a working Child SA
      expect(seen.some((f) => f.row === 'F6' && (f.evidence as { result?: string }).result === 'expired'), evidence).toBe(true);
      expect(restarted, evidence).toBeDefined();
      const p = await ping(left.ns, left.inner, right.inner);
      expect(p.code, p.out).toBe(0);
      // the peer holds only the new IKE SA
      const r = await pair.status('right');
      expect(r.ikeSas.filter((sa) => sa.state === 'ESTABLISHED').map((sa) => sa.remoteSpi)).toEqual([restarted!.ikeSas.find((x) => x.state === 'ESTABLISHED')!.localSpi]);
    });
  });
});
