// The daemon's one timer. It is armed for the earliest of: the IKE SAs' retransmit or
// half-open deadline (dispatcher.pollTimeout()), the next NAT-T keepalive (RFC 3948 §4,
// only while we are behind a NAT), the next dead peer check (RFC 7296 §2.4: an empty
// INFORMATIONAL after `dpdS` seconds without anything from the peer), a retry (at shutdown:
// the end of the wait for the peer's answer to our Delete), and the datapath's and effect
// applier's deadlines (`deadlines`: held ESP, rekeyed inbound SAs). No other part of the
// daemon arms a timer, except the control socket for its own I/O timeouts. Times are
// milliseconds of the daemon's clock (DaemonOptions.now), which daemon.ts hands to every part
// that needs the time. Wall-clock time is read apart: Date.now in daemon.ts (failure times,
// certificate validity) and the logger's line stamps (log.ts).
import type { Effect } from '../ike/effects.js';
import type { Endpoint } from '../ike/config.js';

/** What the timers need from an IKE SA (an IkeSa, or a fake in tests). */
export interface TimedSa {
  readonly state: string;
  readonly nat: { local: boolean; remote: boolean } | undefined;
  readonly remote: Endpoint;
  liveness(now: number): Effect[];
}

export interface TimersOptions {
  now: () => number;
  pollTimeout: () => number | undefined;
  handleTimeout: (now: number) => Effect[];
  list: () => readonly TimedSa[];
  apply: (fx: Effect[]) => void;
  sendKeepalive: (to: Endpoint) => void;
  /** Last time anything authenticated arrived from the peer (ESP or IKE). */
  lastInbound: () => number;
  keepaliveS: number;
  dpdS: number;
  /** Other deadlines served by this timer: when each is next due, and what to run then. */
  deadlines?: readonly Deadline[];
  /** Injectable for tests (default setTimeout / clearTimeout). */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

export interface Deadline {
  /** The next time `run` is due (ms), or undefined: nothing to do. */
  next(): number | undefined;
  run(now: number): void;
}

export class Timers {
  private timer: unknown;
  private nextKeepalive: number | undefined;
  private retry: { at: number; fn: () => void } | undefined;
  private readonly dpdSent = new WeakMap<TimedSa, number>();
  private closed = false;
  private backoff = false;
  /** Keepalives and liveness checks sent, and timer runs that threw, for status and tests. */
  readonly stats = { keepalives: 0, dpdChecks: 0, errors: 0 };

  constructor(private readonly o: TimersOptions) {}

  /** Run `fn` at `at` (replacing any earlier retry). */
  retryAt(at: number, fn: () => void): void {
    this.retry = { at, fn };
    this.kick();
  }

  cancelRetry(): void {
    this.retry = undefined;
  }

  get retryPending(): boolean {
    return this.retry !== undefined;
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
    const p = this.o.pollTimeout();
    if (p !== undefined && p <= now) this.o.apply(this.o.handleTimeout(now));
    const sas = this.o.list().filter((sa) => sa.state === 'ESTABLISHED');
    this.keepalives(now, sas);
    this.dpd(now, sas);
    for (const d of this.o.deadlines ?? []) {
      const at = d.next();
      if (at !== undefined && at <= now) d.run(now);
    }
    if (this.retry && this.retry.at <= now) {
      const r = this.retry;
      this.retry = undefined;
      r.fn();
    }
  }

  private nextDue(now: number): number | undefined {
    const c: number[] = [];
    const p = this.o.pollTimeout();
    if (p !== undefined) c.push(p);
    if (this.retry) c.push(this.retry.at);
    for (const d of this.o.deadlines ?? []) {
      const at = d.next();
      if (at !== undefined) c.push(at);
    }
    const sas = this.o.list().filter((sa) => sa.state === 'ESTABLISHED');
    if (this.o.keepaliveS > 0 && sas.some((sa) => sa.nat?.local)) {
      this.nextKeepalive ??= now + this.o.keepaliveS * 1000;
      c.push(this.nextKeepalive);
    } else this.nextKeepalive = undefined;
    if (this.o.dpdS > 0 && sas.length > 0) {
      const idleSince = this.o.lastInbound();
      c.push(Math.max(idleSince + this.o.dpdS * 1000, now + 1000)); // at most one check a second
    }
    return c.length ? Math.min(...c) : undefined;
  }

  private keepalives(now: number, sas: readonly TimedSa[]): void {
    if (this.nextKeepalive === undefined || now < this.nextKeepalive) return;
    // RFC 3948 §4: only the side behind the NAT needs to keep the mapping open
    for (const sa of sas) {
      if (!sa.nat?.local) continue;
      this.o.sendKeepalive(sa.remote);
      this.stats.keepalives++;
    }
    this.nextKeepalive = now + this.o.keepaliveS * 1000;
  }

  private dpd(now: number, sas: readonly TimedSa[]): void {
    if (this.o.dpdS <= 0) return;
    const last = this.o.lastInbound();
    if (now - last < this.o.dpdS * 1000) return;
    for (const sa of sas) {
      const sent = this.dpdSent.get(sa);
      if (sent !== undefined && sent >= last) continue; // one check per idle period; retransmits do the rest
      this.dpdSent.set(sa, now);
      this.stats.dpdChecks++;
      this.o.apply(sa.liveness(now)); // RFC 7296 §2.4: the peer must answer an empty INFORMATIONAL
    }
  }
}
