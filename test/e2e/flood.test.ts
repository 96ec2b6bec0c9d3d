// A refused-proposal IKE_SA_INIT flood against a responder with a tunnel up (issue 13 hole 1):
// 3,000 requests/s for 5 s from the peer's host. COOKIEs engage after 10 refusals, the log
// stays short (10 lines a minute and a summary), the tunnel's own last failure is untouched,
// memory stays under the bound in docs/dos.md, the tunnel passes traffic during the flood, and
// the peer killed and restarted during a flood connects again (through the COOKIE exchange).
// Then a flood that answers COOKIEs from a third namespace's real address (hole 2) against a
// %any responder: at most 5 half-open SAs per attacker address, the rest dropped and counted.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sleep, until } from '../../interop/lab/wait.js';
import type { TunnelPair } from '../../src/cli/lab-tunnel.js';
import { ip } from '../../src/io/netns.js';
import { HELPERS, labOk, nsRun, ping, restartEnd, step, usePair } from './helpers/lab.js';

const rssKb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
/**
 * SIGKILL the left end, start it again and ping through the tunnel until it answers (at most
 * 10 s). Returns whether it did, after how long, its restart log, and how to stop it.
 */
async function restartLeft(pair: TunnelPair) {
  const { left, right } = pair.hosts;
  pair.left.proc.kill('SIGKILL');
  await pair.left.exited;
  const t0 = Date.now();
  const again = restartEnd(pair, pair.left);
  const back = await until(async () => (await ping(left.ns, left.inner, right.inner, ['-c', '1', '-W', '1'])).code === 0, { timeout: 10_000, interval: 0, what: 'a ping through the tunnel' }).catch(() => false);
  const took = (Date.now() - t0) / 1000;
  return {
    back,
    took,
    why: () => `tunnel not back after ${took}s\n${readFileSync(again.logFile, 'utf8')}\n${pair.logs()}`,
    stop: async () => {
      again.proc.kill('SIGTERM');
      await Promise.race([again.exited, sleep(5000)]);
    },
  };
}

/**
 * docs/dos.md's bound on RSS growth under these floods: the half-open SA cap holds at most about
 * 20 MB, and V8 commits its young generation (two 16 MB semi-spaces in Node 20) under any
 * allocation-heavy load and keeps it: a plain Node process making short-lived garbage for 3 s
 * grows 32 MB with nothing retained. An unbounded flood (issue 13: 84 -> 285 MB) is far above.
 */
const RSS_BOUND_KB = 64 * 1024;
const REQUESTS = 30_000;
const SECONDS = 10;

describe.skipIf(!labOk)('tsvpn under a refused-proposal IKE_SA_INIT flood (needs root, namespaces, /dev/net/tun, ping, python3)', () => {
  const get = usePair({ names: { left: 'flood-l', right: 'flood-r' } });

  it(`${REQUESTS} refused requests in ${SECONDS} s: COOKIEs, a short log, lastFailure kept, RSS bounded, traffic passes`, async () => {
    const pair = get();
    const { left, right } = pair.hosts;
    await step(pair, async () => {
      const before = await pair.status('right');
      const rss0 = rssKb(before.pid);
      const lines0 = readFileSync(pair.right.logFile, 'utf8').split('\n').length;
      const flood = nsRun(left.ns, 'python3', [join(HELPERS, 'ike-flood.py'), right.outer, String(REQUESTS), String(SECONDS)], 60_000);
      await sleep(1500);
      const during = await ping(left.ns, left.inner, right.inner);
      expect(during.code, during.out).toBe(0);
      const sent = await flood;
      expect(sent.code, sent.err).toBe(0);
      expect(sent.out).toContain(`sent ${REQUESTS}`);
      await sleep(500);
      const after = await pair.status('right');
      const ike = after.drops.ike;
      const lines = readFileSync(pair.right.logFile, 'utf8').split('\n').length - lines0;
      const rssGrowthKb = rssKb(after.pid) - rss0;
      console.log(`flood: ${JSON.stringify(ike)}, ${lines} log lines, RSS ${rss0} -> ${rss0 + rssGrowthKb} kB`);
      // 10 refusals in 10 s engage COOKIEs; the kernel may drop some of the flood
      expect(ike.cookiesSent ?? 0).toBeGreaterThan(REQUESTS / 2);
      expect(ike['unauthenticated-F2'] ?? 0).toBeLessThanOrEqual(20);
      expect(lines).toBeLessThanOrEqual(25);
      expect(after.lastFailure).toEqual(before.lastFailure);
      expect(rssGrowthKb).toBeLessThan(RSS_BOUND_KB); // docs/dos.md: RSS under this flood
      expect(after.ikeSas.filter((s) => s.state === 'ESTABLISHED')).toHaveLength(1);
      const p = await ping(left.ns, left.inner, right.inner);
      expect(p.code, p.out).toBe(0);
    });
  }, 60_000);

  it('the peer killed and restarted during the flood connects again within 10 s', async () => {
    const pair = get();
    const { left, right } = pair.hosts;
    const flood = nsRun(left.ns, 'python3', [join(HELPERS, 'ike-flood.py'), right.outer, String(REQUESTS), String(SECONDS)], 60_000);
    await sleep(2000);
    const restarted = await restartLeft(pair);
    try {
      console.log(`flood: the restarted peer's tunnel passed traffic after ${restarted.took.toFixed(1)} s`);
      expect(restarted.back, restarted.why()).toBe(true);
      const sent = await flood;
      expect(sent.code, sent.err).toBe(0);
    } finally {
      await restarted.stop();
    }
  }, 60_000);
});

