// What the daemon keeps from the IKE events it applies: each one logged in words, the last
// failure (failure map row, message, evidence) that `tsvpn status` shows, the IKE SAs'
// establishment times and the retransmit count. Failures of SAs that never authenticated their
// peer (anyone can cause them) are kept apart: counted by row, logged rate-limited, and the
// newest shown as `lastUnauthenticatedFailure` with its source, never as lastFailure. A
// misconfigured peer (wrong proposals or PSK) shows there; a flood can never hide the tunnel's own.
import type { IkeEvent } from '../ike/effects.js';
import { formatEndpoint } from '../wire/ip-text.js';
import type { Logger } from './log.js';
import { FIX_AREA, FailureHistory, isPending, type ClearedBy, type Failure } from './failure-history.js';

/** A recorded failure: row, message, evidence, fix area, when, and when it was resolved (src/daemon/failure-history.ts). */
export type LastFailure = Failure;

/** A failure of an IKE SA whose peer never authenticated: where it came from, and how many since the daemon started. */
export interface UnauthenticatedFailure extends LastFailure {
  from: string;
  count: number;
}

/** A Child SA deleted by the peer or expired, for `tsvpn status` when no Child SA is left. */
export interface ChildGone {
  name: string;
  connection?: string;
  reason: 'peer' | 'expired';
  at: string;
}

/** Unauthenticated failures logged per UNAUTHENTICATED_LOG_WINDOW_MS; the rest are counted in one summary line. */
export const UNAUTHENTICATED_LOG_LINES = 10;
export const UNAUTHENTICATED_LOG_WINDOW_MS = 60_000;

export class IkeEventLog {
  /** The failures recorded, newest first, each resolved when its condition clears (status `failures`). */
  readonly history = new FailureHistory();
  lastUnauthenticatedFailure: UnauthenticatedFailure | null = null;
  /** IKE requests retransmitted, over every IKE SA this daemon ran (status `retransmits`). */
  retransmits = 0;
  /** IKE SAs' establishment times (ms, daemon clock), by SPIi hex. */
  readonly established = new Map<string, number>();
  /** Failures of SAs that never authenticated their peer, by row (status, under drops.ike). */
  readonly unauthenticated: Record<string, number> = {};
  private window = { start: -Infinity, logged: 0, suppressed: 0 };

  /** The last Child SA that went without a replacement of ours: the peer deleted it, or it expired. */
  lastChildGone: ChildGone | null = null;
  /** Failures by connection and row, counted as they happen (status `connections[].failures`, metrics). */
  readonly failuresOf = new Map<string, Record<string, number>>();
  /** Told each failure as it is recorded (the daemon's event stream). */
  onFailure: ((f: LastFailure, conn: string | undefined) => void) | undefined;

  constructor(
    private readonly baseLog: Logger,
    private readonly now: () => number,
    private readonly wallClock: () => number,
    /** Prefix each event's line with its connection's name. */
    private readonly named = false,
  ) {}

  /** The newest failure not resolved yet (status `lastFailure`), of the whole daemon. */
  get lastFailure(): LastFailure | null {
    return this.history.lastUnresolved();
  }

  /** A failure the daemon found itself (F5: routes), recorded as the IKE side's are. */
  failure(row: string, message: string, evidence: unknown, conn?: string): void {
    const f: Failure = { row, message, evidence, fixArea: FIX_AREA[row] ?? '', at: this.iso() };
    this.history.add(f, conn);
    // counted once per failure: F1's first sign (pending) is not one yet
    if (!isPending(evidence)) {
      const counts = this.failuresOf.get(conn ?? '') ?? {};
      counts[row] = (counts[row] ?? 0) + 1;
      this.failuresOf.set(conn ?? '', counts);
    }
    this.onFailure?.(f, conn);
  }

  /** What cleared a condition (src/daemon/failure-history.ts RESOLVED_BY): the failures it ends get resolvedAt. */
  resolve(what: ClearedBy, conn?: string): void {
    const done = this.history.resolve(what, conn, this.iso());
    if (done.length > 0) this.baseLog.info('daemon', `${conn !== undefined && this.named ? `${conn}: ` : ''}${[...new Set(done.map((f) => f.row))].join(', ')} resolved (${what})`);
  }

