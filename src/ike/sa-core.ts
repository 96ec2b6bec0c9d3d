// The exchange machinery every IKE SA shares (DESIGN.md "No I/O in the protocol"): Message IDs,
// retransmission and the response cache (RFC 7296 §2.1-§2.3), IKE_SA_INIT, IKE_AUTH and
// INFORMATIONAL, states and events. IkeSa (ike-sa.ts) adds the commands and rekeying on top.
import { ExchangeType, NotifyType, nameOf, NAT_T_PORT } from '../wire/constants.js';
import { decodeMessage } from '../wire/message.js';
import { checkPayloadRules } from '../wire/rules.js';
import type { IkeMessage, Payload } from '../wire/types.js';
import { DEFAULT_HALF_OPEN_TIMEOUT_S, type Endpoint, type IkeSaConfig } from './config.js';
import { event, type Effect, type IkeState } from './effects.js';
import { buildPlain, buildProtected, openProtected } from './protect.js';
import { RequestWindow, ResponseCache, equalBytes } from './retransmit.js';
import { disposeKeys, header, newStats, randomIkeSpi, type SaContext } from './sa-context.js';
import { buildInitRequest, processInitRequest, processInitResponse } from './tasks/ike-init.js';
import { buildAuthRequest, processAuthRequest, processAuthResponse } from './tasks/ike-auth.js';
import { deleteChildPayloads, deleteIkePayloads, processInformationalRequest, removeAllChildren, removeChild } from './tasks/informational.js';
import { notify } from './payloads.js';
import { classifyError } from './errors.js';
import type { Lifetime } from './lifetimes.js';
import { findChild, rekeyEvidence } from './tasks/child-rekey.js';
import { ikeEvidence, type NewIkeSa } from './tasks/ike-rekey.js';
import { formatEndpoint } from '../wire/ip-text.js';
import { spiHex } from '../wire/spi.js';

export type Exchange = 'init' | 'auth' | 'delete-ike' | 'delete-child' | 'liveness' | 'auth-failed' | 'rekey-child' | 'rekey-ike';
/** `payloads` runs when the request is sent; undefined means it is no longer needed (skipped). */
export interface Queued { kind: Exchange; exchange: number; payloads: () => Payload[] | undefined; spi?: number }
export interface Path { from: Endpoint; to: Endpoint }

export abstract class SaCore {
  readonly stats = newStats();
  protected readonly ctx: SaContext;
  protected st: IkeState = 'CREATED';
  protected readonly requests: RequestWindow;
  protected readonly responses = new ResponseCache();
  protected inFlight: Queued | undefined;
  protected queue: Queued[] = [];
  protected halfOpenDeadline: number | undefined;
  /** Why the last dropped datagram was dropped (typed errors' messages never carry key material). */
  lastDropped: string | undefined;
  protected ikeLife: Lifetime | undefined;
  protected lingerDeadline: number | undefined;
  protected replacedBy: SaCore | undefined; // the IKE SA a rekey made (ike-sa.ts)

  protected constructor(cfg: IkeSaConfig, role: 'initiator' | 'responder', local: Endpoint, remote: Endpoint, rekeyed?: NewIkeSa) {
    this.requests = new RequestWindow(cfg.retransmit);
    const spi = rekeyed ? (role === 'initiator' ? rekeyed.spiI : rekeyed.spiR) : randomIkeSpi(cfg.random);
    this.ctx = {
      cfg, role, local: { ...local }, remote: { ...remote }, children: [], cookieRetries: 0, invalidKeRetries: 0, peerCertReq: false, now: 0,
      spiI: rekeyed ? rekeyed.spiI : role === 'initiator' ? spi : new Uint8Array(8),
      spiR: rekeyed ? rekeyed.spiR : role === 'responder' ? spi : new Uint8Array(8),
    };
  }

  /**
   * A request of ours is in flight whose response installs a Child SA (IKE_SA_INIT leading to
   * IKE_AUTH, RFC 7296 §1.2; a CREATE_CHILD_SA rekey, §1.3.3): the peer may already send on it.
   */
  get awaitingChildSa(): boolean {
    const k = this.inFlight?.kind;
    return k === 'init' || k === 'auth' || k === 'rekey-child';
  }

