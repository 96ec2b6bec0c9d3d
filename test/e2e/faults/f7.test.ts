// Failure map F7 ("large packets vanish") injected as it happens: a router with a 1300-octet
// link between the two tsvpn hosts. (a) The router sends ICMP "fragmentation needed": tsvpn
// reads it on its outer socket (IP_RECVERR) and status shows the learnt path MTU within the
// one large packet it lost. (b) The router drops that ICMP (a black hole, RFC 2923 §2.1):
// tsvpn's IKE probe finds the size that passes (src/ike/tasks/mtu-probe.ts) and reports F7
// within one failed large packet plus a probe; TCP and `ping -M do` at the MTU status
// reports go through. Left's own link is 1500, so only the router knows the path is narrower.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { until } from '../../../interop/lab/wait.js';
import type { TunnelPair } from '../../../src/cli/lab-tunnel.js';
import type { ChildStatus, TunnelStatus } from '../../../src/daemon/status.js';
import { DEFAULT_RETRANSMIT } from '../../../src/ike/config.js';
import { HELPERS, labOk, nsRun, nsStart, ping, step, usePair } from '../helpers/lab.js';
import { droppedFragNeeded, insertRouter, type Router } from './router-lab.js';

const LINK_MTU = 1300;
const IP_ICMP = 28; // IPv4 header + ICMP echo header: ping -s N sends N + 28 octets
const MB1 = 1 << 20;

const installed = (s: TunnelStatus): ChildStatus | undefined => s.ikeSas.flatMap((sa) => sa.children).find((c) => c.state === 'INSTALLED');

