// Failure map F8, injected as it happens: the masquerading router in front of the initiator
// forgets its mappings mid-tunnel (tsvpn's peer gets a new public port) while pings run
// every 10 ms. With traffic from the initiator, its first authenticated ESP from the new port
// moves the peer; with traffic only from the responder, the initiator's next NAT-keepalive is
// the hint, a liveness check goes to the new port and its answer moves the peer. Either way:
// F8 with old -> new in status within 30 s, traffic back within one keepalive interval (not
// by DPD: the same IKE SA carries on), and F8 resolved once ESP flows on the new mapping.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { TunnelStatus } from '../../../src/daemon/status.js';
import { netnsSupport } from '../../../src/io/netns.js';
import { until } from '../../daemon/helpers/lab.js';
import { forgetMappings, pinger, startNatTunnel, type Pinger } from './nat-lab.js';

const ok = netnsSupport().ok && spawnSync('nft', ['--version']).status === 0;
const KEEPALIVE_S = 5;
const MARGIN_MS = 2_000;

type F8 = { row: string; evidence: { peer: { from: string; to: string }; noticedBy: string; keepalive: { intervalS: number; state: string } }; resolvedAt?: string };
const f8s = (s: TunnelStatus | undefined): F8[] => ((s?.failures ?? []) as unknown as F8[]).filter((f) => f.row === 'F8');

describe.skipIf(!ok)('F8: the NAT mapping changes mid-tunnel (needs root, /dev/net/tun and nft)', () => {
  it('the peer is followed to its new port, F8 names old -> new, and traffic is back within one keepalive interval, both ways', async () => {
    const t = await startNatTunnel({ left: { keepalive: `${KEEPALIVE_S}s` } });
    const pings: Pinger[] = [];
    try {
      const { lab } = t;
      const up = await until('a tunnel through the NAT', 30_000, async () => {
        const r = await t.status('right');
        const l = await t.status('left');
        return r?.ikeSas[0]?.children[0]?.state === 'INSTALLED' && l?.ikeSas[0]?.children[0]?.state === 'INSTALLED' ? r : undefined;
      }, t.logs);
      const spi = up.ikeSas[0]!.localSpi;
      const fromLeft = pinger(lab.inside.ns, lab.inside.inner, lab.outside.inner);
      const fromRight = pinger(lab.outside.ns, lab.outside.inner, lab.inside.inner);
      pings.push(fromLeft, fromRight);
      await until('pings answered both ways', 10_000, () => (fromLeft.replies.length > 20 && fromRight.replies.length > 20 ? true : undefined), t.logs);
      const before = (await t.status('right'))!.ikeSas[0]!.remote;

      // 1. traffic from both sides: the initiator's ESP from the new port moves the peer
      const t0 = Date.now();
      forgetMappings(lab);
      const [f1] = await until('F8 on the responder', 30_000, async () => {
        const s = f8s(await t.status('right'));
        return s.length === 1 ? s : undefined;
      }, t.logs);
      const detectMs = Date.now() - t0;
      expect(detectMs).toBeLessThan(30_000);
      expect(f1!.evidence.peer.from).toBe(before);
      expect(f1!.evidence.peer.to).toMatch(/^198\.51\.100\.1:\d+$/);
      expect(f1!.evidence.peer.to).not.toBe(before);
      // usually the initiator's ESP from the new port moves the peer; when its NAT keepalive is the
      // first packet through the new mapping, the liveness check that hint sends can be answered
      // before the next ESP arrives, and that authenticated answer moves it (RFC 7296 §2.23): both right
      expect(['esp', 'ike']).toContain(f1!.evidence.noticedBy);
      await until('F8 resolved by traffic on the new mapping', 10_000, async () => (f8s(await t.status('right'))[0]?.resolvedAt ? true : undefined), t.logs);
      await new Promise((r) => setTimeout(r, 1_000)); // replies after the move, for the gap to be measured to
      const gaps1 = [fromLeft.longestGapAfter(t0), fromRight.longestGapAfter(t0)];
      expect(Math.max(...gaps1), `longest gap without replies (left->right, right->left): ${gaps1.join(', ')} ms\n${t.logs()}`).toBeLessThan(KEEPALIVE_S * 1000 + MARGIN_MS);

      // 2. traffic only from the responder: the initiator's keepalive is the hint, the liveness check's answer moves the peer
      fromLeft.stop();
      await new Promise((r) => setTimeout(r, 500));
      const moved = (await t.status('right'))!.ikeSas[0]!.remote;
      const t1 = Date.now();
      forgetMappings(lab);
      const f2 = await until('a second F8 on the responder', 30_000, async () => {
        const s = f8s(await t.status('right'));
        return s.length === 2 ? s[0] : undefined;
      }, t.logs);
      expect(f2!.evidence.peer.from).toBe(moved);
      expect(f2!.evidence.noticedBy).toBe('ike'); // the answer to the liveness check sent to the new port
      await until('replies again', 10_000, () => (fromRight.replies.some((r) => r > t1 + 100) ? true : undefined), t.logs);
      await new Promise((r) => setTimeout(r, 1_000));
      const gap2 = fromRight.longestGapAfter(t1);
      expect(gap2, `longest gap without replies right->left: ${gap2} ms\n${t.logs()}`).toBeLessThan(KEEPALIVE_S * 1000 + MARGIN_MS);

      // not by DPD or a new IKE SA: the same IKE SA carries on
      const after = (await t.status('right'))!;
      expect(after.ikeSas.map((sa) => sa.localSpi)).toEqual([spi]);
      expect(after.lastFailure).toBeNull();
      console.log(`F8: detected in ${detectMs} ms; longest outage ${Math.max(...gaps1)} ms (ESP moved it), ${gap2} ms (keepalive hint + liveness check)`);
    } finally {
      for (const p of pings) p.stop();
      await t.destroy();
    }
  }, 120_000);

  it('behind the NAT with keepalives off, the initiator warns at establishment that inbound traffic may be lost silently (F8)', async () => {
    const t = await startNatTunnel({ left: { keepalive: '0s' } });
    try {
      await until('a tunnel through the NAT', 30_000, async () => ((await t.status('left'))?.ikeSas[0]?.children[0]?.state === 'INSTALLED' ? true : undefined), t.logs);
      await until('the F8 warning in the initiator\'s log', 5_000, () => (/warn .*F8: we are behind a NAT and NAT-T keepalives are off/.test(t.logs()) ? true : undefined), t.logs);
      expect(t.logs()).not.toMatch(/--- right[\s\S]*F8: we are behind a NAT/); // the responder is not behind one
    } finally {
      await t.destroy();
    }
  }, 60_000);
});