  // ---- commands ------------------------------------------------------------------------

  /** Start IKE_SA_INIT as initiator (RFC 7296 §1.2). */
  initiate(now: number): Effect[] {
    const out: Effect[] = [];
    if (this.ctx.role !== 'initiator' || this.st !== 'CREATED') return out;
    this.setState('CONNECTING', out);
    this.request(now, { kind: 'init', exchange: ExchangeType.IKE_SA_INIT, payloads: () => buildInitRequest(this.ctx) }, out);
    return out;
  }

  /** Delete the IKE SA and its Child SAs (RFC 7296 §1.4.1). */
  delete(now: number): Effect[] {
    const out: Effect[] = [];
    if (this.st === 'ESTABLISHED') {
      this.setState('DELETING', out);
      this.queue = [];
      this.request(now, { kind: 'delete-ike', exchange: ExchangeType.INFORMATIONAL, payloads: deleteIkePayloads }, out);
    } else if (this.st === 'CREATED' || this.st === 'CONNECTING') {
      this.finish('DELETED', 'local', out);
    } else if (this.st === 'REKEYED') {
      this.finish('DELETED', 'rekeyed', out); // its Child SAs already moved to the successor (RFC 7296 §2.18)
    }
    return out;
  }

  /**
   * The peer restarted and forgot this SA (RFC 7296 §2.4 INITIAL_CONTACT): remove it and its
   * Child SAs at once, without a Delete exchange that nobody would answer.
   */
  forget(): Effect[] {
    const out: Effect[] = [];
    if (this.st === 'ESTABLISHED' || this.st === 'DELETING' || this.st === 'REKEYED') this.finish('DELETED', 'peer', out);
    return out;
  }

  /** Delete one Child SA, named by either of its SPIs (RFC 7296 §1.4.1). */
  deleteChild(now: number, spi: number): Effect[] {
    const out: Effect[] = [];
    const c = this.ctx.children.find((x) => (x.spiIn === spi || x.spiOut === spi) && x.state === 'INSTALLED');
    if (this.st !== 'ESTABLISHED' || !c) return out;
    c.state = 'DELETING';
    this.request(now, { kind: 'delete-child', exchange: ExchangeType.INFORMATIONAL, payloads: () => deleteChildPayloads([c.spiIn]), spi: c.spiIn }, out);
    return out;
  }

  /** An empty INFORMATIONAL request: the peer must answer (RFC 7296 §2.4). */
  liveness(now: number): Effect[] {
    const out: Effect[] = [];
    if (this.st === 'ESTABLISHED') this.request(now, { kind: 'liveness', exchange: ExchangeType.INFORMATIONAL, payloads: () => [] }, out);
    return out;
  }

  // ---- timers ----------------------------------------------------------------------------

  /** The next retransmit, half-open or linger deadline (IkeSa adds the SA lifetimes). */
  pollTimeout(): number | undefined {
    const due = [this.requests.pollTimeout(), this.halfOpenDeadline, this.lingerDeadline].filter((x): x is number => x !== undefined);
    return due.length ? Math.min(...due) : undefined;
  }