  private iso(): string {
    return new Date(this.wallClock()).toISOString();
  }

  record(ev: IkeEvent, conn?: string): void {
    const log = this.named && conn !== undefined ? prefixed(this.baseLog, `${conn}: `) : this.baseLog;
    switch (ev.type) {
      case 'failure':
        if (ev.unauthenticated) {
          const from = formatEndpoint(ev.unauthenticated.from);
          this.unauthenticatedFailure(ev.row, `${ev.row}: ${ev.message} (from ${from}, not authenticated) ${JSON.stringify(ev.evidence)}`);
          const count = Object.values(this.unauthenticated).reduce((a, b) => a + b, 0);
          this.lastUnauthenticatedFailure = { row: ev.row, message: ev.message, evidence: ev.evidence, fixArea: FIX_AREA[ev.row] ?? '', at: this.iso(), from, count };
          return;
        }
        this.failure(ev.row, ev.message, ev.evidence, conn);
        // a first sign (F1 no answer yet) and a peer that moved (F8, already followed) are warnings
        if (ev.row === 'F8' || 'pending' in ev.evidence) log.warn('ike', `${ev.row}: ${ev.message} ${JSON.stringify(ev.evidence)} (fix: ${FIX_AREA[ev.row]})`);
        else log.error('ike', `${ev.row}: ${ev.message} ${JSON.stringify(ev.evidence)} (fix: ${FIX_AREA[ev.row]})`);
        return;
      case 'ike-state':
        return log.debug('ike', `IKE SA ${ev.from} -> ${ev.to}`);
      case 'config-selected':
        return log.debug('ike', `connection ${ev.name} chosen for the peer: ${ev.why}`);
      case 'eap':
        return log.info('ike', `${ev.method} ${ev.result} for user ${ev.user}`);
      case 'virtual-ip-received':
        return log.info('ike', `virtual IP ${ev.addresses.join(', ')} from the gateway${ev.dns.length > 0 ? `, DNS ${ev.dns.join(', ')}` : ''}${ev.subnets.length > 0 ? `, subnets ${ev.subnets.join(', ')}` : ''}`);
      case 'virtual-ip':
        return log.info('ike', `virtual IP ${ev.addresses.join(', ')} (pool ${ev.pools.join(', ')}) leased to ${ev.identity}`);
      case 'ike-established':
        this.established.set(ev.spiI, this.now());
        this.resolve('ike-established', conn);
        return log.info('ike', `IKE SA established: ${ev.localId} <-> ${ev.remoteId}, ${ev.proposal}, SPIs ${ev.spiI}_i ${ev.spiR}_r${natWords(ev.nat)}`);
      case 'ike-deleted':
        return log.info('ike', `IKE SA deleted (${ev.reason})`);
      case 'child-installed':
        this.resolve('child-installed', conn);
        if (ev.proposed) return log.warn('ike', `Child SA ${ev.name}: the peer narrowed ${ev.proposed.localTs.join(',')} === ${ev.proposed.remoteTs.join(',')} to ${ev.localTs.join(',')} === ${ev.remoteTs.join(',')}; installed as narrowed (traffic outside it is not protected)`);
        return log.info('ike', `Child SA ${ev.name}: ${ev.localTs.join(',')} === ${ev.remoteTs.join(',')}${ev.narrowed ? ' (narrowed)' : ''}`);
      case 'child-deleted':
        // not a failure of ours, but the answer to "why is there no Child SA" (status shows it)
        if (ev.reason === 'peer' || ev.reason === 'expired') this.lastChildGone = { name: ev.name, ...(conn === undefined ? {} : { connection: conn }), reason: ev.reason, at: new Date(this.wallClock()).toISOString() };
        return log.info('ike', `Child SA ${ev.name} deleted (${ev.reason})`);
      case 'retransmit':
        this.retransmits++;
        return log.info('ike', `retransmit ${ev.attempt} of ${ev.exchange} (message ${ev.messageId}) to ${formatEndpoint(ev.to)}`);
      case 'liveness':
        return ev.ok ? log.debug('ike', 'peer alive') : log.warn('ike', 'peer did not answer the liveness check (DPD): dead');
      case 'mtu-probe':
        return log.debug('mtu', `path MTU probe answered: IKE messages of ${ev.sent.join(', ')} octets sent, ${ev.answered} answered`);
      case 'invalid-ke':
        return log.info('ike', `peer asked for DH group ${ev.requested}, retrying`);
      case 'cookie-requested':
        return log.info('ike', 'peer demanded a COOKIE, retrying');
      case 'notify':
        return log.warn('ike', `${ev.exchange}: peer sent ${ev.notify}`);
      case 'child-rekeyed':
        this.resolve('rekeyed', conn);
        return log.info('ike', `Child SA ${ev.name} rekeyed: SPIs ${ev.oldSpiIn}/${ev.oldSpiOut} -> ${ev.newSpiIn}/${ev.newSpiOut}${ev.pfsGroup ? `, PFS ${ev.pfsGroup}` : ''}`);
      case 'ike-rekeyed':
        this.established.set(ev.spiI, this.now());
        this.resolve('rekeyed', conn);
        return log.info('ike', `IKE SA rekeyed: ${ev.oldSpi} -> ${ev.newSpi}`);
      case 'peer-moved':
        if (ev.via === 'mobike') return log.info('ike', `peer moved from ${formatEndpoint(ev.from)} to ${formatEndpoint(ev.to)} (MOBIKE)${natWords(ev.nat)}`);
        return log.warn('ike', `the peer's NAT mapping changed: it now sends from ${formatEndpoint(ev.to)} (was ${formatEndpoint(ev.from)}); IKE follows it (RFC 7296 §2.23)`);
      case 'local-moved':
        return log.info('ike', `moved from ${formatEndpoint(ev.from)} to ${formatEndpoint(ev.to)} (MOBIKE): the peer acknowledged UPDATE_SA_ADDRESSES${natWords(ev.nat)}`);
      case 'rekey-collision':
        return log.info('ike', `${ev.scope === 'ike' ? 'IKE' : 'Child'} SA rekey collision (RFC 7296 §2.8.1): ${ev.won ? 'ours' : 'theirs'} wins`);
    }
  }