describe.skipIf(!labOk)('tsvpn (%any responder) under an IKE_SA_INIT flood that answers COOKIEs, from a third namespace (needs root, namespaces, /dev/net/tun, ping, python3)', () => {
  const get = usePair({
    names: { left: 'floodc-l', right: 'floodc-r' },
    edit: (side, peer) => {
      if (side === 'right') peer.remote = { ...(peer.remote as object), addr: '%any' };
    },
  });
  // the attacker: its own namespace, a veth to the right host on 192.0.2.0/24, 4 addresses
  // (20 half-open SAs: over the COOKIE threshold, so it has to answer them)
  const ATTACKERS = ['192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5'];
  const ns = `tsvpn-floodx-${process.pid}`;
  const veth = [`fx${process.pid % 100000}a`, `fx${process.pid % 100000}b`];
  beforeAll(() => {
    const right = get().hosts.right;
    ip(['netns', 'add', ns]);
    ip(['link', 'add', veth[0], 'netns', ns, 'type', 'veth', 'peer', 'name', veth[1], 'netns', right.ns]);
    for (const a of ATTACKERS) ip(['addr', 'add', `${a}/24`, 'dev', veth[0]], ns);
    ip(['link', 'set', veth[0], 'up'], ns);
    ip(['link', 'set', 'lo', 'up'], ns);
    ip(['route', 'add', 'default', 'via', '192.0.2.1'], ns);
    ip(['addr', 'add', '192.0.2.1/24', 'dev', veth[1]], right.ns);
    ip(['link', 'set', veth[1], 'up'], right.ns);
  });
  afterAll(() => {
    try {
      ip(['netns', 'del', ns]); // its veth end goes with it, and so the other end
    } catch {
      // not created
    }
  });

  it(`${REQUESTS} requests in ${SECONDS} s answering COOKIEs from 4 addresses: at most 5 half-open SAs each, RSS bounded, the peer restarted during it connects`, async () => {
    const pair = get();
    const { right } = pair.hosts;
    await step(pair, async () => {
      const before = await pair.status('right');
      const rss0 = rssKb(before.pid);
      const flood = Promise.all(ATTACKERS.map((a) => nsRun(ns, 'python3', [join(HELPERS, 'ike-cookie-flood.py'), a, right.outer, String(REQUESTS / ATTACKERS.length), String(SECONDS)], 60_000)));
      await sleep(2000);
      const restarted = await restartLeft(pair);
      try {
        const runs = await flood;
        for (const r of runs) expect(r.code, r.err).toBe(0);
        const after = await pair.status('right');
        const halfOpen = after.ikeSas.filter((sa) => sa.state === 'CONNECTING' && sa.remote.startsWith('192.0.2.')).length;
        const rssGrowthKb = rssKb(after.pid) - rss0;
        console.log(`cookie flood: ${runs.map((r) => r.out.trim()).join(' | ')}; ${JSON.stringify(after.drops.ike)}; ${halfOpen} half-open from the attacker; RSS ${rss0} -> ${rss0 + rssGrowthKb} kB; the restarted peer passed traffic after ${restarted.took.toFixed(1)} s`);
        expect(restarted.back, restarted.why()).toBe(true);
        expect(runs.map((r) => r.out).join('')).toMatch(/cookies answered [1-9]/);
        expect(after.drops.ike.cookiesSent ?? 0).toBeGreaterThan(0);
        expect(halfOpen).toBeLessThanOrEqual(5 * ATTACKERS.length);
        expect(after.drops.ike.halfOpenPerAddress ?? 0).toBeGreaterThan(REQUESTS / 10);
        expect(rssGrowthKb).toBeLessThan(RSS_BOUND_KB);
      } finally {
        await restarted.stop();
      }
    });
  }, 60_000);
});
