// Issue 5: reauthentication on a configured interval (RFC 7296 §2.8.3), make-before-break.
// Left reauthenticates every 10 s during a 30 s iperf3 TCP transfer: each time a new IKE SA
// is authenticated afresh with its own Child SA beside the old one, then the old IKE SA is
// deleted. The transfer completes, no packet finds no SA, and each end is left with one IKE
// SA and one Child SA, the same pair.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { iperfTcp } from '../../bench/lab/iperf.js';
import { sleep, until } from '../../interop/lab/wait.js';
import { noSaDrops, type TunnelStatus } from '../../src/daemon/status.js';
import { labOk, withPair } from './helpers/lab.js';

const iperfOk = spawnSync('iperf3', ['--version']).error === undefined;

describe.skipIf(!labOk || !iperfOk)('reauthentication under load, tsvpn <-> tsvpn (needs root, /dev/net/tun, iperf3)', () => {
  it('30 s of TCP through reauthentications every 10 s: new IKE SPIs each time, no SA-missing drops, one IKE SA left', { timeout: 90_000 }, async () => {
    const edit = (side: string, p: Record<string, unknown>): void => {
      if (side === 'left') p.ike = { ...(p.ike as object), reauth: '10s' };
    };
    await withPair({ names: { left: 'rau-l', right: 'rau-r' }, edit }, async (pair) => {
      await pair.waitInstalled();
      const { left, right } = pair.hosts;
      const before = { left: await pair.status('left'), right: await pair.status('right') };
      expect(before.left.ikeSas[0].reauthIn).toBeGreaterThan(0);
      expect(before.left.ikeSas[0].reauthIn).toBeLessThanOrEqual(10);
      expect(before.right.ikeSas[0].reauthIn).toBeUndefined(); // off where not configured
      const ikeSpis = new Set<string>();
      let done = false;
      const watch = (async () => {
        while (!done) {
          const s = await pair.status('right').catch(() => undefined);
          for (const sa of s?.ikeSas ?? []) ikeSpis.add(`${sa.remoteSpi}_i ${sa.localSpi}_r`);
          await sleep(500);
        }
      })();
      let tcp;
      try {
        // right sends the data: it answers the reauthentications, so it is the end that must not switch early
        tcp = await iperfTcp({ client: { ns: right.ns, addr: right.inner }, server: { ns: left.ns, addr: left.inner } }, 30);
      } finally {
        done = true;
        await watch;
      }
      expect(tcp.seconds).toBeGreaterThan(29);
      expect(tcp.mbps).toBeGreaterThan(1);
      // a Delete of the last old IKE SA may still be on its way
      const settled = (s: TunnelStatus): boolean => s.ikeSas.length === 1 && s.ikeSas[0].state === 'ESTABLISHED' && s.ikeSas[0].children.length === 1 && s.ikeSas[0].children[0].state === 'INSTALLED';
      const [sl, sr] = await until(async () => [await pair.status('left'), await pair.status('right')], {
        timeout: 5000,
        interval: 200,
        what: 'one IKE SA with one Child SA on each end (the old IKE SAs deleted)',
        done: (both) => both.every(settled),
      });
      const evidence = JSON.stringify({ reauths: sl.reauths, ikeSpis: [...ikeSpis], left: sl.ikeSas, right: sr.ikeSas, drops: [sl.drops, sr.drops] });
      console.log(`reauth run: ${tcp.mbps.toFixed(0)} Mbit/s, ${sl.reauths} reauthentications, ${ikeSpis.size} IKE SA pairs seen`);
      expect(sl.reauths, evidence).toBeGreaterThanOrEqual(2);
      expect(ikeSpis.size, evidence).toBeGreaterThanOrEqual(3); // the first IKE SA and at least two successors
      expect({ left: noSaDrops(sl, before.left), right: noSaDrops(sr, before.right) }, evidence).toEqual({ left: {}, right: {} });
      expect([sl.lastFailure, sr.lastFailure], evidence).toEqual([null, null]);
      // the old IKE SAs are gone on both ends: one IKE SA, one Child SA, the same on both
      for (const s of [sl, sr]) {
        expect(s.ikeSas.map((sa) => sa.state), evidence).toEqual(['ESTABLISHED']);
        expect(s.ikeSas[0].children.map((c) => c.state), evidence).toEqual(['INSTALLED']);
      }
      expect(sl.ikeSas[0].localSpi).toBe(sr.ikeSas[0].remoteSpi);
      expect(sl.ikeSas[0].children[0].spiIn).toBe(sr.ikeSas[0].children[0].spiOut);
      expect(sl.ikeSas[0].rekeys ?? 0).toBe(0); // new IKE SAs by reauthentication, not by rekeying
    });
  });
});
