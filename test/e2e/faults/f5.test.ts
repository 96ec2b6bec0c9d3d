// Failure map F5 as it happens in real networks, and the time tsvpn takes to say so: a route
// that sends a destination outside every selector into the TUN, and a source outside
// local.ts, both become F5 from the SPD misses within 30 s, with the addresses and the
// nearest selector in the evidence and in status spdMisses. (ESP blocked on the path, F5 from
// the counters, is in test/e2e/diagnose.test.ts.)
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { until } from '../../../interop/lab/wait.js';
import { labOk, nsRun, step, usePair } from '../helpers/lab.js';

describe.skipIf(!labOk)('F5 from SPD misses (needs root, namespaces, /dev/net/tun, ping)', () => {
  const get = usePair({ names: { left: 'f5-l', right: 'f5-r' } });

  it('a route into the TUN for a destination outside remote.ts: F5 naming it and the nearest selector within 30 s', { timeout: 60_000 }, async () => {
    const pair = get();
    const ns = pair.left.host.ns;
    await step(pair, async () => {
      const add = spawnSync('ip', ['-n', ns, 'route', 'add', '203.0.114.0/24', 'dev', 'tsvpn-f5-l'], { encoding: 'utf8' });
      expect(add.status, add.stderr).toBe(0);
      const t0 = Date.now();
      const pinging = nsRun(ns, 'ping', ['-n', '-c', '25', '-i', '0.5', '-W', '1', '-I', pair.hosts.left.inner, '203.0.114.9'], 30_000);
      await until(async () => (await pair.status('left')).lastFailure?.row === 'F5', { timeout: 30_000, interval: 500, what: 'F5 in the status' });
      const s = await pair.status('left');
      console.log(`F5 from SPD misses after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${s.lastFailure!.message}`);
      expect(s.lastFailure!.evidence).toMatchObject({ src: '203.0.113.1', dst: '203.0.114.9', protocol: 1, nearestSelector: '203.0.113.128/25' });
      expect(s.lastFailure!.message).toMatch(/outside every remote selector/);
      expect(s.spdMisses?.at(-1)).toMatchObject({ src: '203.0.113.1', dst: '203.0.114.9', protocol: 1 });
      await pinging;
    });
  });

  it('a source outside local.ts towards the remote network: F5 says the source is the problem', { timeout: 60_000 }, async () => {
    const pair = get();
    const ns = pair.left.host.ns;
    await step(pair, async () => {
      const pinging = nsRun(ns, 'ping', ['-n', '-c', '25', '-i', '0.5', '-W', '1', '-I', pair.hosts.left.outer, pair.hosts.right.inner], 30_000);
      await until(async () => /outside local\.ts/.test((await pair.status('left')).lastFailure?.message ?? ''), { timeout: 30_000, interval: 500, what: 'F5 naming the source' });
      const s = await pair.status('left');
      expect(s.lastFailure).toMatchObject({ row: 'F5', evidence: { src: '198.51.100.1', dst: '203.0.113.129', nearestSelector: '203.0.113.128/25' } });
      await pinging;
    });
  });
});
