// The host's own traffic to the remote network goes through the tunnel (its routes carry a
// source inside local.ts), and protected traffic never leaves in clear: a more specific
// route in main (a hijack) does not take it, and once the tunnel's route is deleted the
// packet is refused as unreachable while tcpdump on the outer interface sees no inner
// packet. tsvpn's periodic check (io/routes.ts checkRoutes) is what notices; the guard is
// what keeps the packet in.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { until } from '../../interop/lab/wait.js';
import { labOk, nsRun, nsStart, step, usePair } from './helpers/lab.js';

describe.skipIf(!labOk)('never in clear (needs root, namespaces, /dev/net/tun, ping, tcpdump, python3)', () => {
  const get = usePair({ names: { left: 'clear-l', right: 'clear-r' } });

  it('the gateway pings the remote network from itself, a hijack in main changes nothing, a deleted route drops and tcpdump sees nothing in clear', { timeout: 60_000 }, async () => {
    const pair = get();
    const { left, right } = pair.hosts;
    const tun = `tsvpn-${pair.left.name}`;
    const pingFromHost = () => nsRun(left.ns, 'ping', ['-n', '-c', '3', '-i', '0.2', '-W', '1', right.inner]); // no -I: the route's source
    await step(pair, async () => {
      const table = spawnSync('ip', ['-n', left.ns, 'route', 'show', 'table', '7481'], { encoding: 'utf8' }).stdout;
      expect(table).toContain(`dev ${tun}`);
      expect(table).toContain(`src ${left.inner}`);
      const first = await pingFromHost();
      expect(first.code, first.out + first.err).toBe(0);

      // anything ICMP to the far inner host on the outer wire would be a packet in clear
      const cap = await nsStart(left.ns, 'tcpdump', ['-n', '-i', left.dev, '-U', '-l', `icmp and host ${right.inner}`], 'listening on');
      try {
        const hijack = spawnSync('ip', ['-n', left.ns, 'route', 'add', `${right.inner}/32`, 'dev', left.dev], { encoding: 'utf8' });
        expect(hijack.status, hijack.stderr).toBe(0);
        const hijacked = await pingFromHost();
        expect(hijacked.code, hijacked.out + hijacked.err).toBe(0); // still through the tunnel

        const del = spawnSync('ip', ['-n', left.ns, 'route', 'flush', 'table', '7481'], { encoding: 'utf8' });
        expect(del.status, del.stderr).toBe(0);
        const dropped = await pingFromHost();
        expect(dropped.code).not.toBe(0);
        expect(dropped.out + dropped.err).toMatch(/unreachable|No route to host/i);
      } finally {
        cap.proc.kill('SIGINT');
      }
      const seen = await cap.result;
      expect(seen.err).toMatch(/\b0 packets captured/);
      expect(seen.out.trim()).toBe('');
      // and tsvpn says so within its 10 s check: the count in status, F5 as the last failure
      await until(async () => ((await pair.status('left')).routesMissing ?? 0) > 0, { timeout: 15_000, interval: 500, what: 'routesMissing in the status' });
      const s = await pair.status('left');
      expect(s.lastFailure?.row).toBe('F5');
      expect(JSON.stringify(s.lastFailure?.evidence)).toContain('7481');
    });
  });
});
