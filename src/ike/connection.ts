// The connection layer (DESIGN.md "Above one IKE SA sits the connection layer"): one
// configured connection (swanctl connections.<name>) and what happens to its IKE SAs over
// time, I/O-free like the IKE SA itself (quinn-proto's Connection above its Endpoint). It
// decides when to initiate and when to try again after F1-F4; what a dead peer leads to
// (`dpdAction`); starting over when the SAs expired without a rekey; reauthentication,
// make-before-break (RFC 7296 §2.8.3); retiring the IKE SAs a peer forgot (INITIAL_CONTACT,
// §2.4); liveness checks after silence (§2.4) and NAT-T keepalives (RFC 3948 §4). It reads
// no clock and owns no socket: events and timeouts go in with `now`, effects come out, and
// `pollTimeout()` says when to call again. The daemon applies the effects.
import type { Endpoint, IkeSaConfig } from './config.js';
import { event, type Effect, type IkeEvent } from './effects.js';
import type { IkeSa } from './ike-sa.js';
import { formatEndpoint } from '../wire/ip-text.js';
import { spiHex } from '../wire/spi.js';

// Implementation choices (strongSwan retries a failed initiation on its keyingtries schedule)
export const RETRY_MS = 30_000; // initiator: try again every 30 s after F1-F4
export const CHILD_EXPIRED_RESTART_MS = 2_000; // a Child SA reached its hard lifetime (F6); its Delete goes first

export interface ConnectionConfig {
  name: string;
  /** `start: initiate` with a remote address: this end sets the IKE SA up (and again when it goes). */
  initiator: boolean;
  /** The peer's address and port, or undefined for `%any`. */
  remote: Endpoint | undefined;
  /** swanctl `dpd_action`: restart (initiate again), clear (nothing), hold (trap: on the next packet). */
  dpdAction: 'restart' | 'clear' | 'hold';
  /** Seconds of silence from the peer before a liveness check (0: never). */
  dpdS: number;
  /** NAT-T keepalive interval in seconds while we are behind a NAT (0: never). */
  keepaliveS: number;
}

/** What the connection reads and commands of an IKE SA (an IkeSa; a fake in tests). */
export type ConnectionSa = Pick<IkeSa, 'state' | 'role' | 'spiI' | 'remoteId' | 'nat' | 'remote' | 'delete' | 'forget' | 'liveness'>;

/** What the connection needs from the endpoint that holds the IKE SAs (the dispatcher). */
export interface ConnectionHost {
  /** This connection's live IKE SAs. */
  list(): readonly ConnectionSa[];
  /** Start a new IKE SA as initiator with this configuration. */
  initiate(now: number, cfg: IkeSaConfig): Effect[];
  /** The IKE SA configuration towards the peer (fresh for every IKE SA). */
  ikeConfig(): IkeSaConfig;
}

/** What the connection asks of the daemon besides the IKE SAs' own effects. */
export type ConnectionEffect =
  | Effect
  /** swanctl trap: route the remote selectors into the TUN (`armed`) so traffic starts an IKE SA, or remove those routes. */
  | { type: 'hold'; armed: boolean }
  /** RFC 3948 §4: a NAT-T keepalive to keep the NAT's mapping. */
  | { type: 'keepalive'; to: Endpoint }
  /** What was decided and why, for the log. */
  | { type: 'note'; level: 'info' | 'warn'; message: string };

type Retry = { at: number; what: 'initiate' | 'reauth' };

export class Connection {
  /** IKE SAs replaced by our reauthentication (status `reauths`). */
  reauths = 0;
  /** Initiations since the last IKE SA came up. */
  attempts = 0;
  /** Liveness checks and keepalives sent. */
  readonly stats = { dpdChecks: 0, keepalives: 0 };
  private retry: Retry | undefined;
  /** A reauthentication in progress: the new IKE SA is being set up, the old one carries traffic. */
  private reauthenticating = false;
  private holding = false;
  private stopped = false;
  /** Effects decided while an event batch was being applied; they follow it (`takeDeferred`). */
  private deferred: ((now: number) => ConnectionEffect[])[] = [];
  private lastInbound: number;
  private readonly dpdSent = new WeakMap<ConnectionSa, number>();
  /** The liveness check that went unanswered, until its IKE SA is deleted as dead. */
  private unanswered: { requests: number; to: Endpoint } | undefined;
  private nextKeepalive: number | undefined;

