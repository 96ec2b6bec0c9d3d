// The daemon's F7 logic (src/daemon/path-mtu-watch.ts) with a fake IKE SA and datapath: a new
// IKE SA is probed, each probe goes out PROBE_COPIES times, a black hole is reported once as
// F7 with its evidence, and a path MTU an ICMP reported is applied without a failure.
import { describe, expect, it } from 'vitest';
import type { Effect } from '../../src/ike/effects.js';
import type { IkeSa } from '../../src/ike/ike-sa.js';
import { silentLogger } from '../../src/daemon/log.js';
import { PathMtus } from '../../src/daemon/path-mtu.js';
import { PROBE_COPIES, PROBE_DELAY_MS, PathMtuWatch } from '../../src/daemon/path-mtu-watch.js';
import type { IcmpErrorReport } from '../../src/io/native.js';

const PEER = '198.51.100.2';
const OVERHEAD = 20 + 8; // IPv4 + UDP, IKE on port 500

function rig() {
  const probes: number[][] = [];
  const applied: Effect[][] = [];
  const failures: { row: string; evidence: Record<string, unknown> }[] = [];
  const healed: string[] = [];
  const set: [string, number | undefined][] = [];
  const icmp: IcmpErrorReport[] = [];
  const sa = {
    remote: { addr: PEER, port: 500 },
    local: { addr: '198.51.100.1', port: 500 },
    children: [],
    probeMtu: (_now: number, lengths: readonly number[]): Effect[] => {
      probes.push([...lengths]);
      return [{ type: 'send', bytes: new Uint8Array(lengths[0]), to: { addr: PEER, port: 500 }, from: { addr: '198.51.100.1', port: 500 } }];
    },
  } as unknown as IkeSa;
  const dp = { setPathMtu: (p: string, m: number | undefined) => void set.push([p, m]), mtuOf: () => 1438, largeSent: 0, lastInbound: 0 };
  const w = new PathMtuWatch({
    pathMtus: new PathMtus(() => 1500),
    datapath: dp,
    icmpErrors: () => icmp.splice(0),
    ikeSas: () => [sa],
    apply: (_sa, fx) => void applied.push(fx),
    failure: (row, _m, evidence) => void failures.push({ row, evidence: evidence as Record<string, unknown> }),
    healed: (conn) => void healed.push(conn),
    log: silentLogger,
  });
  return { w, probes, applied, failures, healed, set, icmp, dp };
}

const established = { type: 'ike-established', spiI: '', spiR: '', proposal: '', localId: '', remoteId: '', nat: { local: false, remote: false } } as const;

