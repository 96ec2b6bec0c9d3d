// When one IKE SA of the tunnel replaces another that is not a rekey (RFC 7296 §2.18 rekeys
// move their Child SAs inside src/ike): our reauthentication (RFC 7296 §2.8.3), done
// make-before-break as strongSwan's make_before_break, and a peer that restarted and says so
// with INITIAL_CONTACT (RFC 7296 §2.4). The daemon calls in on IKE events.
import type { PeerConfig } from '../config/types.js';
import type { Endpoint, IkeSaConfig } from '../ike/config.js';
import { type Effect } from '../ike/effects.js';
import type { IkeSa } from '../ike/ike-sa.js';
import { formatEndpoint } from '../wire/ip-text.js';
import type { Logger } from './log.js';
import { spiHex } from '../wire/spi.js';

export interface IkeReplacementDeps {
  peer: PeerConfig;
  log: Logger;
  now: () => number;
  /** The tunnel's IKE SAs (the dispatcher's list). */
  list: () => readonly IkeSa[];
  /** Give one IKE SA a command's effects (the daemon applies them and re-arms its timer). */
  command: (sa: IkeSa, fx: Effect[]) => void;
  /** The peer.json's IKE SA configuration towards `remote`. */
  configFor: (remote: Endpoint) => IkeSaConfig;
  /** Start a new IKE SA as initiator with `cfg`. */
  initiate: (cfg: IkeSaConfig) => void;
  stopping: () => boolean;
}

export class IkeReplacement {
  /** IKE SAs replaced by our reauthentication (status `reauths`). */
  reauths = 0;
  /** A reauthentication in progress: the new IKE SA is being set up, the old one still carries traffic. */
  private pending = false;

  constructor(private readonly d: IkeReplacementDeps) {}

  get reauthenticating(): boolean {
    return this.pending;
  }

  /**
   * No reauthentication is in progress any more: the daemon starts from scratch, or the new
   * IKE SA failed (F1-F4) and the old one stays in use until it expires.
   */
  reset(): void {
    this.pending = false;
  }

  /**
   * reauth_time has come: a new IKE SA is authenticated afresh, with its Child SA, while the
   * old one carries the traffic; once it is up (established) the old IKE SA is deleted. No
   * INITIAL_CONTACT: the peer must keep the old SAs until our Delete.
   */
  reauth(): void {
    if (this.d.stopping() || this.pending) return;
    const old = this.d.list().find((sa) => sa.state === 'ESTABLISHED');
    if (!old) return;
    const p = this.d.peer;
    if (p.remote.addr === '%any') {
      this.d.log.warn('ike', 'reauthentication needs remote.addr (not %any): keeping the current IKE SA');
      return;
    }
    const remote = { addr: p.remote.addr, port: p.remote.port };
    this.pending = true;
    this.d.log.info('ike', `reauthenticating: a new IKE SA to ${formatEndpoint(remote)} replaces ${spiHex(old.spiI)}_i once it is up`);
    this.d.initiate({ ...this.d.configFor(remote), initialContact: false });
  }

  /** An IKE SA is up: retire what it replaces, once the effects of this batch are applied. */
  established(spiI: string, initialContact: boolean): void {
    if (initialContact) setImmediate(() => this.retireForgotten(spiI));
    if (this.pending) setImmediate(() => this.retireReauthenticated(spiI));
  }

  /** Our reauthenticated IKE SA is up: delete the IKE SAs it replaces (their Child SAs go with them). */
  private retireReauthenticated(spiI: string): void {
    const sas = this.d.list();
    const fresh = sas.find((sa) => spiHex(sa.spiI) === spiI);
    if (!fresh || fresh.role !== 'initiator' || !this.pending || this.d.stopping()) return;
    this.pending = false;
    this.reauths++;
    const now = this.d.now();
    for (const sa of sas) {
      if (sa === fresh || sa.state !== 'ESTABLISHED') continue;
      this.d.log.info('ike', `reauthenticated: deleting the old IKE SA ${spiHex(sa.spiI)}_i`);
      this.d.command(sa, sa.delete(now));
    }
  }

  /**
   * The peer set up a new IKE SA with us as responder and said it has no other SAs with us
   * (RFC 7296 §2.4 INITIAL_CONTACT): it restarted and forgot the old one. Remove the old one
   * without a Delete. Without INITIAL_CONTACT the old SA stays (the peer may be reauthenticating,
   * and deletes it itself); SAs we initiated are left alone.
   */
  private retireForgotten(spiI: string): void {
    const sas = this.d.list();
    const fresh = sas.find((sa) => spiHex(sa.spiI) === spiI);
    if (!fresh || fresh.role !== 'responder' || this.d.stopping()) return;
    for (const sa of sas) {
      if (sa === fresh || sa.role !== 'responder' || sa.state !== 'ESTABLISHED' || sa.remoteId !== fresh.remoteId) continue;
      this.d.log.info('ike', `the peer replaced IKE SA ${spiHex(sa.spiI)}_i: deleting it`);
      this.d.command(sa, sa.forget()); // the peer has no state for it: a Delete would only be retransmitted
    }
  }
}
