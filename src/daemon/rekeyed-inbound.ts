// The inbound SA a Child SA rekey replaced, kept a moment after the rekey's Delete (RFC 7296
// §2.8) so ESP the peer sent on it before it switched, still queued in our socket behind the
// IKE Delete, is not dropped as unknown-spi. No timer of its own: the daemon's one timer
// (src/daemon/timers.ts) asks for the next deadline and calls expire() when it is due.
import type { EspSa, Sad } from '../ipsec/sad.js';

/**
 * Implementation choice (as strongSwan's charon.delete_rekeyed_delay): how long the old
 * inbound SA stays after a rekey's Delete.
 */
export const REKEYED_INBOUND_GRACE_MS = 2000;

export class RekeyedInbound {
  /** Kept SAs and when each goes (ms, daemon clock), in the order they were kept. */
  private readonly kept = new Map<EspSa, number>();

  constructor(private readonly sad: Sad) {}

  get size(): number {
    return this.kept.size;
  }

  /** Keep `sa` until `until`. */
  keep(sa: EspSa, until: number): void {
    this.kept.set(sa, until);
  }

  /** When the next kept SA goes (undefined: none kept). */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const until of this.kept.values()) if (next === undefined || until < next) next = until;
    return next;
  }

  /** Remove the SAs whose time is over at `now`. */
  expire(now: number): void {
    for (const [sa, until] of this.kept) {
      if (until > now) continue;
      this.kept.delete(sa);
      this.sad.remove(sa);
    }
  }

  /** Remove every kept SA now (shutdown). */
  clear(): void {
    for (const sa of [...this.kept.keys()]) {
      this.kept.delete(sa);
      this.sad.remove(sa);
    }
  }
}
