// The tunnel end to end, as an operator sees it: two `tsvpn up` processes in two lab hosts
// (network namespaces joined by a veth), ping both ways, 100 MB over TCP arriving intact,
// `tsvpn status --json` counting what was sent, and `tsvpn down` leaving nothing behind.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { until } from '../../interop/lab/wait.js';
import type { TunnelPair } from '../../src/cli/lab-tunnel.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { espSocketDrops, HELPERS, labOk, netState, nsRun, nsStart, ping, step, tsvpn, usePair } from './helpers/lab.js';

const MB100 = 100 * 1024 * 1024;

describe.skipIf(!labOk)('tsvpn tunnel between two hosts (needs root, namespaces, /dev/net/tun, ping, tcpdump, python3)', () => {
  let before: Record<'left' | 'right', ReturnType<typeof netState>>;
  const get = usePair(
    { names: { left: 'e2e-left', right: 'e2e-right' }, beforeStart: (h) => (before = { left: netState(h.left.ns), right: netState(h.right.ns) }) },
    false,
  );
  let pair: TunnelPair | undefined;
  beforeAll(() => {
    pair = get();
  });

  const status = async (side: 'left' | 'right'): Promise<TunnelStatus> => {
    // as a user would: `tsvpn status --json <name>`
    const r = await tsvpn(pair!, pair!.hosts[side].ns, ['status', '--json', pair![side].name]);
    expect(r.code, r.err).toBe(0);
    return JSON.parse(r.out) as TunnelStatus;
  };
  const child = (s: TunnelStatus) => s.ikeSas.flatMap((sa) => sa.children).find((c) => c.state === 'INSTALLED')!;

  it('comes up: IKE SA established and Child SA installed on both ends within 20 s', { timeout: 30_000 }, async () => {
    await pair!.waitInstalled(20_000);
    await step(pair, async () => {
      const [l, r] = [await status('left'), await status('right')];
      expect(l.ikeSas[0]!.state).toBe('ESTABLISHED');
      expect(r.ikeSas[0]!.state).toBe('ESTABLISHED');
      // one Child SA: each side's outbound SPI is the other's inbound SPI
      expect(child(l).spiOut).toBe(child(r).spiIn);
      expect(child(r).spiOut).toBe(child(l).spiIn);
      expect(child(l).remoteTs).toEqual(['203.0.113.128/25']);
      expect(child(r).remoteTs).toEqual(['203.0.113.0/25']);
    });
  });

  it('carries ping both ways between the inner addresses', async () => {
    const { left, right } = pair!.hosts;
    await step(pair, async () => {
      for (const [from, to] of [
        [left, right],
        [right, left],
      ] as const) {
        const r = await ping(from.ns, from.inner, to.inner);
        expect(r.code, `ping ${from.inner} -> ${to.inner}\n${r.out}${r.err}`).toBe(0);
        expect(r.out).toMatch(/3 packets transmitted, 3 received/);
      }
    });
  });

  it('moves 100 MB over TCP through the tunnel with a matching SHA-256, and the counters agree', { timeout: 90_000 }, async () => {
    const { left, right } = pair!.hosts;
    await step(pair, async () => {
      const sink = await nsStart(right.ns, process.execPath, [join(HELPERS, 'tcp-sink.mjs'), right.inner, '5201'], 'listening');
      const src = await nsRun(left.ns, process.execPath, [join(HELPERS, 'tcp-source.mjs'), left.inner, right.inner, '5201', String(MB100)], 75_000);
      const got = await sink.result;
      expect(src.code, src.err).toBe(0);
      expect(got.code, got.err).toBe(0);
      const sent = JSON.parse(src.out) as { bytes: number; sha256: string; seconds: number };
      const received = JSON.parse(got.out.split('\n').find((l) => l.startsWith('{'))!) as { bytes: number; sha256: string };
      expect(received.bytes).toBe(MB100);
      expect(received.sha256).toBe(sent.sha256);
      console.log(`100 MB through the tunnel in ${sent.seconds.toFixed(2)} s (${((MB100 * 8) / sent.seconds / 1e6).toFixed(0)} Mbit/s)`);

      // every ESP packet one end counted out, the other end counted in, or its kernel dropped
      // for a full socket receive queue (TCP resent those); a few may be in flight
      const balanced = (tx: ReturnType<typeof child>, rx: ReturnType<typeof child>, rxNs: string): boolean => Math.abs(tx.packetsOut - rx.packetsIn - espSocketDrops(rxNs)) <= 5;
      // the last ACKs may still be on their way
      const [l, r] = await until(async () => [child(await status('left')), child(await status('right'))], {
        timeout: 2000,
        what: 'the ESP counters of both ends to agree',
        done: ([a, b]) => balanced(a, b, right.ns) && balanced(b, a, left.ns),
      });
      for (const [tx, rx, rxNs, what] of [
        [l, r, right.ns, 'left -> right'],
        [r, l, left.ns, 'right -> left'],
      ] as const) {
        const dropped = espSocketDrops(rxNs);
        console.log(`${what}: ${tx.packetsOut} ESP packets out, ${rx.packetsIn} in, ${dropped} dropped by the receiver's full socket queue`);
        expect(rx.packetsIn, what).toBeLessThanOrEqual(tx.packetsOut);
        expect(Math.abs(tx.packetsOut - rx.packetsIn - dropped), what).toBeLessThanOrEqual(5);
      }
      // 100 MB of payload went left -> right: more than that in inner bytes received and ESP bytes sent
      expect(r.bytesIn).toBeGreaterThanOrEqual(MB100);
      expect(l.bytesOut).toBeGreaterThanOrEqual(MB100);
      expect(r.drops.integrity ?? 0).toBe(0);
    });
  });

  it('tsvpn down on both ends exits 0 and leaves no route, rule, TUN device or socket file', async () => {
    const { left, right } = pair!.hosts;
    await step(pair, async () => {
      for (const side of ['left', 'right'] as const) {
        const r = await tsvpn(pair!, pair!.hosts[side].ns, ['down', pair![side].name]);
        expect(r.code, r.err).toBe(0);
        expect(r.out).toBe(`tunnel ${pair![side].name} is down\n`);
      }
      // both `tsvpn up` processes ended on their own, successfully
      expect(await pair!.left.exited).toBe(0);
      expect(await pair!.right.exited).toBe(0);
      for (const [side, h] of [
        ['left', left],
        ['right', right],
      ] as const) {
        expect(netState(h.ns), side).toEqual(before[side]);
        expect(existsSync(join(pair!.controlDir, `${pair![side].name}.sock`))).toBe(false);
      }
      const gone = await tsvpn(pair!, left.ns, ['status', pair!.left.name]);
      expect(gone.code).toBe(1);
      expect(gone.err).toMatch(/is not running/);
    });
  });
});
