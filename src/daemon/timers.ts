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
}

export class Timers {
  private timer: unknown;
  private once: { at: number; fn: () => void } | undefined;
  private closed = false;
  private backoff = false;
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
    this.timer = set(() => this.fire(), Math.max(this.backoff ? 1000 : 0, Math.min(due - now, 2 ** 31 - 1)));
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) (this.o.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout)))(this.timer);
    this.timer = undefined;
  }

  /** Do whatever is due now, then re-arm. Never throws: a failure is counted and the timer re-armed. */
  fire(): void {
    this.timer = undefined;
    if (this.closed) return;
    try {
      this.due();
      this.backoff = false;
    } catch {
      this.stats.errors++;
      this.backoff = true; // a deadline that keeps throwing must not spin: wait a second
    }
    this.kick();
  }

  private due(): void {
    const now = this.o.now();
    for (const d of this.o.deadlines) {
      const at = d.next(now);
      if (at !== undefined && at <= now) d.run(now);
    }
    if (this.once && this.once.at <= now) {
      const r = this.once;
      this.once = undefined;
      r.fn();
    }
  }

  private nextDue(now: number): number | undefined {
    let due = this.once?.at;
    for (const d of this.o.deadlines) {
      const at = d.next(now);
      if (at !== undefined && (due === undefined || at < due)) due = at;
    }
    return due;
  }
}