  handleTimeout(now: number): Effect[] {
    const out: Effect[] = [];
    this.ctx.now = now;
    if (this.lingerDeadline !== undefined && now >= this.lingerDeadline) {
      this.lingerDeadline = undefined;
      if (this.st === 'REKEYED') this.finish('DELETED', 'rekeyed', out);
    }
    if (this.halfOpenDeadline !== undefined && now >= this.halfOpenDeadline) {
      this.halfOpenDeadline = undefined;
      if (this.st === 'CONNECTING') this.finish('DELETED', 'half-open-timeout', out);
    }
    const t = this.requests.onTimeout(now);
    if (t.action === 'retransmit') {
      this.stats.retransmitsSent++;
      out.push({ type: 'send', bytes: t.request.bytes, to: t.request.to, from: t.request.from });
      out.push(event({ type: 'retransmit', exchange: nameOf(ExchangeType, t.request.exchange), messageId: t.request.messageId, attempt: t.request.retransmits, to: t.request.to }));
    } else if (t.action === 'give-up') {
      const r = t.request;
      this.requests.clear();
      if (this.inFlight?.kind === 'init') {
        // failure map F1: IKE_SA_INIT never answered
        out.push(event({ type: 'failure', row: 'F1', message: `no response to IKE_SA_INIT from ${formatEndpoint(r.to)} after ${r.retransmits} retransmits`, evidence: { retransmits: r.retransmits, to: r.to, from: r.from, exchange: 'IKE_SA_INIT' } }));
        this.finish('FAILED', 'failed', out);
      } else if (this.inFlight?.kind === 'liveness' || this.inFlight?.kind === 'delete-ike') {
        if (this.inFlight.kind === 'liveness') out.push(event({ type: 'liveness', ok: false }));
        this.finish('DELETED', this.inFlight.kind === 'liveness' ? 'dead-peer' : this.replacedBy ? 'rekeyed' : 'local', out);
      } else {
        if (this.inFlight?.kind === 'rekey-child' || this.inFlight?.kind === 'rekey-ike') {
          // failure map F6: the rekey went unanswered, so the SAs it was to replace die with the IKE SA
          const message = `no response to our ${this.inFlight.kind === 'rekey-ike' ? 'IKE SA' : 'Child SA'} rekey after ${r.retransmits} retransmits`;
          const c = this.inFlight.spi === undefined ? undefined : findChild(this.ctx, this.inFlight.spi);
          const evidence = this.inFlight.kind === 'rekey-ike' ? ikeEvidence(this.ctx, { result: 'no-response', group: this.ctx.ikeRekey?.group, expireAt: this.ikeLife?.expireAt }) : rekeyEvidence(this.ctx, c, { result: 'no-response', group: this.ctx.childRekey?.group });
          out.push(event({ type: 'failure', row: 'F6', message, evidence }));
        }
        this.finish('FAILED', 'dead-peer', out); // RFC 7296 §2.4: no answer means the peer is gone
      }
      this.inFlight = undefined;
    }
    this.afterTimeout(now, out);
    return out;
  }

  // ---- datagrams -------------------------------------------------------------------------

  /**
   * One IKE message (without the non-ESP marker). `path` is the datagram's addresses; when
   * absent the SA's current path is assumed. Never throws: bad input is counted in `stats`.
   */
  handleDatagram(now: number, bytes: Uint8Array, path?: Path): Effect[] {
    const out: Effect[] = [];
    try {
      this.ctx.now = now;
      this.receive(now, bytes, path ?? { from: this.ctx.remote, to: this.ctx.local }, out);
      this.settle(now);
      return out;
    } catch (e) {
      this.stats[classifyError(e)]++;
      this.lastDropped = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      return [];
    }
  }

  /** Zero all key material (SK_d, SK_p*, SK ciphers, DH private key). */
  dispose(): void {
    disposeKeys(this.ctx);
  }

  // ---- internals -------------------------------------------------------------------------

  protected receive(now: number, bytes: Uint8Array, path: Path, out: Effect[]): void {
    const msg = decodeMessage(bytes);
    const h = msg.header;
    const fromInitiator = h.flags.initiator;
    if (fromInitiator === (this.ctx.role === 'initiator')) { this.stats.malformed++; return; } // RFC 7296 §3.1 I flag
    const adopt = this.ctx.role === 'responder' && this.st === 'CREATED' && h.exchangeType === ExchangeType.IKE_SA_INIT && !h.flags.response;
    if (adopt) this.ctx.spiI = h.spiI.slice(); // a new responder SA takes the initiator's SPI from its first request
    if (!equalBytes(h.spiI, this.ctx.spiI)) { this.stats.unknownSpi++; return; }
    if (h.flags.response) return this.receiveResponse(now, msg, bytes, out);
    const initRequest = h.exchangeType === ExchangeType.IKE_SA_INIT && h.spiR.every((b) => b === 0);
    if (!initRequest && !equalBytes(h.spiR, this.ctx.spiR)) { this.stats.unknownSpi++; return; }
    const cls = this.responses.classify(h.messageId, bytes);
    if (cls === 'retransmit') {
      // RFC 7296 §2.1: answer a retransmitted request with the same response, change nothing
      this.stats.retransmitsReceived++;
      for (const r of this.responses.cached()) out.push({ type: 'send', bytes: r, to: { ...this.ctx.remote }, from: { ...this.ctx.local } });
      return;
    }
    if (cls !== 'new') { this.stats.invalidMessageId++; return; }
    this.receiveRequest(now, msg, bytes, path, out);
  }

