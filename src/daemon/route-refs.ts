// Routes into the TUN, shared by the Child SAs that need them: an old SA and its replacement
// (rekey, reauthentication) cover the same remote prefixes, so each prefix is routed once
// and its route removed only when the last Child SA that holds it lets go.
import type { Logger } from './log.js';

/** Whose Child SA a route is for: its connection (the route's source address) and the peer's outer address (kept out of the tunnel). */
export interface RouteOwner {
  conn: string;
  peer: string;
}

export interface RouteHooks {
  /** Route the remote prefixes into the TUN; returns a handle for remove(). May throw. */
  install(remoteCidrs: string[], owner: RouteOwner): unknown;
  remove(handle: unknown): void;
}

export class RouteRefs {
  private readonly refs = new Map<string, { handle: unknown; count: number }>();

  constructor(
    private readonly routes: RouteHooks,
    private readonly log: Logger,
  ) {}

  /**
   * Take a reference on each prefix, routing the ones nobody held yet; `held` collects the
   * prefixes referenced so far, also when installing one throws (the error is rethrown).
   */
  hold(cidrs: readonly string[], held: string[], owner: RouteOwner): void {
    const fresh: string[] = [];
    for (const cidr of cidrs) {
      const ref = this.refs.get(cidr);
      if (ref) ref.count++;
      else {
        this.refs.set(cidr, { handle: this.routes.install([cidr], owner), count: 1 });
        fresh.push(cidr);
      }
      held.push(cidr);
    }
    if (fresh.length > 0) this.log.info('route', `routes for ${fresh.join(', ')} into the tunnel`);
  }

  /** Let go of each prefix; the last reference removes its route. Never throws. */
  release(cidrs: readonly string[]): void {
    for (const cidr of cidrs) {
      const ref = this.refs.get(cidr);
      if (!ref || --ref.count > 0) continue;
      this.refs.delete(cidr);
      try {
        this.routes.remove(ref.handle);
      } catch (e) {
        this.log.warn('route', `removing the route for ${cidr}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}
