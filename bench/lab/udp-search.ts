// The UDP search of the throughput bench: the highest offered rate a path carries with under
// 1% of the datagrams lost. Short iperf3 -u runs: from the start rate, double while the loss
// stays under the limit (halve while it does not), then bisect between the highest rate that
// passed and the lowest that failed for a fixed number of steps. iperf3's -b is what is asked;
// the figure kept is what the sender actually offered (a single iperf3 sender may not reach
// -b: then the sender, not the tunnel, is the ceiling, and the result says so).

import type { UdpResult } from './iperf.js';

/** Loss (percent of datagrams) at or above which a rate fails. */
export const LOSS_LIMIT_PERCENT = 1;

export interface UdpSearchResult {
  /** The best passing step (highest offered rate with loss under the limit), or null if none passed. */
  best: UdpResult | null;
  /** The -b of that step, Mbit/s. */
  askedMbps: number | null;
  /** The lowest -b that failed, Mbit/s (null: none failed up to the cap). */
  failedAtMbps: number | null;
  /** The best step's sender could not reach 90% of the asked rate: iperf3 was the limit. */
  senderBound: boolean;
  steps: { askedMbps: number; result: UdpResult }[];
}

export interface UdpSearchOptions {
  startMbps: number;
  /** Never ask more than this (Mbit/s). */
  capMbps?: number;
  /** Never go below this (Mbit/s). */
  floorMbps?: number;
  /** Bisection steps after the bracket is found. */
  bisect?: number;
  /** Most doubling/halving steps before bisecting. */
  maxBracket?: number;
}

/** Search with `step(rateMbps)` running one short iperf3 UDP test at that -b. */
export async function searchUdp(step: (mbps: number) => Promise<UdpResult>, o: UdpSearchOptions): Promise<UdpSearchResult> {
  const cap = o.capMbps ?? 20_000;
  const floor = o.floorMbps ?? 5;
  const steps: UdpSearchResult['steps'] = [];
  let pass: { asked: number; r: UdpResult } | null = null;
  let fail: number | null = null;
  const tryRate = async (mbps: number): Promise<boolean> => {
    const result = await step(mbps);
    steps.push({ askedMbps: mbps, result });
    const ok = result.lossPercent < LOSS_LIMIT_PERCENT;
    if (ok && (!pass || result.offeredMbps > pass.r.offeredMbps)) pass = { asked: mbps, r: result };
    if (!ok && (fail === null || mbps < fail)) fail = mbps;
    return ok;
  };
  const sender = (asked: number, r: UdpResult): boolean => r.offeredMbps < asked * 0.9;
  // bracket: double while passing (and the sender keeps up), halve while failing
  let rate = Math.min(Math.max(o.startMbps, floor), cap);
  for (let i = 0; i < (o.maxBracket ?? 6); i++) {
    if (await tryRate(rate)) {
      const p = pass as { asked: number; r: UdpResult } | null;
      if (fail !== null || rate >= cap || (p && sender(p.asked, p.r))) break;
      rate = Math.min(rate * 2, cap);
    } else {
      if (pass !== null || rate <= floor) break;
      rate = Math.max(Math.round(rate / 2), floor);
    }
  }
  // bisect between the best pass and the lowest fail
  for (let i = 0; i < (o.bisect ?? 3); i++) {
    const p = pass as { asked: number; r: UdpResult } | null;
    if (!p || fail === null || sender(p.asked, p.r)) break;
    const mid = Math.round((p.asked + fail) / 2);
    if (mid <= p.asked || mid >= fail) break;
    await tryRate(mid);
  }
  const p = pass as { asked: number; r: UdpResult } | null;
  return { best: p?.r ?? null, askedMbps: p?.asked ?? null, failedAtMbps: fail, senderBound: p ? sender(p.asked, p.r) : false, steps };
}