  constructor(private config: ConnectionConfig, private readonly host: ConnectionHost, now: number) {
    this.lastInbound = now;
  }

  get cfg(): ConnectionConfig {
    return this.config;
  }

  /**
   * The connection's configuration changed (a reload; `host.ikeConfig()` already gives the new
   * one). With a peer address and an IKE SA up, a new IKE SA with the new configuration
   * replaces it make-before-break, as a reauthentication does (RFC 7296 §2.8.3): the old one
   * is deleted once the new one is up. Without one (%any, or nothing up), the IKE SAs are
   * deleted and the connection starts again.
   */
  replace(now: number, cfg: ConnectionConfig): ConnectionEffect[] {
    this.config = cfg;
    this.retry = undefined;
    this.reauthenticating = false;
    if (cfg.remote && this.established().length > 0) return this.reauth(now);
    const out: ConnectionEffect[] = [];
    for (const sa of this.host.list()) out.push(...sa.delete(now));
    return [...out, ...this.start(now)];
  }

  /** Bring the connection up: initiate now, or wait for the peer. */
  start(now: number): ConnectionEffect[] {
    return this.cfg.initiator ? this.initiate(now) : [];
  }

  /** Stop: nothing more is started; every IKE SA is deleted (RFC 7296 §1.4.1). */
  stop(now: number): ConnectionEffect[] {
    this.stopped = true;
    this.retry = undefined;
    this.deferred = [];
    const out: ConnectionEffect[] = [];
    if (this.holding) out.push(this.hold(false));
    for (const sa of this.host.list()) out.push(...sa.delete(now));
    return out;
  }

  /** Something authenticated arrived from the peer (IKE or ESP): the DPD clock starts again. */
  heardFrom(now: number): void {
    this.lastInbound = Math.max(this.lastInbound, now);
  }

  /** Traffic for the tunnel reached the TUN while holding (swanctl trap): initiate. */
  traffic(now: number): ConnectionEffect[] {
    if (!this.holding || this.stopped) return [];
    this.holding = false; // the Child SA's routes replace the hold routes once it is up
    return [{ type: 'note', level: 'info', message: 'hold: traffic for the tunnel, initiating' }, ...this.initiate(now)];
  }

  /** Start a new IKE SA from scratch, ending whatever is left of the previous attempt. */
  initiate(now: number): ConnectionEffect[] {
    if (this.stopped || !this.cfg.initiator) return [];
    const out: ConnectionEffect[] = [];
    this.reauthenticating = false;
    for (const sa of this.host.list()) if (sa.state === 'ESTABLISHED' || sa.state === 'CONNECTING') out.push(...sa.delete(now));
    this.attempts++;
    out.push({ type: 'note', level: 'info', message: `initiating IKE SA to ${formatEndpoint(this.cfg.remote!)} (attempt ${this.attempts})` });
    out.push(...this.host.initiate(now, this.host.ikeConfig()));
    return out;
  }

