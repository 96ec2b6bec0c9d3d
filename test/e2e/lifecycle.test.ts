// `tsvpn up` as a foreground process: it says when the tunnel is up, refuses a second copy
// of the same tunnel, and Ctrl-C (SIGINT) or SIGTERM takes it down cleanly: the peer is told
// (IKE Delete, RFC 7296 §1.4.1), routes and TUN go, and the process exits 0.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { sleep, until } from '../../interop/lab/wait.js';
import { labOk, netState, ping, step, TSVPN_BIN, nsRun, usePair } from './helpers/lab.js';


describe.skipIf(!labOk)('tsvpn up in the foreground (needs root, namespaces, /dev/net/tun, ping, tcpdump, python3)', () => {
  let before: ReturnType<typeof netState>;
  const get = usePair({ names: { left: 'life-l', right: 'life-r' }, beforeStart: (h) => (before = netState(h.left.ns)) });

  it('prints one line on stdout when the tunnel is up', async () => {
    const pair = get();
    await step(pair, async () => {
      // `tsvpn up` prints the line on the IKE event that installed the Child SA, which may come
      // a moment after the lab saw it listed
      const upLines = (): string[] => readFileSync(pair.left.logFile, 'utf8').split('\n').filter((l) => l.startsWith('tunnel life-l is up: '));
      await until(() => upLines().length > 0, { timeout: 2500, what: "tsvpn up's line on stdout" });
      expect(upLines()).toHaveLength(1);
      expect(upLines()[0]).toMatch(/^tunnel life-l is up: 203\.0\.113\.0\/25 <=> 203\.0\.113\.128\/25 with 'right\.example' at 198\.51\.100\.2\[\d+\]/);
    });
  });

  it('refuses to start the same tunnel twice, naming it, and leaves the first one running', { timeout: 30_000 }, async () => {
    const pair = get();
    const { left, right } = pair.hosts;
    await step(pair, async () => {
      const second = await nsRun(left.ns, process.execPath, [TSVPN_BIN, 'up', pair.left.peerFile], 20_000, { TSVPN_CONTROL_DIR: pair.controlDir });
      expect(second.code).toBe(1);
      expect(second.err).toMatch(/life-l.*already|already.*life-l/);
      const p = await ping(left.ns, left.inner, right.inner);
      expect(p.code, p.out).toBe(0);
    });
  });

  it('SIGINT: Delete sent to the peer, routes and TUN removed, exit 0', { timeout: 30_000 }, async () => {
    const pair = get();
    await step(pair, async () => {
      pair.left.proc.kill('SIGINT');
      expect(await Promise.race([pair.left.exited, sleep(10_000).then(() => 'still running')])).toBe(0);
      expect(netState(pair.hosts.left.ns)).toEqual(before);
      // the responder heard the Delete: its IKE SA is gone without waiting for DPD
      const s = await until(() => pair.status('right'), {
        timeout: 4000,
        interval: 200,
        what: 'the responder to drop its IKE SA',
        done: (st) => !st.ikeSas.some((sa) => sa.state === 'ESTABLISHED'),
      });
      expect(s.ikeSas.filter((sa) => sa.state === 'ESTABLISHED')).toEqual([]);
      expect(readFileSync(pair.right.logFile, 'utf8')).toMatch(/IKE SA deleted \(peer\)/);
    });
  });

  it('SIGTERM on the other end: exit 0', { timeout: 20_000 }, async () => {
    const pair = get();
    await step(pair, async () => {
      pair.right.proc.kill('SIGTERM');
      expect(await Promise.race([pair.right.exited, sleep(10_000).then(() => 'still running')])).toBe(0);
    });
  });
});
