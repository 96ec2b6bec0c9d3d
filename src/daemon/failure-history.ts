// The failure history `tsvpn status` shows: each failure-map row recorded (row, message,
// evidence, fix area, when), newest first, kept short per connection and for the whole
// daemon, and marked resolved once the condition that caused it clears. Two tables say
// what an operator reads in docs/failure-map.md: the fix area of each row (the map's "fix
// area" column) and what resolves it. `lastFailure` is the newest failure not resolved.

/** The failure map's "fix area" column (docs/failure-map.md): where to look to fix each row. */
export const FIX_AREA: Readonly<Record<string, string>> = {
  F1: 'outer firewall, routing, peer address',
  F2: 'ENCR, INTEG, PRF, DH group, IKE version',
  F3: 'identity and trust chain',
  F4: 'local/remote prefixes, policies',
  F5: 'routes, policy, inner firewall',
  F6: 'rekey timers, Child SA proposals',
  F7: 'MTU, MSS clamping, ICMP filtering',
  F8: 'NAT-T, UDP 4500, keepalive interval',
};

/** What the daemon sees that can clear a failure. */
export type ClearedBy =
  | 'ike-established' // an IKE SA of the connection established
  | 'child-installed' // a Child SA of the connection was installed
  | 'rekeyed' // a later Child SA or IKE SA rekey succeeded
  | 'routes-back' // the periodic route check found none of tsvpn's routes and rules missing
  | 'traffic-back' // a Child SA that sent and received nothing receives packets again (traffic-check.ts)
  | 'probe-passed' // a path-MTU probe passed (F7)
  | 'traffic-on-new-mapping'; // authenticated traffic arrived on the peer's new NAT mapping (F8)

/** Which events resolve each row (docs/failure-map.md "Resolved when"). */
export const RESOLVED_BY: Readonly<Record<string, readonly ClearedBy[]>> = {
  F1: ['ike-established'],
  F2: ['ike-established', 'child-installed'],
  F3: ['ike-established'],
  F4: ['child-installed'],
  F5: ['routes-back', 'traffic-back'],
  F6: ['rekeyed'],
  F7: ['probe-passed'],
  F8: ['traffic-on-new-mapping'],
};

/** Failures kept per connection, and for the whole daemon. */
export const HISTORY_PER_CONNECTION = 10;
export const HISTORY_TOTAL = 20;

/** One recorded failure, as status shows it. */
export interface Failure {
  row: string;
  message: string;
  evidence?: unknown;
  /** Where to look to fix it (FIX_AREA). */
  fixArea: string;
  at: string;
  /** When the condition cleared (RESOLVED_BY); absent while it holds. */
  resolvedAt?: string;
}

interface Entry {
  readonly f: Failure;
  readonly conn: string | undefined;
}

export class FailureHistory {
  /** Newest first, the whole daemon. */
  private all: Entry[] = [];
  private readonly byConn = new Map<string, Entry[]>();

  /**
   * Record a failure of `conn` (undefined: the daemon's own, e.g. F5 from the route check).
   * A first sign (F1 no answer yet, `evidence.pending`) still unresolved is replaced by what
   * follows it in the same row, so one attempt shows once.
   */
  add(f: Failure, conn: string | undefined): void {
    const key = conn ?? '';
    const list = this.byConn.get(key) ?? [];
    const head = list[0];
    if (head && head.f.row === f.row && head.f.resolvedAt === undefined && isPending(head.f.evidence)) {
      list.shift();
      this.all = this.all.filter((e) => e !== head);
    }
    const e: Entry = { f, conn };
    list.unshift(e);
    if (list.length > HISTORY_PER_CONNECTION) list.length = HISTORY_PER_CONNECTION;
    this.byConn.set(key, list);
    this.all.unshift(e);
    if (this.all.length > HISTORY_TOTAL) this.all.length = HISTORY_TOTAL;
  }

  /**
   * `what` happened on `conn` (undefined: daemon-wide): every unresolved failure of that
   * connection (or of none) whose row it clears gets `resolvedAt`. Returns those.
   */
  resolve(what: ClearedBy, conn: string | undefined, at: string): Failure[] {
    const n: Failure[] = [];
    for (const list of this.byConn.values()) {
      for (const e of list) {
        if (e.f.resolvedAt !== undefined || !(RESOLVED_BY[e.f.row] ?? []).includes(what)) continue;
        if (conn !== undefined && e.conn !== undefined && e.conn !== conn) continue;
        e.f.resolvedAt = at;
        n.push(e.f);
      }
    }
    return n;
  }

  /** Is a failure of `row` unresolved, of any connection? (cheap: asked per inbound batch for F8) */
  open(row: string): boolean {
    return this.all.some((e) => e.f.row === row && e.f.resolvedAt === undefined);
  }

  /** Newest first: one connection's (a name), or the whole daemon's (undefined). */
  list(conn?: string): Failure[] {
    return (conn === undefined ? this.all : (this.byConn.get(conn) ?? [])).map((e) => e.f);
  }

  /** The newest failure not resolved, of one connection or of the whole daemon. */
  lastUnresolved(conn?: string): Failure | null {
    return this.list(conn).find((f) => f.resolvedAt === undefined) ?? null;
  }
}

/** Evidence of a first sign (F1 no answer yet), not a failure yet. */
export function isPending(evidence: unknown): boolean {
  return typeof evidence === 'object' && evidence !== null && (evidence as { pending?: unknown }).pending === true;
}
