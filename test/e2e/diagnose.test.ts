// `tsvpn diagnose` on a live tsvpn pair: all seven steps pass on a healthy tunnel, and each
// fault injected as it happens in real networks names its first failing step and the fix.
// ESP blocked on the path also shows as F5 from the counters in the status within 30 s.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { until } from '../../interop/lab/wait.js';
import type { TunnelPair } from '../../src/cli/lab-tunnel.js';
import { labOk, nsRun, step, tsvpn, usePair } from './helpers/lab.js';

interface Report {
  tunnel: string | null;
  ok: boolean;
  firstFailing: number | null;
  steps: { step: number; name: string; result: string; summary: string; evidence: Record<string, unknown>; fix?: string }[];
}

async function diagnose(pair: TunnelPair, side: 'left' | 'right', name?: string): Promise<{ code: number | null; report: Report; out: string }> {
  const ns = pair[side].host.ns;
  const r = await tsvpn(pair, ns, ['diagnose', name ?? pair[side].name, '--json']);
  let report: Report;
  try {
    report = JSON.parse(r.out) as Report;
  } catch {
    throw new Error(`diagnose printed no JSON (exit ${r.code}): ${r.out}${r.err}`);
  }
  return { code: r.code, report, out: r.out };
}

/**
 * Runs `body` as a step of `pair` with these nftables input rules in `ns` (a table of this
 * test's), removed afterwards, also on failure.
 */
