// One IKE SA, either role, as an I/O-free state machine (DESIGN.md "No I/O in the protocol"):
// datagrams, timeouts and commands go in, effects come out. Exchanges are tasks (tasks/);
// this file owns Message IDs, retransmission, the response cache, states and events.
import { ExchangeType, NotifyType, nameOf } from '../wire/constants.js';
import { decodeMessage } from '../wire/message.js';
import { checkPayloadRules } from '../wire/rules.js';
import type { IkeMessage, Payload } from '../wire/types.js';
import { DEFAULT_HALF_OPEN_TIMEOUT_S, type Endpoint, type IkeSaConfig } from './config.js';
import { event, spiHex, type Effect, type IkeState } from './effects.js';
import { buildPlain, buildProtected, openProtected } from './protect.js';
import { RequestWindow, ResponseCache, equalBytes } from './retransmit.js';
import { compareNonces, disposeKeys, disposeSaKeys, header, lowerNonce, newStats, randomIkeSpi, type ChildSa, type SaContext } from './sa-context.js';
import { buildInitRequest, processInitRequest, processInitResponse } from './tasks/ike-init.js';
import { buildAuthRequest, processAuthRequest, processAuthResponse } from './tasks/ike-auth.js';
import { deleteChildPayloads, deleteIkePayloads, processInformationalRequest, removeAllChildren, removeChild } from './tasks/informational.js';
import { findNotify, first, notify } from './payloads.js';
import { classifyError } from './errors.js';
import { formatProposal } from '../crypto/proposal.js';
import { DEFAULT_CHILD_REKEY_S, DEFAULT_IKE_REKEY_S, planLifetime, retryAt, usageDue, type ChildUsage, type Lifetime } from './lifetimes.js';
import { buildChildRekeyRequest, configOf, findChild, processChildRekeyRequest, processChildRekeyResponse, rekeyEvidence, switchOutbound } from './tasks/child-rekey.js';
import { buildIkeRekeyRequest, ikeEvidence, processIkeRekeyRequest, processIkeRekeyResponse, type NewIkeSa } from './tasks/ike-rekey.js';
import { ProtocolId } from '../wire/constants.js';

export type { IkeState };
type Exchange = 'init' | 'auth' | 'delete-ike' | 'delete-child' | 'liveness' | 'auth-failed' | 'rekey-child' | 'rekey-ike';
/** `payloads` runs when the request is sent; undefined means it is no longer needed (skipped). */
interface Queued { kind: Exchange; exchange: number; payloads: () => Payload[] | undefined; spi?: number }
export interface Path { from: Endpoint; to: Endpoint }

const NAT_T_PORT = 4500; // RFC 3948 §2.2, RFC 7296 §2.23
// Implementation choice: an old IKE SA whose Child SAs moved waits this long for the peer's Delete
const REKEYED_LINGER_MS = 60_000;

export class IkeSa {
  readonly stats = newStats();
  private readonly ctx: SaContext;
  private st: IkeState = 'CREATED';
  private readonly requests: RequestWindow;
  private readonly responses = new ResponseCache();
  private inFlight: Queued | undefined;
  private queue: Queued[] = [];
  private halfOpenDeadline: number | undefined;
  /** Why the last dropped datagram was dropped (typed errors' messages never carry key material). */
  lastDropped: string | undefined;
  private ikeLife: Lifetime | undefined;
  private ikeRekeyCount = 0;
  private lingerDeadline: number | undefined;
  private successors: IkeSa[] = [];
  private replacedBy: IkeSa | undefined;

  private constructor(cfg: IkeSaConfig, role: 'initiator' | 'responder', local: Endpoint, remote: Endpoint, rekeyed?: NewIkeSa) {
    this.requests = new RequestWindow(cfg.retransmit);
    const spi = rekeyed ? (role === 'initiator' ? rekeyed.spiI : rekeyed.spiR) : randomIkeSpi(cfg.random);
    this.ctx = {
      cfg, role, local: { ...local }, remote: { ...remote }, children: [], cookieRetries: 0, invalidKeRetries: 0, peerCertReq: false, now: 0,
      spiI: rekeyed ? rekeyed.spiI : role === 'initiator' ? spi : new Uint8Array(8),
      spiR: rekeyed ? rekeyed.spiR : role === 'responder' ? spi : new Uint8Array(8),
    };
  }

