// The daemon's one timer on a fake clock: every deadline it serves (IKE SAs, the connection
// layer, held ESP, rekeyed inbound SAs) runs at its time, nothing runs after close(), and a
// deadline that keeps throwing is counted and retried once a second instead of spinning,
// without delaying the others.
import { describe, expect, it } from 'vitest';
import { Timers, type Deadline } from '../../src/daemon/timers.js';

function rig(deadlines: Deadline[], onError?: (e: unknown) => void) {
  let now = 0;
  let armed: { fn: () => void; at: number } | undefined;
  const timers = new Timers({
    now: () => now,
    deadlines,
    setTimer: (fn, ms) => (armed = { fn, at: now + ms }),
    clearTimer: () => (armed = undefined),
    onError,
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
  return { timers, advance, get armed() { return armed; } };
}

describe('daemon timers', () => {
  it('serves every deadline on the same timer, each at its time', () => {
    const due: (number | undefined)[] = [500, 2_000];
    const ran: [number, number][] = [];
    const deadline = (i: number): Deadline => ({ next: () => due[i], run: (now) => (ran.push([i, now]), (due[i] = undefined)) });
    const r = rig([deadline(0), deadline(1)]);
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

  it('passes the clock to next(): a deadline may depend on it (the connection layer’s liveness check)', () => {
    const seen: number[] = [];
    const r = rig([{ next: (now) => (seen.push(now), now + 1_000), run: () => {} }]);
    r.timers.kick();
    r.advance(2_500);
    expect(seen.slice(0, 3)).toEqual([0, 1_000, 1_000]);
  });

  it('runs a one-shot at its time, and not after close()', () => {
    const r = rig([]);
    const ran: number[] = [];
    r.timers.at(30_000, () => ran.push(1));
    r.advance(29_000);
    expect(ran).toEqual([]);
    r.advance(30_000);
    expect(ran).toEqual([1]);
    r.timers.at(60_000, () => ran.push(2));
    r.timers.close();
    r.advance(70_000);
    expect(ran).toEqual([1]);
  });

  it('a deadline whose handling throws is counted and retried once a second, not in a busy loop', () => {
    const r = rig([{ next: () => 1_000, run: () => { throw new Error('bug'); } }]);
    r.timers.kick();
    r.advance(10_000);
    expect(r.timers.stats.errors).toBe(10); // at 1 s, then every second until 10 s
  });

  it('a deadline that keeps throwing does not hold up the others: they still run at their times, and the error is told', () => {
    const ran: number[] = [];
    let nextAt = 500;
    const errors: unknown[] = [];
    const r = rig(
      [
        { next: () => 0, run: () => { throw new Error('stale addon'); } },
        { next: () => nextAt, run: (now) => { ran.push(now); nextAt = now + 250; } },
      ],
      (e) => errors.push(e),
    );
    r.timers.kick();
    r.advance(2_000);
    expect(ran).toEqual([500, 750, 1000, 1250, 1500, 1750, 2000]); // on time, not a second late
    expect(r.timers.stats.errors).toBe(3); // at 0, 1 s and 2 s: muted a second after each
    expect(errors.map((e) => (e as Error).message)).toEqual(['stale addon', 'stale addon', 'stale addon']);
  });
});