async function withInputRules(pair: TunnelPair, ns: string, rules: string[], body: () => Promise<void>): Promise<void> {
  const ruleset = `table inet diagnose_test {\n chain input {\n  type filter hook input priority 0;\n${rules.map((r) => `  ${r}\n`).join('')} }\n}\n`;
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: ruleset, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nft: ${r.stderr}`);
  try {
    await step(pair, body);
  } finally {
    spawnSync('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', 'diagnose_test']);
  }
}

const failing = (rep: Report) => rep.steps.find((x) => x.step === rep.firstFailing);

describe.skipIf(!labOk)('tsvpn diagnose (needs root, namespaces, /dev/net/tun, ping, tcpdump, python3, nft)', () => {
  // DPD every 10 s: a peer that answers liveness checks is heard within the F5 check's limit
  const get = usePair({ names: { left: 'dg-l', right: 'dg-r' }, edit: (_side, p) => void (p.ike = { ...(p.ike as object), dpd: '10s' }) });

  it('a healthy tunnel: all seven steps pass, exit 0, the text report one line per step', { timeout: 60_000 }, async () => {
    const pair = get();
    await step(pair, async () => {
      const { code, report } = await diagnose(pair, 'left');
      expect(report.steps.map((x) => `${x.step} ${x.result}`)).toEqual(['1 pass', '2 pass', '3 pass', '4 pass', '5 pass', '6 pass', '7 pass']);
      expect(code).toBe(0);
      expect(report).toMatchObject({ tunnel: 'dg-l', ok: true, firstFailing: null });
      expect(report.steps[4]!.summary).toMatch(/ICMP echo 203\.0\.113\.1 -> 203\.0\.113\.129 .*3\/3 answered/);
      expect(report.steps[6]!.summary).toMatch(/DF probes up to the TUN MTU \d+ pass/);
      const text = await tsvpn(pair, pair.left.host.ns, ['diagnose', 'dg-l']);
      expect(text.code).toBe(0);
      expect(text.out).toMatch(/^1 outer path \.+ pass +\(peer 198\.51\.100\.2 reachable via veth0, IKE established \d+s ago, ESP \d+ out\/\d+ in, no NAT\)$/m);
      expect(text.out).toContain('every step passes');
    });
  });

  it('an inner firewall drop on the responder\'s TUN: step 6 there, step 5 on the initiator', { timeout: 60_000 }, async () => {
    const pair = get();
    const ns = pair.right.host.ns;
    await withInputRules(pair, ns, ['iifname "tsvpn-dg-r" drop'], async () => {
      const there = await diagnose(pair, 'right');
      expect(there.code).toBe(1);
      expect(there.report.firstFailing).toBe(6);
      expect(failing(there.report)!.summary).toContain('iifname tsvpn-dg-r drop');
      expect(failing(there.report)!.fix).toMatch(/inner firewall/);
      const here = await diagnose(pair, 'left');
      expect(here.report.firstFailing).toBe(5);
      expect(failing(here.report)!.fix).toMatch(/run `tsvpn diagnose` on the peer/);
    });
  });

  it('ESP blocked on the path (nftables on the responder): step 5 fails, and F5 from the counters within 30 s', { timeout: 90_000 }, async () => {
    const pair = get();
    const ns = pair.right.host.ns;
    const { left, right } = pair.hosts;
    await withInputRules(pair, ns, ['ip protocol esp drop', 'udp dport 4500 drop'], async () => {
      const t0 = Date.now();
      const pinging = nsRun(left.ns, 'ping', ['-n', '-c', '40', '-i', '0.5', '-W', '1', '-I', left.inner, right.inner], 40_000);
      const r = await diagnose(pair, 'left');
      expect(r.code).toBe(1);
      expect(r.report.firstFailing).toBe(5);
      expect(r.report.steps.slice(0, 4).map((x) => x.result)).toEqual(['pass', 'pass', 'pass', 'pass']);
      expect(failing(r.report)!.fix).toMatch(/ESP \(IP protocol 50, or UDP 4500\) blocked/);
      await until(async () => (await pair.status('left')).lastFailure?.row === 'F5', { timeout: 30_000, interval: 500, what: 'F5 in the status' });
      const detectS = (Date.now() - t0) / 1000;
      const f = (await pair.status('left')).lastFailure!;
      expect(f.evidence).toMatchObject({ child: 'dg-l', inboundDelta: 0, hint: expect.stringMatching(/ESP/) });
      expect((f.evidence as { outboundDelta: number }).outboundDelta).toBeGreaterThan(5);
      expect(detectS).toBeLessThan(30);
      console.log(`F5 from the counters after ${detectS.toFixed(1)} s: ${f.message}`);
      await pinging;
    });
  });

  it('a path that drops large packets without ICMP: step 7 finds the largest DF size, and ping -M do at that size passes, 8 bytes more does not', { timeout: 90_000 }, async () => {
    const pair = get();
    const ns = pair.right.host.ns;
    const { left, right } = pair.hosts;
    await withInputRules(pair, ns, ['ip protocol esp ip length > 1200 drop', 'udp dport 4500 ip length > 1200 drop'], async () => {
      const t0 = Date.now();
      const r = await diagnose(pair, 'left');
      const took = Date.now() - t0;
      expect(r.code).toBe(1);
      expect(r.report.firstFailing).toBe(7);
      console.log(`step 7 after ${took} ms: ${failing(r.report)!.summary}; tried ${JSON.stringify((failing(r.report)!.evidence as { tried: unknown }).tried)}`);
      const ev = failing(r.report)!.evidence as { largest: number; tunMtu: number };
      expect(ev.largest).toBeGreaterThan(1100);
      expect(ev.largest).toBeLessThan(1200);
      expect(failing(r.report)!.fix).toContain(`"mtu": ${ev.largest}`);
      const fits = await nsRun(left.ns, 'ping', ['-n', '-c', '2', '-W', '1', '-M', 'do', '-s', String(ev.largest - 28), '-I', left.inner, right.inner]);
      expect(fits.code, fits.out + fits.err).toBe(0);
      const over = await nsRun(left.ns, 'ping', ['-n', '-c', '2', '-W', '1', '-M', 'do', '-s', String(ev.largest + 8 - 28), '-I', left.inner, right.inner]);
      expect(over.code).not.toBe(0);
    });
  });

  it('the tunnel route deleted: step 4 fails and says to restore the route', { timeout: 60_000 }, async () => {
    const pair = get();
    await step(pair, async () => {
      const del = spawnSync('ip', ['-n', pair.left.host.ns, 'route', 'flush', 'table', '7481'], { encoding: 'utf8' });
      expect(del.status, del.stderr).toBe(0);
      const r = await diagnose(pair, 'left');
      expect(r.code).toBe(1);
      expect(r.report.firstFailing).toBe(4);
      expect(failing(r.report)!.summary).toMatch(/203\.0\.113\.129 \(203\.0\.113\.128\/25\) from 203\.0\.113\.1 is not routed into tsvpn-dg-l/);
      expect(failing(r.report)!.fix).toMatch(/table 7481/);
    });
  });

  it('the peer daemon stopped: step 1 or 2 fails; with no daemon here at all, step 1 says tsvpn up', { timeout: 60_000 }, async () => {
    const pair = get();
    await step(pair, async () => {
      pair.right.proc.kill('SIGTERM');
      await pair.right.exited;
      await until(async () => !(await pair.status('left')).ikeSas.some((sa) => sa.state === 'ESTABLISHED'), { timeout: 20_000, interval: 500, what: 'the IKE SA gone on the left' });
      const r = await diagnose(pair, 'left');
      expect(r.code).toBe(1);
      expect([1, 2]).toContain(r.report.firstFailing);
      const gone = await diagnose(pair, 'right');
      expect(gone.code).toBe(1);
      expect(gone.report.firstFailing).toBe(1);
      expect(failing(gone.report)!.fix).toMatch(/tsvpn up <peer\.json>/);
    });
  });
});

describe.skipIf(!labOk)('tsvpn diagnose, wrong PSK (needs root, namespaces, /dev/net/tun)', () => {
  const get = usePair({ names: { left: 'dgp-l', right: 'dgp-r' }, edit: (side, p) => void (side === 'right' && (p.psk = 'another-secret-0123456789')) }, false);

  it('step 2 fails with the authentication failure, and steps 1 passes', { timeout: 60_000 }, async () => {
    const pair = get();
    await step(pair, async () => {
      await until(async () => (await pair.status('left').catch(() => undefined))?.lastFailure?.row === 'F3', { timeout: 20_000, interval: 300, what: 'F3 on the left' });
      const r = await diagnose(pair, 'left');
      expect(r.code).toBe(1);
      expect(r.report.firstFailing).toBe(2);
      expect(r.report.steps[0]!.result).toBe('pass');
      expect(failing(r.report)!.fix).toMatch(/PSK/);
    });
  });
});