  /** RFC 7296 §2.18: the IKE SA a rekey made, with the old one's peer and identities, message IDs from 0. */
  private static rekeyedFrom(old: IkeSa, n: NewIkeSa): IkeSa {
    const sa = new IkeSa(old.ctx.cfg, n.role, old.ctx.local, old.ctx.remote, n);
    const o = old.ctx;
    Object.assign(sa.ctx, { keys: n.keys, ni: n.ni, nr: n.nr, chosen: n.chosen, chosenText: formatProposal(n.chosen), nat: o.nat, remoteIdText: o.remoteIdText, peerHashes: o.peerHashes, now: o.now });
    sa.st = 'ESTABLISHED';
    sa.ikeRekeyCount = old.ikeRekeyCount + 1;
    return sa;
  }

  static initiator(cfg: IkeSaConfig): IkeSa {
    return new IkeSa(cfg, 'initiator', cfg.local, cfg.remote);
  }

  /** A responder SA for an IKE_SA_INIT request that arrived on `path` (the dispatcher creates these). */
  static responder(cfg: IkeSaConfig, path: Path): IkeSa {
    return new IkeSa(cfg, 'responder', path.to, path.from);
  }

  get state(): IkeState { return this.st; }
  get role(): 'initiator' | 'responder' { return this.ctx.role; }
  get spiI(): Uint8Array { return this.ctx.spiI; }
  get spiR(): Uint8Array { return this.ctx.spiR; }
  /** Our own SPI (what the dispatcher routes by). */
  get localSpi(): Uint8Array { return this.ctx.role === 'initiator' ? this.ctx.spiI : this.ctx.spiR; }
  get proposal(): string | undefined { return this.ctx.chosenText; }
  get children(): readonly Readonly<ChildSa>[] { return this.ctx.children; }
  get nat(): { local: boolean; remote: boolean } | undefined { return this.ctx.nat; }
  get remoteId(): string | undefined { return this.ctx.remoteIdText; }
  get local(): Endpoint { return { ...this.ctx.local }; }
  get remote(): Endpoint { return { ...this.ctx.remote }; }
  get name(): string { return this.ctx.cfg.name; }
  /** When this IKE SA will be rekeyed / deleted (ms, caller's clock); undefined when not scheduled. */
  get rekeyAt(): number | undefined { return this.ikeLife?.rekeyAt; }
  get expireAt(): number | undefined { return this.ikeLife?.expireAt; }
  /** How many IKE SA rekeys led to this SA. Per Child SA, see `children[i].rekeys/rekeyAt/expireAt`. */
  get rekeys(): number { return this.ikeRekeyCount; }
  /** The IKE SA that replaced this one (RFC 7296 §2.18), once rekeyed. */
  get successor(): IkeSa | undefined { return this.replacedBy; }

  /** IKE SAs a rekey created here since the last call; the dispatcher indexes them by their SPI. */
  takeSuccessors(): IkeSa[] {
    const s = this.successors;
    this.successors = [];
    return s;
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
    }
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

  /**
   * Rekey a Child SA, named by either SPI (RFC 7296 §1.3.3). The lifetimes in ChildConfig call
   * this from handleTimeout; the daemon calls it (or `childUsage`) for byte, packet and
   * sequence-number limits. Ignored for an SA that is not in use or already being rekeyed.
   */
  rekeyChild(now: number, spiIn: number): Effect[] {
    const out: Effect[] = [];
    this.ctx.now = now;
    const c = findChild(this.ctx, spiIn);
    if (this.st !== 'ESTABLISHED' || !c || c.state !== 'INSTALLED' || c.rekeying || c.redundant || c.ownsPolicy === false) return out;
    c.rekeying = true;
    c.rekeyAt = undefined;
    this.request(now, { kind: 'rekey-child', exchange: ExchangeType.CREATE_CHILD_SA, payloads: () => buildChildRekeyRequest(this.ctx, c.spiIn), spi: c.spiIn }, out);
    this.settle(now);
    return out;
  }