  /**
   * An IKE event of one of this connection's SAs, as the daemon applies it. What follows from
   * it waits until the whole batch is applied (`takeDeferred`), so that, say, the old IKE SA
   * is deleted only after the new one's Child SA is installed.
   */
  onEvent(now: number, e: IkeEvent): void {
    // anyone can cause a failure of an SA whose peer never authenticated: no retry, no aborted reauthentication
    if (this.stopped || (e.type === 'failure' && e.unauthenticated)) return;
    const initiator = this.cfg.initiator;
    const deadPeer = e.type === 'failure' && e.row === 'F1' && 'dpdAction' in e.evidence; // ours, below: dpdAction decides
    // F1 "no answer yet" (retransmits go on) and F8 (the SAs followed the peer) end nothing
    const ongoing = e.type === 'failure' && (e.row === 'F8' || (e.row === 'F1' && 'pending' in e.evidence));
    if (ongoing) {
      // reported as it is; nothing to retry
    } else if (e.type === 'peer-moved' && e.via !== 'mobike') {
      // (a MOBIKE move, RFC 4555 §3.5, is the peer's own doing and no failure)
      const f = this.natMoveFailure(e);
      this.defer(() => [f]);
    } else if (e.type === 'liveness') {
      this.unanswered = e.ok || e.requests === undefined || !e.to ? undefined : { requests: e.requests, to: e.to };
    } else if (e.type === 'reauth-due') {
      this.defer((t) => this.reauth(t));
    } else if (deadPeer) {
      // reported above all else; what follows is dpdAction's (ike-deleted dead-peer)
    } else if (e.type === 'failure' && e.row !== 'F6' && this.reauthenticating) {
      // the new IKE SA failed; the old one is still up and keeps the traffic until it expires
      this.reauthenticating = false;
      this.retry = { at: now + RETRY_MS, what: 'reauth' };
      this.defer(() => [{ type: 'note', level: 'warn', message: `reauthentication failed (${e.row}): the current IKE SA stays in use; trying again in ${RETRY_MS / 1000} s` }]);
    } else if (e.type === 'failure' && e.row === 'F6' && e.evidence.scope === 'child' && e.evidence.result === 'expired' && initiator) {
      // the Child SA is gone and no rekey could replace it: start over with a new IKE SA (after its Delete)
      this.retry = { at: now + CHILD_EXPIRED_RESTART_MS, what: 'initiate' };
      this.defer(() => [{ type: 'note', level: 'warn', message: `Child SA ${e.evidence.child ?? ''} expired without a rekey: starting over with a new IKE SA in ${CHILD_EXPIRED_RESTART_MS / 1000} s` }]);
    } else if (e.type === 'failure' && e.row !== 'F6' && initiator) {
      // F1-F4: the negotiation failed, try again later. F6 (rekey) leaves the SA running until it expires.
      this.retry = { at: now + RETRY_MS, what: 'initiate' };
      this.defer(() => [{ type: 'note', level: 'info', message: `retrying in ${RETRY_MS / 1000} s` }]);
    } else if (e.type === 'ike-established') {
      this.attempts = 0;
      this.retry = undefined;
      if (e.nat.local && this.cfg.keepaliveS <= 0) this.defer(() => [{ type: 'note', level: 'warn', message: 'F8: we are behind a NAT and NAT-T keepalives are off (keepalive 0): when the NAT forgets the mapping, traffic from the peer is lost silently until DPD or a rekey; set keepalive (e.g. 20 s) below the NAT\'s UDP timeout' }]);
      const spiI = e.spiI;
      if (e.initialContact) this.defer((t) => this.retireForgotten(t, spiI));
      if (this.reauthenticating) this.defer((t) => this.retireReauthenticated(t, spiI));
    } else if (e.type === 'ike-deleted' && e.reason === 'expired' && initiator) {
      this.defer((t) => [{ type: 'note', level: 'info', message: 'IKE SA expired without a rekey: initiating a new one' }, ...this.initiate(t)]);
    } else if (e.type === 'ike-deleted' && e.reason === 'dead-peer') {
      const action = this.cfg.dpdAction;
      const failure = this.deadPeerFailure(now);
      this.defer((t) => [
        ...(failure ? [failure] : []),
        { type: 'note', level: 'warn', message: `dead peer: dpdAction ${action}` },
        ...(action === 'restart' && initiator ? this.initiate(t) : []),
        ...(action === 'hold' && initiator ? this.armHold() : []),
      ]);
    }
  }

  /**
   * Our outer address moved and the IKE SA cannot follow (no MOBIKE with this peer, RFC 4555
   * §3.2): reauthenticate at once, make-before-break, from the new address (the daemon has
   * rebound its sockets and `ikeConfig` gives the new address); the old IKE SA goes once the new one is up.
   */
  addressMoved(now: number): ConnectionEffect[] {
    return this.reauth(now);
  }

