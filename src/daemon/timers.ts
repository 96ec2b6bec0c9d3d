// The daemon's one timer. It is armed for the earliest of its deadlines: the IKE SAs'
// retransmits, half-open and lifetime deadlines (dispatcher.pollTimeout()), the connection
// layer's retries, liveness checks and NAT-T keepalives (src/ike/connection.ts), held ESP and
// rekeyed inbound SAs, and one one-shot slot (at shutdown: the end of the wait for the peer's
// answer to our Delete). No other part of the daemon arms a timer, except the control socket
// for its own I/O timeouts. Times are milliseconds of the daemon's clock (DaemonOptions.now),
// which daemon.ts hands to every part that needs the time. Wall-clock time is read apart:
// Date.now in daemon.ts (failure times, certificate validity) and the logger's line stamps (log.ts).

export interface Deadline {
  /** The next time `run` is due (ms), or undefined: nothing to do. */
  next(now: number): number | undefined;
  run(now: number): void;
}

export interface TimersOptions {
  now: () => number;
  /** What this timer serves, run in this order when due. */
  deadlines: readonly Deadline[];
  /** Injectable for tests (default setTimeout / clearTimeout). */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
  /** Told each failure of a deadline's run (the daemon logs it; it is counted in any case). */
  onError?: (e: unknown) => void;
}

export class Timers {
  private timer: unknown;
  private once: { at: number; fn: () => void } | undefined;
  private closed = false;
  /** A deadline whose run threw waits a second before it is tried again; the others keep their times. */
  private readonly muted = new Map<Deadline, number>();
  /** Timer runs that threw, for status and tests. */
  readonly stats = { errors: 0 };

  constructor(private readonly o: TimersOptions) {}

  /** Run `fn` once at `at` (replacing an earlier one). */
  at(at: number, fn: () => void): void {
    this.once = { at, fn };
    this.kick();
  }

  /** Re-arm for the earliest deadline; call after anything that may change one. */
  kick(): void {
    if (this.closed) return;
    const set = this.o.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    const clear = this.o.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
    if (this.timer !== undefined) clear(this.timer);
    this.timer = undefined;
    const now = this.o.now();
    const due = this.nextDue(now);
    if (due === undefined) return;
    this.timer = set(() => this.fire(), Math.max(0, Math.min(due - now, 2 ** 31 - 1)));
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) (this.o.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout)))(this.timer);
    this.timer = undefined;
  }

  /**
   * Do whatever is due now, then re-arm. Never throws: a deadline that fails is counted, told
   * to onError, and muted for a second so it cannot spin; the other deadlines still run on time.
   */
  fire(): void {
    this.timer = undefined;
    if (this.closed) return;
    const now = this.o.now();
    for (const d of this.o.deadlines) {
      const at = this.nextOf(d, now);
      if (at === undefined || at > now) continue;
      try {
        d.run(now);
        this.muted.delete(d);
      } catch (e) {
        this.stats.errors++;
        this.o.onError?.(e);
        this.muted.set(d, now + 1000);
      }
    }
    if (this.once && this.once.at <= now) {
      const r = this.once;
      this.once = undefined;
      try {
        r.fn();
      } catch (e) {
        this.stats.errors++;
        this.o.onError?.(e);
      }
    }
    this.kick();
  }

  /** A deadline's time, no earlier than the end of its mute. */
  private nextOf(d: Deadline, now: number): number | undefined {
    const at = d.next(now);
    const until = this.muted.get(d);
    return at === undefined || until === undefined ? at : Math.max(at, until);
  }

  private nextDue(now: number): number | undefined {
    let due = this.once?.at;
    for (const d of this.o.deadlines) {
      const at = this.nextOf(d, now);
      if (at !== undefined && (due === undefined || at < due)) due = at;
    }
    return due;
  }
}