  /** When the suppressed-lines summary is due (a deadline for the daemon's timer), if any. */
  nextDeadline(): number | undefined {
    return this.window.suppressed > 0 ? this.window.start + UNAUTHENTICATED_LOG_WINDOW_MS : undefined;
  }

  /** Log the summary of the window that is over, if lines were suppressed in it. */
  flush(now: number): void {
    if (now < this.window.start + UNAUTHENTICATED_LOG_WINDOW_MS) return;
    if (this.window.suppressed > 0) this.baseLog.warn('ike', `${this.window.suppressed} more unauthenticated failures suppressed`);
    this.window = { start: now, logged: 0, suppressed: 0 };
  }

  private unauthenticatedFailure(row: string, line: string): void {
    const key = `unauthenticated-${row}`;
    this.unauthenticated[key] = (this.unauthenticated[key] ?? 0) + 1;
    this.flush(this.now());
    if (this.window.logged >= UNAUTHENTICATED_LOG_LINES) {
      this.window.suppressed++;
      return;
    }
    this.window.logged++;
    this.baseLog.warn('ike', line);
  }
}

/** A logger that puts `prefix` before every message. */
function prefixed(log: Logger, prefix: string): Logger {
  return {
    info: (a, m) => log.info(a, prefix + m),
    warn: (a, m) => log.warn(a, prefix + m),
    error: (a, m) => log.error(a, prefix + m),
    debug: (a, m) => log.debug(a, prefix + m),
  };
}

/** The NAT-D results as the log says them: a peer that forces UDP encapsulation is not said to be behind a NAT. */
function natWords(nat: { local: boolean; remote: boolean; peerForcesEncap?: boolean }): string {
  const local = nat.local ? ', we are behind a NAT' : '';
  if (nat.peerForcesEncap) return `${local}, the peer forces UDP encapsulation; no NAT detected from our side`;
  return `${local}${nat.remote ? ', the peer is behind a NAT' : ''}`;
}
