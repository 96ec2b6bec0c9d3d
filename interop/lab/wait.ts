// Waiting in the labs and tests (test/, interop/, bench/ all import this file): `until` for
// "wait until this holds", which returns as soon as it does and on timeout says what was
// awaited and what was last seen; `sleep` only where time itself must pass (traffic for
// N seconds, an interval under test, the grace before a SIGKILL).
import { setTimeout as delay } from 'node:timers/promises';

/** Let `ms` of time pass. For waiting on a condition, use `until`. */
export const sleep = (ms: number): Promise<void> => delay(ms);

export interface UntilOptions<T> {
  /** Give up after this many ms. */
  timeout: number;
  /** Ms between two probes (default 100). */
  interval?: number;
  /** What is awaited, as the timeout error names it: "the tunnel pair's Child SA INSTALLED". */
  what: string;
  /** When the probe's value counts as done (default: it is truthy). */
  done?: (v: T) => boolean;
  /** The last value as the timeout error shows it (default: JSON, cut at 2000 characters). */
  show?: (v: T) => string;
}

/** `until` gave up: `what` was not seen within `timeoutMs`; `last` is the probe's last value. */
export class WaitTimeout extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly last: unknown,
    shown = show(last),
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${shown}`);
    this.name = 'WaitTimeout';
  }
}

type Truthy<T> = Exclude<T, undefined | null | false | 0 | ''>;

/**
 * Calls `probe` every `interval` ms until its value is done (truthy, or `done(value)`),
 * and resolves with that value. Throws WaitTimeout naming `what` and the last value after
 * `timeout` ms. An error the probe throws ends the wait with that error: a probe that may
 * fail while it waits (a socket not there yet) catches its own errors.
 */
export function until<T, U extends T>(probe: () => T | Promise<T>, o: UntilOptions<T> & { done: (v: T) => v is U }): Promise<U>;
export function until<T>(probe: () => T | Promise<T>, o: UntilOptions<T> & { done: (v: T) => boolean }): Promise<T>;
export function until<T>(probe: () => T | Promise<T>, o: UntilOptions<T>): Promise<Truthy<T>>;
export async function until<T>(probe: () => T | Promise<T>, o: UntilOptions<T>): Promise<T> {
  const done = o.done ?? ((v: T) => Boolean(v));
  const end = Date.now() + o.timeout;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() >= end) throw new WaitTimeout(o.what, o.timeout, v, o.show?.(v));
    await delay(Math.min(o.interval ?? 100, Math.max(1, end - Date.now())));
  }
}

function show(v: unknown): string {
  if (v instanceof Error) return v.message;
  let text: string;
  try {
    text = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    text = String(v);
  }
  return text.length > 2000 ? `${text.slice(0, 2000)}... (${text.length} characters)` : text;
}
