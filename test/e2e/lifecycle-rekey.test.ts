// Issue 5, tsvpn <-> tsvpn: Child SA rekey every 5 s and IKE SA rekey every 20 s during a
// 60 s iperf3 TCP transfer. The transfer completes, status shows at least 10 Child SA
// rekeys, and no packet is dropped for a missing or expired SA (RFC 7296 §2.8: the new SA
// is installed before the old one is deleted, so traffic never finds no SA).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { iperfTcp } from '../../bench/lab/iperf.js';
import { sleep } from '../../interop/lab/wait.js';
import { noSaDrops } from '../../src/daemon/status.js';
import { labOk, withPair } from './helpers/lab.js';

const iperfOk = spawnSync('iperf3', ['--version']).error === undefined;

/** Short lifetimes for both ends of a lab pair (the daemon's peer.json durations). */
const fastRekey = (_side: string, p: Record<string, unknown>): void => {
  p.ike = { ...(p.ike as object), rekey: '20s' };
  p.child = { ...(p.child as object), rekey: '5s' };
};

describe.skipIf(!labOk || !iperfOk)('rekey under load, tsvpn <-> tsvpn (needs root, /dev/net/tun, iperf3)', () => {
  it('60 s of TCP through Child rekeys every 5 s and IKE rekeys every 20 s: no SA-missing drops', { timeout: 120_000 }, async () => {
    await withPair({ names: { left: 'lcr-l', right: 'lcr-r' }, edit: fastRekey }, async (pair) => {
      await pair.waitInstalled();
      const { left, right } = pair.hosts;
      const before = { left: await pair.status('left'), right: await pair.status('right') };
      const seen = { childSpis: new Set<string>(), childRekeys: 0, ikeRekeys: 0, withDeadlines: 0 };
      let done = false;
      const watch = (async () => {
        while (!done) {
          for (const side of ['left', 'right'] as const) {
            const s = await pair.status(side).catch(() => undefined);
            for (const sa of s?.ikeSas ?? []) {
              seen.ikeRekeys = Math.max(seen.ikeRekeys, sa.rekeys ?? 0);
              for (const c of sa.children) {
                seen.childSpis.add(`${side}:${c.spiIn}`);
                seen.childRekeys = Math.max(seen.childRekeys, c.rekeys);
                if (c.state === 'INSTALLED' && c.rekeyIn !== undefined && c.expiresIn !== undefined) seen.withDeadlines++;
              }
            }
          }
          await sleep(500);
        }
      })();
      let tcp;
      try {
        tcp = await iperfTcp({ client: { ns: left.ns, addr: left.inner }, server: { ns: right.ns, addr: right.inner } }, 60);
      } finally {
        done = true;
        await watch;
      }
      // the transfer ran its whole time and carried data
      expect(tcp.seconds).toBeGreaterThan(59);
      expect(tcp.mbps).toBeGreaterThan(1);
      const [sl, sr] = [await pair.status('left'), await pair.status('right')];
      // at least 10 Child SA rekeys (the rekey count of the SA in use, or of one seen during the run)
      const final = Math.max(...[sl, sr].flatMap((s) => s.ikeSas.flatMap((sa) => sa.children.map((c) => c.rekeys))));
      expect(Math.max(final, seen.childRekeys), JSON.stringify(seen.childRekeys)).toBeGreaterThanOrEqual(10);
      expect(seen.childSpis.size).toBeGreaterThanOrEqual(20); // new SPIs on both ends
      expect(seen.ikeRekeys).toBeGreaterThanOrEqual(2);
      expect(seen.withDeadlines).toBeGreaterThan(0);
      // no packet found no SA, on either end, and no rekey failed
      expect({ left: noSaDrops(sl, before.left), right: noSaDrops(sr, before.right) }, JSON.stringify({ before: [before.left.drops, before.right.drops], after: [sl.drops, sr.drops] })).toEqual({ left: {}, right: {} });
      expect([sl.lastFailure, sr.lastFailure]).toEqual([null, null]);
      expect(sl.ikeSas.filter((sa) => sa.state === 'ESTABLISHED')).toHaveLength(1);
    });
  });
});