  /**
   * The datapath's counters for a Child SA (either SPI): rekeys when `rekeyBytes`/`rekeyPackets`
   * of its ChildConfig are reached or the outbound sequence number nears its end (seqSoft,
   * RFC 4303 §3.3.3: it must not wrap). Returns the effects of the rekey, if one starts.
   */
  childUsage(now: number, spi: number, usage: ChildUsage): Effect[] {
    const c = findChild(this.ctx, spi);
    const cfg = c && configOf(this.ctx, c);
    if (!c || !usageDue(cfg ?? {}, usage)) return [];
    return this.rekeyChild(now, c.spiIn);
  }

  /** Rekey the IKE SA (RFC 7296 §1.3.2, §2.18); its Child SAs move to the new one. */
  rekeyIke(now: number): Effect[] {
    const out: Effect[] = [];
    this.ctx.now = now;
    if (this.st !== 'ESTABLISHED' || this.ctx.ikeRekey || this.inFlight?.kind === 'rekey-ike' || this.queue.some((q) => q.kind === 'rekey-ike')) return out;
    if (this.ikeLife) this.ikeLife.rekeyAt = undefined;
    this.request(now, { kind: 'rekey-ike', exchange: ExchangeType.CREATE_CHILD_SA, payloads: () => (this.st === 'ESTABLISHED' ? buildIkeRekeyRequest(this.ctx) : undefined) }, out);
    this.settle(now);
    return out;
  }

  /** An empty INFORMATIONAL request: the peer must answer (RFC 7296 §2.4). */
  liveness(now: number): Effect[] {
    const out: Effect[] = [];
    if (this.st === 'ESTABLISHED') this.request(now, { kind: 'liveness', exchange: ExchangeType.INFORMATIONAL, payloads: () => [] }, out);
    return out;
  }

  // ---- timers ----------------------------------------------------------------------------

  pollTimeout(): number | undefined {
    const t = [this.requests.pollTimeout(), this.halfOpenDeadline, this.lingerDeadline];
    if (this.st === 'ESTABLISHED') {
      t.push(this.ikeLife?.rekeyAt, this.ikeLife?.expireAt);
      for (const c of this.ctx.children) {
        if (c.state === 'INSTALLED' && !c.rekeying && !c.redundant) t.push(c.rekeyAt);
        if (c.state === 'INSTALLED' || c.state === 'REKEYED') t.push(c.expireAt);
      }
    }
    const due = t.filter((x): x is number => x !== undefined);
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
        out.push(event({ type: 'failure', row: 'F1', message: `no response to IKE_SA_INIT from ${r.to.addr}:${r.to.port} after ${r.retransmits} retransmits`, evidence: { retransmits: r.retransmits, to: r.to, from: r.from, exchange: 'IKE_SA_INIT' } }));
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
    if (this.st === 'ESTABLISHED') this.lifetimes(now, out);
    this.settle(now);
    return out;
  }