  /** Rules check, then the payloads a task sees (decrypted for everything after IKE_SA_INIT). */
  protected payloadsOf(msg: IkeMessage): Payload[] | undefined {
    const ex = msg.header.exchangeType;
    let inner: Payload[] | null = null;
    if (ex !== ExchangeType.IKE_SA_INIT) {
      if (!this.ctx.keys) { this.stats.unprotected++; return undefined; }
      const opened = openProtected(msg, this.ctx.keys.in);
      if (!opened.ok) { this.stats.unprotected++; return undefined; }
      inner = opened.inner;
    }
    const rules = checkPayloadRules(ex, msg.header.flags.response, msg.payloads, inner);
    if (!rules.ok) { this.stats.malformed++; return undefined; }
    return inner ?? msg.payloads;
  }

  protected receiveRequest(now: number, msg: IkeMessage, bytes: Uint8Array, path: Path, out: Effect[]): void {
    const ex = msg.header.exchangeType;
    const id = msg.header.messageId;
    const responder = this.ctx.role === 'responder';
    if (ex === ExchangeType.IKE_SA_INIT) {
      if (!responder || this.st !== 'CREATED' || id !== 0) { this.stats.invalidMessageId++; return; }
      const p = this.payloadsOf(msg);
      if (!p) return;
      const r = processInitRequest(this.ctx, msg, bytes, path.from, path.to, out);
      if (r.result === 'ignored') { this.stats.malformed++; return; }
      const resp = buildPlain(header(this.ctx, ex, id, true), r.response);
      if (r.result === 'ok') this.ctx.initResponse = resp;
      this.respond(id, bytes, [resp], out);
      if (r.result === 'ok') {
        this.setState('CONNECTING', out);
        this.halfOpenDeadline = now + DEFAULT_HALF_OPEN_TIMEOUT_S * 1000;
      } else this.finish('FAILED', 'failed', out);
      return;
    }
    if (this.st === 'CREATED' || this.st === 'FAILED' || this.st === 'DELETED') { this.stats.invalidMessageId++; return; }
    if (ex === ExchangeType.IKE_AUTH && !(responder && this.st === 'CONNECTING' && id === 1)) { this.stats.invalidMessageId++; return; }
    const p = this.payloadsOf(msg);
    if (!p) return;
    if (ex === ExchangeType.IKE_AUTH) {
      // RFC 7296 §2.23: the initiator may have floated to port 4500; answer where it came from
      this.ctx.remote = { ...path.from };
      this.ctx.local = { ...path.to };
      const mark = out.length;
      const r = processAuthRequest(this.ctx, p, out);
      this.respond(id, bytes, [this.protect(ex, id, true, r.response)], out);
      this.halfOpenDeadline = undefined;
      if (r.result === 'ok') this.established(out, mark);
      else this.finish('FAILED', 'failed', out);
      return;
    }
    if (ex === ExchangeType.INFORMATIONAL) {
      const r = processInformationalRequest(this.ctx, p, out);
      this.respond(id, bytes, [this.protect(ex, id, true, r.response)], out);
      if (r.authFailed) {
        out.push(event({ type: 'failure', row: 'F3', message: 'the initiator rejected our authentication (AUTHENTICATION_FAILED)', evidence: { check: 'peer-rejected', notify: 'AUTHENTICATION_FAILED' } }));
        this.finish('FAILED', 'failed', out);
      } else if (r.deleteIke) this.peerDeletedIke(out);
      return;
    }
    this.createChildRequest(now, p, id, bytes, out);
  }

