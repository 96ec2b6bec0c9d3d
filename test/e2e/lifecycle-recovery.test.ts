// Issue 5: a peer killed with SIGKILL mid-transfer and started again. The tunnel is back
// within the liveness interval plus 5 s, with no stale SA on either side: the restarted
// initiator sends INITIAL_CONTACT (RFC 7296 §2.4), so the survivor drops the IKE SA of
// the peer's previous life at once instead of waiting for its liveness check.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { sleep, until } from '../../interop/lab/wait.js';
import { labOk, ping, restartEnd, withPair } from './helpers/lab.js';

const DPD_S = 5;

describe.skipIf(!labOk)('peer killed and restarted (needs root, /dev/net/tun)', () => {
  it('SIGKILL of the initiator mid-traffic: back within dpd + 5 s, one IKE SA and one Child SA on each side', { timeout: 60_000 }, async () => {
    const edit = (_s: string, p: Record<string, unknown>): void => {
      p.ike = { ...(p.ike as object), dpd: `${DPD_S}s` };
    };
    await withPair({ names: { left: 'lcv-l', right: 'lcv-r' }, edit }, async (pair) => {
      await pair.waitInstalled();
      const { left, right } = pair.hosts;
      const old = await pair.status('right');
      const oldSpis = old.ikeSas.flatMap((sa) => [sa.localSpi, ...sa.children.map((c) => c.spiIn)]);
      // traffic flowing when the peer dies
      const traffic = ping(left.ns, left.inner, right.inner, ['-c', '20']);
      await sleep(1000);
      pair.left.proc.kill('SIGKILL');
      await pair.left.exited;
      await traffic;
      const t0 = Date.now();
      const { proc: again, exited, logFile } = restartEnd(pair, pair.left);
      try {
        const back = await until(async () => (await ping(left.ns, left.inner, right.inner, ['-c', '1', '-W', '1'])).code === 0, {
          timeout: (DPD_S + 5) * 1000 - (Date.now() - t0),
          interval: 0,
          what: 'a ping through the tunnel',
        }).catch(() => false);
        const took = (Date.now() - t0) / 1000;
        expect(back, `tunnel not back after ${took}s\n${readFileSync(logFile, 'utf8')}`).toBe(true);
        // no stale SA: the survivor keeps exactly the new IKE SA and its Child SA
        const s = await until(() => pair.status('right'), { timeout: 5000, interval: 250, what: 'one IKE SA on the survivor', done: (st) => st.ikeSas.length === 1 });
        expect(s.ikeSas.map((sa) => sa.state)).toEqual(['ESTABLISHED']);
        expect(s.ikeSas[0].children.map((c) => c.state)).toEqual(['INSTALLED']);
        const spis = s.ikeSas.flatMap((sa) => [sa.localSpi, ...sa.children.map((c) => c.spiIn)]);
        expect(spis.filter((x) => oldSpis.includes(x))).toEqual([]);
        const l = await (await import('../../src/cli/control-client.js')).fetchStatus(pair.controlDir, 'lcv-l');
        expect(l.ikeSas.map((sa) => sa.state)).toEqual(['ESTABLISHED']);
        expect(l.ikeSas[0].children).toHaveLength(1);
      } finally {
        again.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (again.exitCode === null) again.kill('SIGKILL');
      }
    });
  });
});