  /** Soft and hard lifetimes of the IKE SA and its Child SAs (src/ike/lifetimes.ts). */
  private lifetimes(now: number, out: Effect[]): void {
    const life = this.ikeLife;
    if (life?.expireAt !== undefined && now >= life.expireAt) {
      life.expireAt = undefined;
      out.push(event({ type: 'failure', row: 'F6', message: 'the IKE SA reached its hard lifetime before a rekey succeeded; deleting it', evidence: ikeEvidence(this.ctx, { result: 'expired', expireAt: now }) }));
      out.push(...this.delete(now));
      return;
    }
    if (life?.rekeyAt !== undefined && now >= life.rekeyAt) out.push(...this.rekeyIke(now));
    for (const c of [...this.ctx.children]) {
      if (c.expireAt !== undefined && now >= c.expireAt && (c.state === 'INSTALLED' || c.state === 'REKEYED')) {
        if (c.state === 'REKEYED') {
          // the rekey initiator never deleted the SA it replaced: send on the new one, delete the old
          const next = this.ctx.children.find((x) => x.spiIn === c.replacedBy && x.state !== 'DELETED');
          if (next && !next.redundant) switchOutbound(this.ctx, next, out);
        } else {
          out.push(event({ type: 'failure', row: 'F6', message: `Child SA ${c.name} reached its hard lifetime before a rekey succeeded; deleting it`, evidence: rekeyEvidence(this.ctx, c, { result: 'expired' }) }));
        }
        c.expireAt = undefined;
        c.state = 'DELETING';
        c.rekeying = false;
        this.request(now, { kind: 'delete-child', exchange: ExchangeType.INFORMATIONAL, payloads: () => deleteChildPayloads([c.spiIn]), spi: c.spiIn }, out);
      } else if (c.rekeyAt !== undefined && now >= c.rekeyAt && c.state === 'INSTALLED') {
        out.push(...this.rekeyChild(now, c.spiIn));
      }
    }
  }