  /** What the events of the last batch led to; call after applying each batch until it is empty. */
  takeDeferred(now: number): ConnectionEffect[] {
    const d = this.deferred;
    this.deferred = [];
    return this.stopped ? [] : d.flatMap((f) => f(now));
  }

  /** The next retry, liveness check or keepalive (ms on the caller's clock). */
  pollTimeout(now: number): number | undefined {
    const t: number[] = [];
    if (this.retry) t.push(this.retry.at);
    const up = this.established();
    if (this.cfg.keepaliveS > 0 && up.some((sa) => sa.nat?.local)) {
      this.nextKeepalive ??= now + this.cfg.keepaliveS * 1000;
      t.push(this.nextKeepalive);
    } else this.nextKeepalive = undefined;
    // a liveness check is due dpdS after the peer was last heard, for SAs not checked since (one per idle period)
    if (this.cfg.dpdS > 0 && up.some((sa) => !this.checkedSinceHeard(sa))) t.push(this.lastInbound + this.cfg.dpdS * 1000);
    return t.length ? Math.min(...t) : undefined;
  }

  handleTimeout(now: number): ConnectionEffect[] {
    if (this.stopped) return [];
    const out: ConnectionEffect[] = [];
    const up = this.established();
    this.keepalives(now, up, out);
    this.dpd(now, up, out);
    if (this.retry && this.retry.at <= now) {
      const r = this.retry;
      this.retry = undefined;
      out.push(...(r.what === 'reauth' ? this.reauth(now) : this.initiate(now)));
    }
    return out;
  }

  /** Failure map F1 for a peer that answered none of our liveness checks (RFC 7296 §2.4), with when it was last heard. */
  private deadPeerFailure(now: number): Effect | undefined {
    const u = this.unanswered;
    this.unanswered = undefined;
    if (!u) return undefined;
    const peer = formatEndpoint(u.to);
    const lastPacketAgoS = Math.round((now - this.lastInbound) / 1000);
    const dpdAction = this.cfg.dpdAction;
    const message = `peer ${peer} declared dead: ${u.requests} DPD requests unanswered, last packet from it ${lastPacketAgoS} s ago (dpdAction ${dpdAction})`;
    return event({ type: 'failure', row: 'F1', message, evidence: { dpdRequestsUnanswered: u.requests, peer, lastPacketAgoS, dpdAction } });
  }

  /** Failure map F8: the peer's NAT mapping changed; the SAs follow it (RFC 7296 §2.23). */
  private natMoveFailure(e: Extract<IkeEvent, { type: 'peer-moved' }>): Effect {
    const from = formatEndpoint(e.from);
    const to = formatEndpoint(e.to);
    const k = this.cfg.keepaliveS;
    const keepalive = { intervalS: k, state: k <= 0 ? 'off' : e.nat.local ? 'on' : 'not-needed' } as const;
    const by = e.via === 'esp' ? 'authenticated ESP' : 'an authenticated IKE message';
    const message = `the NAT in front of the peer changed its mapping: ${by} came from ${to} (was ${from}); IKE and ESP now go there`;
    return event({ type: 'failure', row: 'F8', message, evidence: { peer: { from, to }, noticedBy: e.via, nat: { ...e.nat }, keepalive } });
  }

  private checkedSinceHeard(sa: ConnectionSa): boolean {
    const sent = this.dpdSent.get(sa);
    return sent !== undefined && sent >= this.lastInbound;
  }

  private established(): ConnectionSa[] {
    return this.host.list().filter((sa) => sa.state === 'ESTABLISHED');
  }

  private defer(f: (now: number) => ConnectionEffect[]): void {
    this.deferred.push(f);
  }

  private hold(armed: boolean): ConnectionEffect {
    this.holding = armed;
    return { type: 'hold', armed };
  }

  private armHold(): ConnectionEffect[] {
    return this.holding || this.stopped ? [] : [this.hold(true)];
  }