  protected receiveResponse(now: number, msg: IkeMessage, bytes: Uint8Array, out: Effect[]): void {
    const h = msg.header;
    const q = this.inFlight;
    if (!q || !this.requests.matches(h.messageId) || this.requests.outstanding!.exchange !== h.exchangeType) { this.stats.invalidMessageId++; return; }
    if (h.exchangeType !== ExchangeType.IKE_SA_INIT && !equalBytes(h.spiR, this.ctx.spiR)) { this.stats.unknownSpi++; return; }
    const p = this.payloadsOf(msg);
    if (!p) return;
    if (q.kind === 'init') {
      const r = processInitResponse(this.ctx, msg, bytes, out);
      if (r === 'ignored') { this.stats.malformed++; return; }
      if (r === 'failed') { this.requests.clear(); this.inFlight = undefined; return this.finish('FAILED', 'failed', out); }
      if (r === 'retry') {
        this.ctx.initRequest = buildPlain(header(this.ctx, ExchangeType.IKE_SA_INIT, 0, false), buildInitRequest(this.ctx));
        this.requests.replace(now, this.ctx.initRequest);
        const o = this.requests.outstanding!;
        out.push({ type: 'send', bytes: o.bytes, to: o.to, from: o.from });
        return;
      }
      this.complete();
      // RFC 7296 §2.23: with a NAT in the path, continue on port 4500
      if (this.ctx.nat && (this.ctx.nat.local || this.ctx.nat.remote)) {
        this.ctx.local = { ...this.ctx.local, port: NAT_T_PORT };
        this.ctx.remote = { ...this.ctx.remote, port: NAT_T_PORT };
      }
      this.request(now, { kind: 'auth', exchange: ExchangeType.IKE_AUTH, payloads: () => buildAuthRequest(this.ctx) }, out);
      return;
    }
    this.complete();
    if (q.kind === 'auth') {
      const mark = out.length;
      const r = processAuthResponse(this.ctx, p, out);
      if (r === 'established') this.established(out, mark);
      else if (r === 'rejected-by-us') {
        // RFC 7296 §2.21.2: tell the responder in an INFORMATIONAL, then give up
        this.request(now, { kind: 'auth-failed', exchange: ExchangeType.INFORMATIONAL, payloads: () => [notify(NotifyType.AUTHENTICATION_FAILED)] }, out);
        this.requests.clear();
        this.inFlight = undefined;
        this.finish('FAILED', 'failed', out);
      } else this.finish('FAILED', 'failed', out);
    } else if (q.kind === 'delete-ike') {
      this.finish('DELETED', this.replacedBy ? 'rekeyed' : 'local', out);
    } else if (q.kind === 'delete-child') {
      const c = this.ctx.children.find((x) => x.spiIn === q.spi);
      if (c) removeChild(this.ctx, c, c.redundant ? 'redundant' : c.replacedBy !== undefined ? 'rekeyed' : 'local', out);
    } else if (q.kind === 'liveness') {
      out.push(event({ type: 'liveness', ok: true }));
    } else if (q.kind === 'rekey-child') {
      this.childRekeyResponse(now, p, out);
    } else if (q.kind === 'rekey-ike') {
      this.ikeRekeyResponse(now, p, out);
    }
    if (this.st === 'ESTABLISHED' || this.st === 'DELETING' || this.st === 'REKEYED') this.pump(now, out);
  }

  protected protect(ex: number, id: number, response: boolean, payloads: Payload[]): Uint8Array {
    return buildProtected(header(this.ctx, ex, id, response), payloads, this.ctx.keys!.out, this.ctx.cfg.random);
  }