  /**
   * Plan the lifetimes of SAs that have none yet. Runs after every message is built, so the
   * jitter drawn from `cfg.random` never changes the bytes of a message.
   */
  private settle(now: number): void {
    const cfg = this.ctx.cfg;
    if (this.st === 'ESTABLISHED' && !this.ikeLife) this.ikeLife = planLifetime(now, cfg, DEFAULT_IKE_REKEY_S, cfg.random);
    for (const c of this.ctx.children) {
      if (c.lifetimePlanned || c.state !== 'INSTALLED') continue;
      c.installedAt ??= now;
      const l = planLifetime(c.installedAt, configOf(this.ctx, c) ?? {}, DEFAULT_CHILD_REKEY_S, cfg.random);
      c.lifetimePlanned = true;
      c.rekeyAt = l.rekeyAt;
      c.expireAt = l.expireAt;
    }
    for (const s of this.successors) s.settle(now);
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

  private receive(now: number, bytes: Uint8Array, path: Path, out: Effect[]): void {
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
  private payloadsOf(msg: IkeMessage): Payload[] | undefined {
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

  private receiveRequest(now: number, msg: IkeMessage, bytes: Uint8Array, path: Path, out: Effect[]): void {
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
      } else if (r.deleteIke) {
        // §2.8.1: the peer rekeyed the IKE SA without seeing ours; the SA we answered with is the successor
        const passive = this.ctx.ikeRekey?.collision;
        if (passive && this.st === 'ESTABLISHED') {
          this.ctx.ikeRekey!.collision = undefined;
          this.adopt(passive, out);
        }
        this.finish('DELETED', this.st === 'REKEYED' || this.replacedBy || passive ? 'rekeyed' : 'peer', out);
      }
      return;
    }
    this.createChildRequest(now, p, id, bytes, out);
  }

  /** CREATE_CHILD_SA as responder: rekey a Child SA or the IKE SA; new Child SAs are refused (RFC 7296 §1.3). */
  private createChildRequest(now: number, p: Payload[], id: number, bytes: Uint8Array, out: Effect[]): void {
    const ex = ExchangeType.CREATE_CHILD_SA;
    const rekey = findNotify(p, NotifyType.REKEY_SA);
    const ikeSa = !rekey && first(p, 'SA')?.proposals.some((x) => x.protocol === ProtocolId.IKE);
    let response: Payload[];
    let created: NewIkeSa | undefined;
    if (rekey) {
      const ikeBusy = this.st !== 'ESTABLISHED' || this.inFlight?.kind === 'rekey-ike' || this.inFlight?.kind === 'delete-ike';
      response = processChildRekeyRequest(this.ctx, p, rekey, { ikeBusy }, out);
    } else if (ikeSa) {
      // RFC 7296 §2.25.2: not while we create, rekey or delete a Child SA, or close this IKE SA
      const k = this.inFlight?.kind;
      const busy = this.st !== 'ESTABLISHED' || k === 'rekey-child' || k === 'delete-child' || k === 'delete-ike';
      const r = processIkeRekeyRequest(this.ctx, p, busy, out);
      response = r.response;
      created = r.created;
    } else {
      response = [notify(NotifyType.NO_ADDITIONAL_SAS)]; // more Child SAs: not supported
    }
    this.respond(id, bytes, [this.protect(ex, id, true, response)], out);
    if (!created) return;
    if (this.ctx.ikeRekey && this.inFlight?.kind === 'rekey-ike') this.ctx.ikeRekey.collision = created; // §2.8.1: settled by our response
    else {
      this.adopt(created, out);
      this.setState('REKEYED', out);
      this.lingerDeadline = now + REKEYED_LINGER_MS; // the peer deletes this SA next (RFC 7296 §2.18)
    }
  }

  /** Move the Child SAs to the IKE SA a rekey made; it becomes this SA's successor (RFC 7296 §2.18). */
  private adopt(n: NewIkeSa, out: Effect[]): IkeSa {
    const s = IkeSa.rekeyedFrom(this, n);
    s.ctx.children = this.ctx.children;
    this.ctx.children = [];
    this.replacedBy = s;
    this.dropQueue();
    this.successors.push(s);
    out.push(
      event({ type: 'ike-rekeyed', oldSpi: spiHex(this.localSpi), newSpi: spiHex(s.localSpi), spiI: spiHex(s.spiI), spiR: spiHex(s.spiR) }),
      event({ type: 'ike-established', spiI: spiHex(s.spiI), spiR: spiHex(s.spiR), proposal: s.ctx.chosenText ?? '', localId: s.ctx.cfg.localId, remoteId: s.ctx.remoteIdText ?? '', nat: s.ctx.nat ?? { local: false, remote: false } }),
    );
    return s;
  }

  /** A redundant IKE SA of a collision (RFC 7296 §2.8.1), kept only to finish its Delete exchange. */
  private redundant(n: NewIkeSa, deleteIt: boolean, now: number, out: Effect[]): void {
    const s = IkeSa.rekeyedFrom(this, n);
    s.ikeLife = { rekeyAt: undefined, expireAt: undefined };
    this.successors.push(s);
    if (deleteIt) out.push(...s.delete(now));
    else {
      s.st = 'REKEYED';
      s.lingerDeadline = now + REKEYED_LINGER_MS;
    }
  }

  /** Queued requests die with an IKE SA that is replaced or closed; Child SAs waiting to be rekeyed try again later. */
  private dropQueue(): void {
    for (const q of this.queue) {
      const c = q.kind === 'rekey-child' && q.spi !== undefined ? findChild(this.ctx, q.spi) ?? this.replacedBy?.ctx.children.find((x) => x.spiIn === q.spi) : undefined;
      if (c) {
        c.rekeying = false;
        c.rekeyAt = retryAt(this.ctx.now, this.ctx.cfg.random);
      }
    }
    this.queue = [];
  }

  private receiveResponse(now: number, msg: IkeMessage, bytes: Uint8Array, out: Effect[]): void {
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

  private childRekeyResponse(now: number, p: Payload[], out: Effect[]): void {
    const r = processChildRekeyResponse(this.ctx, p, out);
    if (r.kind === 'retry-now') {
      const { oldSpiIn, group, retries } = r;
      this.request(now, { kind: 'rekey-child', exchange: ExchangeType.CREATE_CHILD_SA, payloads: () => buildChildRekeyRequest(this.ctx, oldSpiIn, group, retries), spi: oldSpiIn }, out);
    } else if (r.kind === 'retry-later') {
      const c = findChild(this.ctx, r.oldSpiIn);
      if (c) c.rekeyAt = retryAt(now, this.ctx.cfg.random); // RFC 7296 §2.25: TEMPORARY_FAILURE, try again later
    } else {
      for (const spi of r.deleteSpis) {
        const c = this.ctx.children.find((x) => x.spiIn === spi && x.state !== 'DELETED');
        if (!c) continue;
        c.state = 'DELETING';
        this.request(now, { kind: 'delete-child', exchange: ExchangeType.INFORMATIONAL, payloads: () => deleteChildPayloads([spi]), spi }, out);
      }
    }
  }

  private ikeRekeyResponse(now: number, p: Payload[], out: Effect[]): void {
    const r = processIkeRekeyResponse(this.ctx, p, out, this.ikeLife?.expireAt);
    if (r.kind === 'retry-now') {
      const { group, retries } = r;
      this.request(now, { kind: 'rekey-ike', exchange: ExchangeType.CREATE_CHILD_SA, payloads: () => (this.st === 'ESTABLISHED' ? buildIkeRekeyRequest(this.ctx, group, retries) : undefined) }, out);
      return;
    }
    if (r.kind !== 'done') {
      const passive = this.ctx.ikeRekey?.collision;
      this.ctx.ikeRekey = undefined;
      if (passive) {
        // ours failed but we answered the peer's: that one stands, and the peer deletes this SA
        this.adopt(passive, out);
        this.setState('REKEYED', out);
        this.lingerDeadline = now + REKEYED_LINGER_MS;
      } else if (r.kind === 'retry-later' && this.ikeLife) this.ikeLife.rekeyAt = retryAt(now, this.ctx.cfg.random);
      return;
    }
    const col = r.collision;
    // RFC 7296 §2.8.1: with two new IKE SAs, the one from the exchange with the lowest nonce is
    // redundant and its creator deletes it; the winner deletes the old IKE SA
    const lost = !!col && compareNonces(lowerNonce(r.created.ni, r.created.nr), lowerNonce(col.ni, col.nr)) < 0;
    if (col) out.push(event({ type: 'rekey-collision', scope: 'ike', won: !lost }));
    if (lost) {
      this.adopt(col!, out);
      this.redundant(r.created, true, now, out);
      this.setState('REKEYED', out);
      this.lingerDeadline = now + REKEYED_LINGER_MS;
      return;
    }
    this.adopt(r.created, out);
    if (col) this.redundant(col, false, now, out);
    this.setState('DELETING', out);
    this.request(now, { kind: 'delete-ike', exchange: ExchangeType.INFORMATIONAL, payloads: deleteIkePayloads }, out);
  }

  private protect(ex: number, id: number, response: boolean, payloads: Payload[]): Uint8Array {
    return buildProtected(header(this.ctx, ex, id, response), payloads, this.ctx.keys!.out, this.ctx.cfg.random);
  }

  private respond(id: number, request: Uint8Array, responses: Uint8Array[], out: Effect[]): void {
    this.responses.store(id, request, responses);
    for (const r of responses) out.push({ type: 'send', bytes: r, to: { ...this.ctx.remote }, from: { ...this.ctx.local } });
  }

  /** Send a request now if the window is free (RFC 7296 §2.3, window 1), else queue it. */
  private request(now: number, q: Queued, out: Effect[]): void {
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

  private complete(): void {
    this.requests.completed();
    this.inFlight = undefined;
  }

  private pump(now: number, out: Effect[]): void {
    const next = this.queue.shift();
    if (next) this.request(now, next, out);
  }

  private established(out: Effect[], mark: number): void {
    const c = this.ctx;
    const e: Effect[] = [];
    this.setState('ESTABLISHED', e);
    e.push(event({ type: 'ike-established', spiI: spiHex(c.spiI), spiR: spiHex(c.spiR), proposal: c.chosenText ?? '', localId: c.cfg.localId, remoteId: c.remoteIdText ?? '', nat: c.nat ?? { local: false, remote: false } }));
    out.splice(mark, 0, ...e); // state events before the Child SA's
  }

  private setState(to: IkeState, out: Effect[]): void {
    if (to === this.st) return;
    out.push(event({ type: 'ike-state', from: this.st, to }));
    this.st = to;
  }

  /** End the SA: remove Child SAs, zero keys (the response cache holds only bytes already sent). */
  private finish(to: 'DELETED' | 'FAILED', reason: 'local' | 'peer' | 'dead-peer' | 'half-open-timeout' | 'failed' | 'rekeyed' | 'expired', out: Effect[]): void {
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
}