  /**
   * reauth_time has come: a new IKE SA is authenticated afresh, with its Child SA, while the
   * old one carries the traffic; once it is up the old IKE SA is deleted (strongSwan's
   * make_before_break). No INITIAL_CONTACT: the peer must keep the old SAs until our Delete.
   */
  private reauth(now: number): ConnectionEffect[] {
    if (this.stopped || this.reauthenticating) return [];
    const old = this.established()[0];
    if (!old) return [];
    const remote = this.cfg.remote;
    if (!remote) return [{ type: 'note', level: 'warn', message: 'reauthentication needs remote.addr (not %any): keeping the current IKE SA' }];
    this.reauthenticating = true;
    return [
      { type: 'note', level: 'info', message: `reauthenticating: a new IKE SA to ${formatEndpoint(remote)} replaces ${spiHex(old.spiI)}_i once it is up` },
      ...this.host.initiate(now, { ...this.host.ikeConfig(), remote: { ...remote }, initialContact: false }),
    ];
  }

  /** Our reauthenticated IKE SA is up: delete the IKE SAs it replaces (their Child SAs go with them). */
  private retireReauthenticated(now: number, spiI: string): ConnectionEffect[] {
    const sas = this.host.list();
    const fresh = sas.find((sa) => spiHex(sa.spiI) === spiI);
    if (!fresh || fresh.role !== 'initiator' || !this.reauthenticating) return [];
    this.reauthenticating = false;
    this.reauths++;
    const out: ConnectionEffect[] = [];
    for (const sa of sas) {
      if (sa === fresh || sa.state !== 'ESTABLISHED') continue;
      out.push({ type: 'note', level: 'info', message: `reauthenticated: deleting the old IKE SA ${spiHex(sa.spiI)}_i` }, ...sa.delete(now));
    }
    return out;
  }

  /**
   * The peer set up a new IKE SA with us as responder and said it has no other SAs with us
   * (RFC 7296 §2.4 INITIAL_CONTACT): it restarted and forgot the old one. Remove the old one
   * without a Delete. Without INITIAL_CONTACT the old SA stays (the peer may be reauthenticating,
   * and deletes it itself); SAs we initiated are left alone.
   */
  private retireForgotten(_now: number, spiI: string): ConnectionEffect[] {
    const sas = this.host.list();
    const fresh = sas.find((sa) => spiHex(sa.spiI) === spiI);
    if (!fresh || fresh.role !== 'responder') return [];
    const out: ConnectionEffect[] = [];
    for (const sa of sas) {
      if (sa === fresh || sa.role !== 'responder' || sa.state !== 'ESTABLISHED' || sa.remoteId !== fresh.remoteId) continue;
      // the peer has no state for it: a Delete would only be retransmitted
      out.push({ type: 'note', level: 'info', message: `the peer replaced IKE SA ${spiHex(sa.spiI)}_i: deleting it` }, ...sa.forget());
    }
    return out;
  }

  private keepalives(now: number, up: readonly ConnectionSa[], out: ConnectionEffect[]): void {
    if (this.nextKeepalive === undefined || now < this.nextKeepalive) return;
    // RFC 3948 §4: only the side behind the NAT needs to keep the mapping open
    for (const sa of up) {
      if (!sa.nat?.local) continue;
      out.push({ type: 'keepalive', to: sa.remote });
      this.stats.keepalives++;
    }
    this.nextKeepalive = now + this.cfg.keepaliveS * 1000;
  }

  private dpd(now: number, up: readonly ConnectionSa[], out: ConnectionEffect[]): void {
    if (this.cfg.dpdS <= 0 || now - this.lastInbound < this.cfg.dpdS * 1000) return;
    for (const sa of up) {
      if (this.checkedSinceHeard(sa)) continue; // one check per idle period; retransmits do the rest
      this.dpdSent.set(sa, now);
      this.stats.dpdChecks++;
      out.push(...sa.liveness(now)); // RFC 7296 §2.4: the peer must answer an empty INFORMATIONAL
    }
  }
}