/** The MTU ping reports: "local error: message too long, mtu=1238" or "Frag needed and DF set (mtu = 1238)". */
function reportedMtu(text: string): number | undefined {
  const m = /mtu\s*=\s*(\d+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** 1 MB from the left inner host to the right one over TCP; asserts the SHA-256 matches. */
async function transfer1MB(pair: TunnelPair, port: string): Promise<{ seconds: number }> {
  const { left, right } = pair.hosts;
  const sink = await nsStart(right.ns, process.execPath, [join(HELPERS, 'tcp-sink.mjs'), right.inner, port], 'listening');
  const src = await nsRun(left.ns, process.execPath, [join(HELPERS, 'tcp-source.mjs'), left.inner, right.inner, port, String(MB1)], 45_000);
  const got = await sink.result;
  expect(src.code, src.err).toBe(0);
  expect(got.code, got.err).toBe(0);
  const sent = JSON.parse(src.out) as { bytes: number; sha256: string; seconds: number };
  const received = JSON.parse(got.out.split('\n').find((l) => l.startsWith('{'))!) as { bytes: number; sha256: string };
  expect(received.bytes).toBe(MB1);
  expect(received.sha256).toBe(sent.sha256);
  return sent;
}

function withRouter(name: string, dropFragNeeded: boolean, rightTunMtu?: number, farMtu = LINK_MTU): { get: () => TunnelPair; router: () => Router } {
  let router: Router | undefined;
  const get = usePair(
    {
      names: { left: `${name}-l`, right: `${name}-r` },
      edit: (side, peer) => {
        if (side === 'right' && rightTunMtu !== undefined) peer.tun = { mtu: rightTunMtu };
      },
      beforeStart: (hosts) => {
        router = insertRouter(hosts, { farMtu, dropFragNeeded });
      },
    },
    false,
  );
  afterAll(() => router?.destroy());
  return {
    get,
    router: () => {
      if (!router) throw new Error('the router was not made');
      return router;
    },
  };
}

describe.skipIf(!labOk)('F7 with ICMP allowed: the path MTU is learnt from the router (needs root, namespaces, nft, ping)', () => {
  const lab = withRouter('f7a', false);

  it('status shows path MTU 1300 learnt from the router, and a DF ping at the tunnel MTU it shows passes', { timeout: 60_000 }, async () => {
    const pair = lab.get();
    const { left, right } = pair.hosts;
    await step(pair, async () => {
      await pair.waitInstalled(20_000);
      const upAt = Date.now();
      const s = await until(() => pair.status('left'), { timeout: 10_000, what: 'left to learn the path MTU from ICMP', done: (x) => installed(x)?.mtu?.source === 'icmp' });
      const detectMs = Date.now() - upAt;
      console.log(`F7 (ICMP allowed): path MTU learnt ${detectMs} ms after the Child SA was up: ${JSON.stringify(installed(s)!.mtu)}, ICMP ${JSON.stringify(s.icmpReceived)}`);
      const mtu = installed(s)!.mtu!;
      expect(mtu).toMatchObject({ pathMtu: LINK_MTU, source: 'icmp', reportedBy: lab.router().near });
      expect(mtu.tunnelMtu).toBeLessThan(LINK_MTU - 50); // ESP's overhead fits in the 1300
      expect(s.icmpReceived?.['frag-needed']).toBeGreaterThanOrEqual(1);
      // the one large packet lost was the probe 0.5 s after the IKE SA came up; the ICMP is read within 200 ms
      expect(detectMs).toBeLessThan(2000);
      expect(s.lastFailure?.row).not.toBe('F7'); // PMTUD worked: nothing vanished for good

      const at = await ping(left.ns, left.inner, right.inner, ['-c', '3', '-M', 'do', '-s', String(mtu.tunnelMtu - IP_ICMP)]);
      expect(at.code, at.out + at.err).toBe(0);
      const over = await ping(left.ns, left.inner, right.inner, ['-c', '1', '-M', 'do', '-s', String(mtu.tunnelMtu - IP_ICMP + 1)]);
      expect(over.code).not.toBe(0);
      expect(reportedMtu(over.out + over.err), over.out + over.err).toBe(mtu.tunnelMtu);
    });
  });
});

describe.skipIf(!labOk)('F7 black hole: the router drops ICMP frag-needed (needs root, namespaces, nft, ping)', () => {
  // the right host's TUN as wide as the left's: its SYN-ACK offers an MSS that does not fit the
  // path, so the left's TCP sends segments the black hole would eat, unless tsvpn stops them
  const lab = withRouter('f7b', true, 1438);

  it('F7 shows within one failed large packet plus a probe; 1 MB over TCP and a DF ping at the reported tunnel MTU pass', { timeout: 120_000 }, async () => {
    const pair = lab.get();
    const { left, right } = pair.hosts;
    await step(pair, async () => {
      await pair.waitInstalled(20_000);
      const upAt = Date.now();
      const s = await until(() => pair.status('left'), { timeout: 15_000, what: 'the F7 row on the left', done: (x) => x.lastFailure?.row === 'F7' });
      const seenMs = Date.now() - upAt;
      const f = s.lastFailure!;
      const ev = f.evidence as { peer: string; pathMtu: number; source: string; icmpReceived: string; probes: { size: number; answered: boolean }[]; detectedInMs: number; fixArea: string };
      console.log(`F7 (black hole): row seen ${seenMs} ms after the Child SA was up, probe answered after ${ev.detectedInMs} ms: ${f.message} ${JSON.stringify(ev)}`);
      expect(ev).toMatchObject({ peer: right.outer, source: 'probe', icmpReceived: 'none', fixArea: 'MTU, MSS clamping, ICMP filtering' });
      expect(ev.probes[0]).toEqual({ size: 1500, answered: false }); // the route's MTU: left's link is 1500
      expect(ev.probes.some((p) => p.answered && p.size <= LINK_MTU)).toBe(true);
      expect(ev.pathMtu).toBeLessThanOrEqual(LINK_MTU);
      // the bound: one failed large packet (the probe) plus a probe (its retransmission, smaller)
      expect(ev.detectedInMs).toBeLessThan(DEFAULT_RETRANSMIT.timeout * 1000 + 1000);
      expect(seenMs).toBeLessThan(DEFAULT_RETRANSMIT.timeout * 1000 + 2000);
      expect(droppedFragNeeded(lab.router())).toBeGreaterThanOrEqual(1); // the router did drop its ICMP
      expect(s.icmpReceived?.['frag-needed'] ?? 0).toBe(0);
      expect(s.drops.ike).toEqual({}); // the probe's copies and their answers are no drops

      // the search narrows toward 1300 (RFC 8899 style): wait until it settles
      const settled = await until(() => pair.status('left'), { timeout: 40_000, interval: 500, what: 'the probe search to settle near 1300', done: (x) => (installed(x)?.mtu?.pathMtu ?? 0) > LINK_MTU - 20 });
      const mtu = installed(settled)!.mtu!;
      console.log(`F7 (black hole): path MTU ${JSON.stringify(mtu)}`);
      expect(mtu.source).toBe('probe');
      expect(mtu.pathMtu).toBeLessThanOrEqual(LINK_MTU);

      const at = await ping(left.ns, left.inner, right.inner, ['-c', '3', '-M', 'do', '-s', String(mtu.tunnelMtu - IP_ICMP)]);
      expect(at.code, at.out + at.err).toBe(0);

      const sent = await transfer1MB(pair, '5207');
      const after = await pair.status('left');
      const tooBig = after.drops.outbound['icmp-too-big-sent'] ?? 0;
      console.log(`F7 (black hole): 1 MB through the tunnel in ${sent.seconds.toFixed(2)} s; icmp-too-big-sent ${tooBig}`);
      expect(tooBig).toBeGreaterThanOrEqual(1); // TCP's first full-size segments were answered with the tunnel MTU, not lost
    });
  });
});

describe.skipIf(!labOk)('F7 black hole that appears mid-tunnel, during a TCP transfer (needs root, namespaces, nft, ping)', () => {
  // the path is 1500 when the tunnel comes up (the first probe passes), then narrows
  const lab = withRouter('f7c', false, undefined, 1500);

  it('the stalled transfer makes tsvpn probe: F7 within the stall, one failed large probe and its smaller retransmission; the 1 MB completes', { timeout: 120_000 }, async () => {
    const pair = lab.get();
    await step(pair, async () => {
      await pair.waitInstalled(20_000);
      await until(() => pair.status('left'), { timeout: 10_000, what: 'the first probe to pass at 1500', done: (x) => x.ikeSas.length > 0 && installed(x)?.mtu?.source === 'route' && x.lastFailure === null });
      await new Promise((r) => setTimeout(r, 1500)); // the first probe's answer is in
      lab.router().narrow(LINK_MTU, true);
      const t0 = Date.now();
      const moving = transfer1MB(pair, '5208');
      const s = await until(() => pair.status('left'), { timeout: 20_000, what: 'the F7 row on the left', done: (x) => x.lastFailure?.row === 'F7' });
      const seenMs = Date.now() - t0;
      const ev = s.lastFailure!.evidence as { detectedInMs: number; icmpReceived: string; pathMtu: number };
      console.log(`F7 (mid-tunnel black hole): row seen ${seenMs} ms after the transfer started; probe answered after ${ev.detectedInMs} ms: ${JSON.stringify(ev)}`);
      expect(ev.icmpReceived).toBe('none');
      expect(ev.pathMtu).toBeLessThanOrEqual(LINK_MTU);
      expect(ev.detectedInMs).toBeLessThan(DEFAULT_RETRANSMIT.timeout * 1000 + 1000);
      // the stall (STALL_MS of large packets unanswered, read every 200 ms), then the probe
      expect(seenMs).toBeLessThan(1000 + 400 + DEFAULT_RETRANSMIT.timeout * 1000 + 1500);
      const sent = await moving;
      console.log(`F7 (mid-tunnel black hole): 1 MB through the tunnel in ${sent.seconds.toFixed(2)} s`);
    });
  });
});
