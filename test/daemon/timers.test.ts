// The daemon's one timer, on a fake clock: IKE deadlines are honoured, NAT-T keepalives go
// out every keepaliveS only while we are behind a NAT (RFC 3948 §4), a liveness check
// (RFC 7296 §2.4) follows dpdS of silence, once per idle period, and retries run on time.
import { describe, expect, it } from 'vitest';
import { Timers, type Deadline, type TimedSa } from '../../src/daemon/timers.js';
import type { Effect } from '../../src/ike/effects.js';

function rig(o: { natLocal?: boolean; keepaliveS?: number; dpdS?: number; poll?: number; throws?: boolean; deadlines?: Deadline[] } = {}) {
  let now = 0;
  let armed: { fn: () => void; at: number } | undefined;
  const keepalives: number[] = [];
  const liveness: number[] = [];
  const applied: Effect[][] = [];
  let lastInbound = 0;
  let poll = o.poll;
  const sa: TimedSa = {
    state: 'ESTABLISHED',
    nat: { local: o.natLocal ?? false, remote: false },
    remote: { addr: '198.51.100.2', port: 4500 },
    liveness: (t) => (liveness.push(t), [{ type: 'send', bytes: new Uint8Array(1), to: { addr: 'x', port: 1 }, from: { addr: 'y', port: 2 } }]),
  };
  const timers = new Timers({
    now: () => now,
    pollTimeout: () => poll,
    handleTimeout: (t) => {
      if (o.throws) throw new Error('bug');
      poll = undefined;
      return [{ type: 'event', event: { type: 'liveness', ok: true } }, { type: 'send', bytes: Uint8Array.of(t & 0xff), to: { addr: 'a', port: 1 }, from: { addr: 'b', port: 2 } }];
    },
    list: () => [sa],
    apply: (fx) => applied.push(fx),
    sendKeepalive: () => keepalives.push(now),
    lastInbound: () => lastInbound,
    keepaliveS: o.keepaliveS ?? 20,
    dpdS: o.dpdS ?? 0,
    deadlines: o.deadlines,
    setTimer: (fn, ms) => (armed = { fn, at: now + ms }),
    clearTimer: () => (armed = undefined),
  });
  /** Advance the fake clock to `t`, firing the armed timer whenever it is due. */
  const advance = (t: number) => {
    while (armed && armed.at <= t) {
      now = armed.at;
      const a = armed;
      armed = undefined;
      a.fn();
    }
    now = t;
  };
  return { timers, advance, keepalives, liveness, applied, setInbound: (t: number) => (lastInbound = t), get armed() { return armed; } };
}

describe('daemon timers', () => {
  it('fires the IKE timeout at its deadline and applies what it returns', () => {
    const r = rig({ poll: 4_000, keepaliveS: 0 });
    r.timers.kick();
    r.advance(3_999);
    expect(r.applied).toHaveLength(0);
    r.advance(4_000);
    expect(r.applied).toHaveLength(1);
  });

  it('sends NAT-T keepalives every keepaliveS while behind a NAT', () => {
    const r = rig({ natLocal: true, keepaliveS: 20 });
    r.timers.kick();
    r.advance(65_000);
    expect(r.keepalives).toEqual([20_000, 40_000, 60_000]);
  });

  it('sends no keepalive when we are not behind a NAT', () => {
    const r = rig({ natLocal: false, keepaliveS: 20 });
    r.timers.kick();
    r.advance(65_000);
    expect(r.keepalives).toEqual([]);
    expect(r.armed).toBeUndefined();
  });

  it('checks liveness after dpdS of silence, once until the peer is heard again', () => {
    const r = rig({ dpdS: 30, keepaliveS: 0 });
    r.setInbound(5_000);
    r.timers.kick();
    r.advance(34_999);
    expect(r.liveness).toEqual([]);
    r.advance(50_000);
    expect(r.liveness).toEqual([35_000]);
    r.setInbound(50_000); // the answer arrived
    r.advance(90_000);
    expect(r.liveness).toEqual([35_000, 80_000]);
  });

  it('runs a retry at its time, and not after close()', () => {
    const r = rig({ keepaliveS: 0 });
    const ran: number[] = [];
    r.timers.retryAt(30_000, () => ran.push(1));
    r.advance(29_000);
    expect(ran).toEqual([]);
    r.advance(30_000);
    expect(ran).toEqual([1]);
    r.timers.retryAt(60_000, () => ran.push(2));
    r.timers.close();
    r.advance(70_000);
    expect(ran).toEqual([1]);
  });

  it('serves the other deadlines (held ESP, rekeyed inbound SAs) on the same timer, each at its time', () => {
    const due: (number | undefined)[] = [500, 2_000];
    const ran: [number, number][] = [];
    const deadline = (i: number): Deadline => ({ next: () => due[i], run: (now) => (ran.push([i, now]), (due[i] = undefined)) });
    const r = rig({ keepaliveS: 0, deadlines: [deadline(0), deadline(1)] });
    r.timers.kick();
    r.advance(499);
    expect(ran).toEqual([]);
    r.advance(1_999);
    expect(ran).toEqual([[0, 500]]);
    r.advance(5_000);
    expect(ran).toEqual([[0, 500], [1, 2_000]]);
    expect(r.armed).toBeUndefined(); // nothing left: the timer is not armed
    due[0] = 6_000; // a new deadline: the owner kicks the timer
    r.timers.kick();
    r.advance(6_000);
    expect(ran.at(-1)).toEqual([0, 6_000]);
  });

  it('a deadline whose handling throws is counted and retried once a second, not in a busy loop', () => {
    const r = rig({ poll: 1_000, keepaliveS: 0, throws: true });
    r.timers.kick();
    r.advance(10_000);
    expect(r.timers.stats.errors).toBe(10); // at 1 s, then every second until 10 s
  });
});