  protected respond(id: number, request: Uint8Array, responses: Uint8Array[], out: Effect[]): void {
    this.responses.store(id, request, responses);
    for (const r of responses) out.push({ type: 'send', bytes: r, to: { ...this.ctx.remote }, from: { ...this.ctx.local } });
  }

  /** Send a request now if the window is free (RFC 7296 §2.3, window 1), else queue it. */
  protected request(now: number, q: Queued, out: Effect[]): void {
    if (this.inFlight) { this.queue.push(q); return; }
    const id = this.requests.nextMessageId;
    const payloads = q.payloads();
    if (!payloads) {
      if (q.kind === 'rekey-child' && q.spi !== undefined) {
        const c = findChild(this.ctx, q.spi);
        if (c) c.rekeying = false;
      }
      return this.pump(now, out); // no longer needed (the SA it was for is gone or replaced)
    }
    const bytes = q.exchange === ExchangeType.IKE_SA_INIT
      ? buildPlain(header(this.ctx, q.exchange, id, false), payloads)
      : this.protect(q.exchange, id, false, payloads);
    if (q.kind === 'init') this.ctx.initRequest = bytes;
    this.inFlight = q;
    this.requests.sent(now, q.exchange, bytes, { ...this.ctx.remote }, { ...this.ctx.local }, id);
    out.push({ type: 'send', bytes, to: { ...this.ctx.remote }, from: { ...this.ctx.local } });
  }

  protected complete(): void {
    this.requests.completed();
    this.inFlight = undefined;
  }

  protected pump(now: number, out: Effect[]): void {
    const next = this.queue.shift();
    if (next) this.request(now, next, out);
  }

  protected established(out: Effect[], mark: number): void {
    const c = this.ctx;
    const e: Effect[] = [];
    this.setState('ESTABLISHED', e);
    e.push(event({ type: 'ike-established', spiI: spiHex(c.spiI), spiR: spiHex(c.spiR), proposal: c.chosenText ?? '', localId: c.cfg.localId, remoteId: c.remoteIdText ?? '', nat: c.nat ?? { local: false, remote: false }, initialContact: !!c.peerInitialContact }));
    out.splice(mark, 0, ...e); // state events before the Child SA's
  }

  protected setState(to: IkeState, out: Effect[]): void {
    if (to === this.st) return;
    out.push(event({ type: 'ike-state', from: this.st, to }));
    this.st = to;
  }

  /** End the SA: remove Child SAs, zero keys (the response cache holds only bytes already sent). */
  protected finish(to: 'DELETED' | 'FAILED', reason: 'local' | 'peer' | 'dead-peer' | 'half-open-timeout' | 'failed' | 'rekeyed' | 'expired', out: Effect[]): void {
    removeAllChildren(this.ctx, 'ike-deleted', out);
    this.queue = [];
    this.halfOpenDeadline = undefined;
    this.lingerDeadline = undefined;
    this.ikeLife = undefined;
    this.requests.clear(); // an SA that is over sends nothing more
    this.inFlight = undefined;
    if (to === 'DELETED' || this.st !== 'CREATED') out.push(event({ type: 'ike-deleted', reason }));
    this.setState(to, out);
    disposeKeys(this.ctx);
  }

  // ---- rekeying (ike-sa.ts) --------------------------------------------------------------

  /** Plan lifetimes of SAs that have none yet (after every message is built). */
  protected abstract settle(now: number): void;
  /** Soft and hard lifetimes, after the retransmission timers. */
  protected abstract afterTimeout(now: number, out: Effect[]): void;
  /** A CREATE_CHILD_SA request (RFC 7296 §1.3). */
  protected abstract createChildRequest(now: number, p: Payload[], id: number, bytes: Uint8Array, out: Effect[]): void;
  /** The peer deleted this IKE SA (RFC 7296 §1.4.1), possibly the end of a rekey (§2.18). */
  protected abstract peerDeletedIke(out: Effect[]): void;
  protected abstract childRekeyResponse(now: number, p: Payload[], out: Effect[]): void;
  protected abstract ikeRekeyResponse(now: number, p: Payload[], out: Effect[]): void;
}