describe('path MTU watch (F7)', () => {
  it('probes a new IKE SA at the route MTU, then 1280 and 576, each first transmission sent PROBE_COPIES times', () => {
    const { w, probes, applied } = rig();
    w.onEvent(established, 'c', 0);
    w.run(PROBE_DELAY_MS - 1);
    expect(probes).toEqual([]);
    w.run(PROBE_DELAY_MS);
    expect(probes).toEqual([[1500 - OVERHEAD, 1280 - OVERHEAD, 576 - OVERHEAD]]);
    expect(applied[0].filter((e) => e.type === 'send')).toHaveLength(PROBE_COPIES);
  });

  it('a lost large probe answered smaller, with no ICMP, is F7 once, and the datapath gets the size that passed', () => {
    const { w, failures, set } = rig();
    w.onEvent(established, 'c', 0);
    w.run(PROBE_DELAY_MS);
    w.onEvent({ type: 'mtu-probe', sent: [1500 - OVERHEAD, 1280 - OVERHEAD], answered: 1280 - OVERHEAD }, 'c', 4600);
    expect(set).toEqual([[PEER, 1280]]);
    expect(failures).toHaveLength(1);
    expect(failures[0].row).toBe('F7');
    expect(failures[0].evidence).toMatchObject({ peer: PEER, pathMtu: 1280, source: 'probe', icmpReceived: 'none', detectedInMs: 4100, probes: [{ size: 1500, answered: false }, { size: 1280, answered: true }] });
    // the search goes on with one size at a time; a failing one is no second F7
    w.run(4600);
    w.onEvent({ type: 'mtu-probe', sent: [1390 - OVERHEAD, 100], answered: 100 }, 'c', 9000);
    expect(failures).toHaveLength(1);
  });

  it('after F7, the probes that follow find the whole route MTU again: the black hole is healed (F7 resolved) once, and the datapath goes back to the route', () => {
    const { w, failures, healed, set, probes } = rig();
    w.onEvent(established, 'c', 0);
    w.run(PROBE_DELAY_MS);
    w.onEvent({ type: 'mtu-probe', sent: [1500 - OVERHEAD, 1280 - OVERHEAD], answered: 1280 - OVERHEAD }, 'c', 4600);
    expect(failures.map((f) => f.row)).toEqual(['F7']);
    expect(healed).toEqual([]);
    // the path is whole again: every probe from now on is answered at its first size
    let now = 4600;
    for (let i = 0; i < 20 && healed.length === 0; i++) {
      const before = probes.length;
      for (let t = 0; t < 700 && probes.length === before; t++) w.run((now += 1000));
      const first = probes[probes.length - 1]![0]!;
      w.onEvent({ type: 'mtu-probe', sent: [first], answered: first }, 'c', (now += 100));
    }
    expect(healed).toEqual(['c']);
    expect(set[set.length - 1]).toEqual([PEER, undefined]);
    expect(failures).toHaveLength(1);
  });

  it('a path MTU reported by ICMP is applied within one poll and is no failure, even when the large probe was lost', () => {
    const { w, failures, set, icmp } = rig();
    w.onEvent(established, 'c', 0);
    w.run(PROBE_DELAY_MS);
    icmp.push({ dst: PEER, offender: '10.99.1.1', type: 3, code: 4, origin: 2, info: 1300, errno: 90 });
    w.run(PROBE_DELAY_MS + 200);
    expect(set).toEqual([[PEER, 1300]]);
    w.onEvent({ type: 'mtu-probe', sent: [1500 - OVERHEAD, 1280 - OVERHEAD], answered: 1280 - OVERHEAD }, 'c', 4600);
    expect(failures).toEqual([]);
  });

  it('a probe answered at the route MTU leaves the route MTU and plans the next probe in 600 s (RFC 8899 §5.1.1)', () => {
    const { w, failures, set, probes } = rig();
    w.onEvent(established, 'c', 0);
    w.run(PROBE_DELAY_MS);
    w.onEvent({ type: 'mtu-probe', sent: [1500 - OVERHEAD], answered: 1500 - OVERHEAD }, 'c', 600);
    expect(set).toEqual([[PEER, undefined]]);
    expect(failures).toEqual([]);
    expect(w.nextDeadline()).toBeLessThanOrEqual(600 + 200); // the ICMP poll
    w.run(600 + 599_999);
    expect(probes).toHaveLength(1);
    w.run(600 + 600_000);
    expect(probes).toHaveLength(2);
  });

  it('large ESP going out with nothing coming back for a second starts a probe at once, at most every 30 s', () => {
    const { w, probes, dp } = rig();
    w.onEvent(established, 'c', 0);
    w.run(PROBE_DELAY_MS);
    w.onEvent({ type: 'mtu-probe', sent: [1500 - OVERHEAD], answered: 1500 - OVERHEAD }, 'c', 600);
    expect(probes).toHaveLength(1);
    dp.lastInbound = 10_000;
    for (let t = 10_000; t <= 10_600; t += 200) {
      dp.largeSent += 3; // answered: inbound keeps coming
      dp.lastInbound = t;
      w.run(t);
    }
    expect(probes).toHaveLength(1);
    w.run(10_800);
    dp.largeSent += 10; // a TCP sender's window into a black hole, then nothing until its retransmission timeout
    w.run(11_000);
    w.run(11_800);
    expect(probes).toHaveLength(1);
    w.run(12_000);
    expect(probes).toHaveLength(2);
    expect(probes[1][0]).toBe(1500 - OVERHEAD);
    w.onEvent({ type: 'mtu-probe', sent: [1500 - OVERHEAD, 1280 - OVERHEAD], answered: 1280 - OVERHEAD }, 'c', 17_000);
    for (let t = 17_200; t <= 30_000; t += 200) {
      dp.largeSent += 1;
      w.run(t);
    }
    expect(probes).toHaveLength(3); // the search's next size, not another stall probe
  });
});
