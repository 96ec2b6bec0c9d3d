// One IKE SA, either role, as an I/O-free state machine (DESIGN.md "No I/O in the protocol"):
// datagrams, timeouts and commands go in, effects come out. It owns what every exchange
// shares: Message IDs, retransmission and the response cache (RFC 7296 §2.1-§2.3), the queue
// of tasks that run one request at a time (window 1), states and events, the SA lifetimes, and
// the hand-over of its Child SAs to the IKE SA a rekey made (§2.18). What each exchange sends
// and how it reads the answer is in its task (task.ts, tasks/*.ts).
import { ExchangeType, NotifyType, ProtocolId, nameOf } from '../wire/constants.js';
import { decodeMessage } from '../wire/message.js';
import { checkPayloadRules } from '../wire/rules.js';
import type { IkeMessage, Payload } from '../wire/types.js';
import { spiHex } from '../wire/spi.js';
import { formatEndpoint } from '../wire/ip-text.js';
import { formatProposal } from '../crypto/proposal.js';
import { DEFAULT_HALF_OPEN_TIMEOUT_S, type Endpoint, type IkeSaConfig } from './config.js';
import { event, type Effect, type IkeState, type MoveNoticedBy } from './effects.js';
import { buildPlain, buildProtected, openProtected } from './protect.js';
import { RequestWindow, ResponseCache, equalBytes, type OutstandingRequest } from './retransmit.js';
import { disposeKeys, header, newStats, randomIkeSpi, type ChildSa, type SaContext } from './sa-context.js';
import { releaseLeases } from './virtual-ip.js';
import { findNotify, first, notify } from './payloads.js';
import { classifyError } from './errors.js';
import { DEFAULT_CHILD_REKEY_S, DEFAULT_IKE_REKEY_S, planLifetime, planReauth, usageDue, type ChildUsage } from './lifetimes.js';
import { configOf, findChild, rekeyEvidence, removeAllChildren, switchOutbound } from './child-sas.js';
import type { EndReason, HandOver, NewIkeSa, Path, Received, Task, TaskResult } from './task.js';
import { IkeInit } from './tasks/ike-init.js';
import { IkeAuth } from './tasks/ike-auth.js';
import { EapResponder } from './tasks/eap-auth.js';
import { ChildRekey } from './tasks/child-rekey.js';
import { IkeRekey, ikeEvidence } from './tasks/ike-rekey.js';
import { DeleteChild, DeleteIke, InformationalResponder, Liveness } from './tasks/informational.js';
import { MtuProbe } from './tasks/mtu-probe.js';
import { UpdateSaAddresses, UpdateSaAddressesResponder } from './tasks/mobike.js';

export type { IkeState, Path };

// Implementation choice: an old IKE SA whose Child SAs moved waits this long for the peer's Delete
const REKEYED_LINGER_MS = 60_000;

/** The responder task for a request of exchange `ex` (IKE_SA_INIT is answered before this). */
function responderTask(ex: number, p: Payload[], ctx: SaContext): Task {
  if (ex === ExchangeType.IKE_AUTH) return ctx.eap ? new EapResponder() : new IkeAuth('responder'); // RFC 7296 §2.16: later rounds carry EAP
  if (ex === ExchangeType.INFORMATIONAL) return findNotify(p, NotifyType.UPDATE_SA_ADDRESSES) ? new UpdateSaAddressesResponder() : new InformationalResponder();
  // CREATE_CHILD_SA (RFC 7296 §1.3): rekey a Child SA or the IKE SA; new Child SAs are refused
  if (findNotify(p, NotifyType.REKEY_SA)) return new ChildRekey('responder');
  if (first(p, 'SA')?.proposals.some((x) => x.protocol === ProtocolId.IKE)) return new IkeRekey('responder');
  return { kind: 'create-child', exchange: ex, process: () => ({ response: [notify(NotifyType.NO_ADDITIONAL_SAS)] }) };
}

export class IkeSa {
  readonly stats = newStats();
  /** Why the last dropped datagram was dropped (typed errors' messages never carry key material). */
  lastDropped: string | undefined;
  private readonly ctx: SaContext;
  private st: IkeState = 'CREATED';
  private readonly requests: RequestWindow;
  private readonly responses = new ResponseCache();
  private active: Task | undefined; // the task whose request is in flight
  private queue: Task[] = [];
  private halfOpenDeadline: number | undefined;
  private lingerDeadline: number | undefined;
  private replacedBy: IkeSa | undefined; // the IKE SA a rekey made
  private successors: IkeSa[] = [];
  private ikeRekeyCount = 0;
  private reauthAt: number | undefined;
  private reauthPlanned = false;
  private heardAt: number | undefined;

  private constructor(cfg: IkeSaConfig, role: 'initiator' | 'responder', local: Endpoint, remote: Endpoint, rekeyed?: NewIkeSa) {
    this.requests = new RequestWindow(cfg.retransmit);
    const spi = rekeyed ? (role === 'initiator' ? rekeyed.spiI : rekeyed.spiR) : randomIkeSpi(cfg.random);
    this.ctx = {
      cfg, role, local: { ...local }, remote: { ...remote }, children: [], cookieRetries: 0, invalidKeRetries: 0, peerCertReq: false, now: 0,
      spiI: rekeyed ? rekeyed.spiI : role === 'initiator' ? spi : new Uint8Array(8),
      spiR: rekeyed ? rekeyed.spiR : role === 'responder' ? spi : new Uint8Array(8),
    };
  }

  static initiator(cfg: IkeSaConfig): IkeSa {
    return new IkeSa(cfg, 'initiator', cfg.local, cfg.remote);
  }

  /**
   * A responder SA for an IKE_SA_INIT request that arrived on `path` (the dispatcher creates
   * these), with the connections configured for that path, best address match first: with
   * several, IKE_SA_INIT and IKE_AUTH choose one (src/ike/select-config.ts).
   */
  static responder(candidates: readonly IkeSaConfig[], path: Path): IkeSa {
    const sa = new IkeSa(candidates[0], 'responder', path.to, path.from);
    if (candidates.length > 1) sa.ctx.candidates = [...candidates];
    return sa;
  }

  /** RFC 7296 §2.18: the IKE SA a rekey made, with the old one's peer and identities, message IDs from 0. */
  private static rekeyedFrom(old: IkeSa, n: NewIkeSa): IkeSa {
    const sa = new IkeSa(old.ctx.cfg, n.role, old.ctx.local, old.ctx.remote, n);
    const o = old.ctx;
    Object.assign(sa.ctx, { keys: n.keys, ni: n.ni, nr: n.nr, chosen: n.chosen, chosenText: formatProposal(n.chosen), nat: o.nat, remoteIdText: o.remoteIdText, mobike: o.mobike, peerHashes: o.peerHashes, ownVips: o.ownVips, now: o.now });
    sa.st = 'ESTABLISHED';
    sa.ikeRekeyCount = old.ikeRekeyCount + 1;
    sa.reauthAt = old.reauthAt; // a rekey is no reauthentication (RFC 7296 §2.8.3): the deadline stays
    sa.reauthPlanned = true;
    return sa;
  }

  get state(): IkeState { return this.st; }
  get role(): 'initiator' | 'responder' { return this.ctx.role; }
  get spiI(): Uint8Array { return this.ctx.spiI; }
  get spiR(): Uint8Array { return this.ctx.spiR; }
  /** Our own SPI (what the dispatcher routes by). */
  get localSpi(): Uint8Array { return this.ctx.role === 'initiator' ? this.ctx.spiI : this.ctx.spiR; }
  get proposal(): string | undefined { return this.ctx.chosenText; }
  get children(): readonly Readonly<ChildSa>[] { return this.ctx.children; }
  /** Virtual IPs this SA leased to the peer from a gateway's pools (RFC 7296 §2.19). */
  get leasedVips(): string[] { return (this.ctx.leases ?? []).map((l) => l.address); }
  /** Virtual IPs the responder gave us, and its DNS servers (RFC 7296 §2.19). */
  get ownVips(): { addresses: string[]; dns: string[]; subnets: string[] } | undefined { return this.ctx.ownVips; }
  get nat(): { local: boolean; remote: boolean } | undefined { return this.ctx.nat; }
  get remoteId(): string | undefined { return this.ctx.remoteIdText; }
  /** RFC 4555 §3.2: both ends support MOBIKE on this SA. */
  get mobike(): boolean { return !!this.ctx.mobike; }
  get local(): Endpoint { return { ...this.ctx.local }; }
  get remote(): Endpoint { return { ...this.ctx.remote }; }
  /** The connection this SA serves (a gateway's responder knows it once IKE_AUTH chose one). */
  get name(): string { return this.ctx.cfg.name; }
  get localId(): string { return this.ctx.cfg.localId; }
  /** When a message of the peer last passed this SA's integrity check (ms, caller's clock), if ever. */
  get lastHeard(): number | undefined { return this.heardAt; }
  /** When this IKE SA will be rekeyed / deleted (ms, caller's clock); undefined when not scheduled. */
  get rekeyAt(): number | undefined { return this.ctx.life?.rekeyAt; }
  get expireAt(): number | undefined { return this.ctx.life?.expireAt; }
  /** When the daemon is told to reauthenticate (reauth_time), or undefined. */
  get reauthDue(): number | undefined { return this.reauthAt; }
  /** How many IKE SA rekeys led to this SA. Per Child SA, see `children[i].rekeys/rekeyAt/expireAt`. */
  get rekeys(): number { return this.ikeRekeyCount; }
  /** The IKE SA that replaced this one (RFC 7296 §2.18), once rekeyed. */
  get successor(): IkeSa | undefined { return this.replacedBy; }

  /**
   * A request of ours is in flight whose response installs a Child SA (IKE_SA_INIT leading to
   * IKE_AUTH, RFC 7296 §1.2; a CREATE_CHILD_SA rekey, §1.3.3): the peer may already send on it.
   */
  get awaitingChildSa(): boolean {
    const k = this.active?.kind;
    return k === 'ike-init' || k === 'ike-auth' || k === 'child-rekey';
  }

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
    this.request(now, new IkeInit('initiator'), out);
    return out;
  }

  /** Delete the IKE SA and its Child SAs (RFC 7296 §1.4.1). */
  delete(now: number): Effect[] {
    const out: Effect[] = [];
    if (this.st === 'ESTABLISHED') {
      this.setState('DELETING', out);
      this.queue = [];
      this.request(now, new DeleteIke(), out);
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
    this.request(now, new DeleteChild(c.spiIn), out);
    return out;
  }

  /** An empty INFORMATIONAL request: the peer must answer (RFC 7296 §2.4). */
  liveness(now: number): Effect[] {
    const out: Effect[] = [];
    if (this.st === 'ESTABLISHED') this.request(now, new Liveness(), out);
    return out;
  }

  /**
   * Our outer address changed to `addr` (the daemon noticed and rebound its sockets): with
   * MOBIKE, the SA moves there and tells the peer with UPDATE_SA_ADDRESSES (RFC 4555 §3.5);
   * a request already in flight is retransmitted from there too. Returns undefined when MOBIKE
   * was not negotiated (the caller reauthenticates instead) or we are the responder (§3.1: only the initiator moves).
   */
  moveLocal(now: number, addr: string): Effect[] | undefined {
    const out: Effect[] = [];
    this.ctx.now = now;
    if (!this.ctx.mobike || this.ctx.role !== 'initiator') return undefined;
    if (this.st !== 'ESTABLISHED' || addr === this.ctx.local.addr) return out;
    const from = { ...this.ctx.local };
    this.ctx.local = { ...from, addr };
    this.requests.moved(this.ctx.remote, this.ctx.local);
    // one update waiting in the queue is enough: it reads the addresses when it is sent
    if (!this.queue.some((t) => t instanceof UpdateSaAddresses)) this.request(now, new UpdateSaAddresses(from), out);
    return out;
  }

  /** A path MTU probe: an INFORMATIONAL padded to each of `lengths` in turn (tasks/mtu-probe.ts, failure map F7). */
  probeMtu(now: number, lengths: readonly number[]): Effect[] {
    const out: Effect[] = [];
    if (this.st === 'ESTABLISHED') this.request(now, new MtuProbe(lengths), out);
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
    this.request(now, new ChildRekey('initiator', c.spiIn), out);
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
    if (this.st !== 'ESTABLISHED' || this.active?.kind === 'ike-rekey' || this.queue.some((t) => t.kind === 'ike-rekey')) return out;
    if (this.ctx.life) this.ctx.life.rekeyAt = undefined;
    this.request(now, new IkeRekey('initiator'), out);
    this.settle(now);
    return out;
  }

  // ---- timers ----------------------------------------------------------------------------

  /** The next retransmit, half-open or linger deadline, or soft/hard lifetime of this SA or its Child SAs. */
  pollTimeout(): number | undefined {
    const t = [this.requests.pollTimeout(), this.halfOpenDeadline, this.lingerDeadline];
    if (this.st === 'ESTABLISHED') {
      t.push(this.ctx.life?.rekeyAt, this.ctx.life?.expireAt, this.reauthAt);
      for (const c of this.ctx.children) {
        if (c.state === 'INSTALLED' && !c.rekeying && !c.redundant && c.ownsPolicy !== false) t.push(c.rekeyAt);
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
      const again = this.active?.retransmit?.(this.ctx, t.request.retransmits);
      if (again) t.request.bytes = this.protect(t.request.exchange, t.request.messageId, false, again);
      out.push({ type: 'send', bytes: t.request.bytes, to: t.request.to, from: t.request.from });
      out.push(event({ type: 'retransmit', exchange: nameOf(ExchangeType, t.request.exchange), messageId: t.request.messageId, attempt: t.request.retransmits, to: t.request.to }));
      if (t.request.exchange === ExchangeType.IKE_SA_INIT && t.request.retransmits === 1) out.push(noAnswerYet(now, t.request));
    } else if (t.action === 'give-up') {
      const r = t.request;
      const task = this.active;
      this.requests.clear();
      // RFC 7296 §2.4: a request never answered means the peer is gone
      const result: TaskResult = task?.giveUp?.(this.ctx, { retransmits: r.retransmits, to: r.to, from: r.from }, out) ?? { end: { to: 'FAILED', reason: 'dead-peer' } };
      this.apply(now, result, out);
      this.active = undefined;
    }
    if (this.st === 'ESTABLISHED') this.lifetimes(now, out);
    this.settle(now);
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
      const kind = classifyError(e);
      this.stats[kind]++;
      this.lastDropped = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      // a message that failed its integrity check from a new port of the peer: a hint only (F8)
      const hinted: Effect[] = [];
      if (kind === 'integrityFailed' && path) this.hint(now, path, hinted);
      return hinted;
    }
  }

  /** Zero all key material (SK_d, SK_p*, SK ciphers, DH private keys, a rekey's keys in flight). */
  dispose(): void {
    this.active?.dispose?.();
    disposeKeys(this.ctx);
  }

  // ---- receiving -------------------------------------------------------------------------

  private receive(now: number, bytes: Uint8Array, path: Path, out: Effect[]): void {
    const msg = decodeMessage(bytes);
    const h = msg.header;
    const fromInitiator = h.flags.initiator;
    if (fromInitiator === (this.ctx.role === 'initiator')) { this.stats.malformed++; return; } // RFC 7296 §3.1 I flag
    const adopt = this.ctx.role === 'responder' && this.st === 'CREATED' && h.exchangeType === ExchangeType.IKE_SA_INIT && !h.flags.response;
    if (adopt) this.ctx.spiI = h.spiI.slice(); // a new responder SA takes the initiator's SPI from its first request
    if (!equalBytes(h.spiI, this.ctx.spiI)) { this.stats.unknownSpi++; return; }
    if (h.flags.response) return this.receiveResponse(now, msg, bytes, path, out);
    const initRequest = h.exchangeType === ExchangeType.IKE_SA_INIT && h.spiR.every((b) => b === 0);
    if (!initRequest && !equalBytes(h.spiR, this.ctx.spiR)) { this.stats.unknownSpi++; return; }
    const cls = this.responses.classify(h.messageId, bytes);
    if (cls === 'retransmit') {
      // RFC 7296 §2.1: answer a retransmitted request with the same response, change nothing;
      // §2.11: to the address and port the request came from
      this.stats.retransmitsReceived++;
      for (const r of this.responses.cached()) out.push({ type: 'send', bytes: r, to: { ...path.from }, from: { ...path.to } });
      this.hint(now, path, out); // the same bytes again prove nothing new (a replay looks the same)
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
      this.heardAt = this.ctx.now; // it passed the integrity check: the peer is alive (RFC 7296 §2.4)
    }
    const rules = checkPayloadRules(ex, msg.header.flags.response, msg.payloads, inner);
    if (!rules.ok) { this.stats.malformed++; return undefined; }
    return inner ?? msg.payloads;
  }

  /** A request from the peer: the responder task for its exchange answers it. */
  private receiveRequest(now: number, msg: IkeMessage, bytes: Uint8Array, path: Path, out: Effect[]): void {
    const ex = msg.header.exchangeType;
    const id = msg.header.messageId;
    const responder = this.ctx.role === 'responder';
    if (ex === ExchangeType.IKE_SA_INIT) {
      if (!responder || this.st !== 'CREATED' || id !== 0) { this.stats.invalidMessageId++; return; }
    } else {
      if (this.st === 'CREATED' || this.st === 'FAILED' || this.st === 'DELETED') { this.stats.invalidMessageId++; return; }
      // IKE_AUTH is Message ID 1, and more with EAP (RFC 7296 §2.16), until the SA is established
      if (ex === ExchangeType.IKE_AUTH && !(responder && this.st === 'CONNECTING' && (id === 1 || this.ctx.eap))) { this.stats.invalidMessageId++; return; }
    }
    const payloads = this.payloadsOf(msg);
    if (!payloads) return this.hint(now, path, out);
    const task = ex === ExchangeType.IKE_SA_INIT ? new IkeInit('responder') : responderTask(ex, payloads, this.ctx);
    if (task.kind !== 'mobike') this.follow(path, out); // an UPDATE_SA_ADDRESSES moves the peer itself, below
    const m: Received = { msg, bytes, payloads, path, now, state: this.st, active: this.active };
    const mark = out.length;
    const r = task.process(this.ctx, m, out);
    if (r.ignored) { this.stats.malformed++; return; }
    if (r.follow) this.follow(path, out, r.follow);
    const response = r.response ?? [];
    if (ex === ExchangeType.IKE_SA_INIT) {
      const resp = buildPlain(header(this.ctx, ex, id, true), response);
      if (r.connecting) this.ctx.initResponse = resp; // RFC 7296 §2.15: RealMessage2, signed in IKE_AUTH
      this.respond(id, bytes, [resp], path, out);
    } else this.respond(id, bytes, [this.protect(ex, id, true, response)], path, out);
    // still half-open while EAP rounds go on (RFC 7296 §2.16): the deadline counts from the last one
    if (ex === ExchangeType.IKE_AUTH) this.halfOpenDeadline = this.ctx.eap ? now + DEFAULT_HALF_OPEN_TIMEOUT_S * 1000 : undefined;
    this.apply(now, r, out, mark);
  }

  /** The response to our request in flight: its task reads it. */
  private receiveResponse(now: number, msg: IkeMessage, bytes: Uint8Array, path: Path, out: Effect[]): void {
    const h = msg.header;
    const task = this.active;
    if (!task || !this.requests.matches(h.messageId) || this.requests.outstanding!.exchange !== h.exchangeType) {
      // RFC 7296 §2.1: each copy of a request sent is answered; the first answer completed it
      if (h.messageId === this.requests.nextMessageId - 1 && !this.requests.matches(h.messageId)) this.stats.duplicateResponses++;
      else this.stats.invalidMessageId++;
      return;
    }
    if (h.exchangeType !== ExchangeType.IKE_SA_INIT && !equalBytes(h.spiR, this.ctx.spiR)) { this.stats.unknownSpi++; return; }
    const payloads = this.payloadsOf(msg);
    if (!payloads) return this.hint(now, path, out);
    this.follow(path, out);
    const mark = out.length;
    const r = task.process(this.ctx, { msg, bytes, payloads, path, now, state: this.st, active: task }, out);
    if (r.ignored) { this.stats.malformed++; return; }
    if (r.again) {
      // RFC 7296 §2.6, §1.2: IKE_SA_INIT again (COOKIE, other KE group) under the same Message ID
      this.ctx.initRequest = buildPlain(header(this.ctx, task.exchange, 0, false), task.build!(this.ctx, this.st)!);
      this.requests.replace(now, this.ctx.initRequest);
      const o = this.requests.outstanding!;
      out.push({ type: 'send', bytes: o.bytes, to: o.to, from: o.from });
      return;
    }
    this.requests.completed();
    this.active = undefined;
    this.apply(now, r, out, mark);
    if (this.st === 'ESTABLISHED' || this.st === 'DELETING' || this.st === 'REKEYED') this.pump(now, out);
  }

  // ---- applying what a task returned -----------------------------------------------------

  /** `mark`: where the effects of the message that led to `r` begin in `out`. */
  private apply(now: number, r: TaskResult, out: Effect[], mark = out.length): void {
    if (r.established) this.established(out, mark);
    if (r.connecting) {
      this.setState('CONNECTING', out);
      this.halfOpenDeadline = now + DEFAULT_HALF_OPEN_TIMEOUT_S * 1000;
    }
    if (r.handOver) this.handOver(now, r.handOver, out);
    for (const t of r.next ?? []) this.request(now, t, out);
    if (r.end?.peerDeleted) this.peerDeletedIke(out);
    else if (r.end) this.finish(r.end.to, r.end.reason, out);
  }

  /** The peer deleted this IKE SA: the end of a rekey if it was replaced, or if the peer finished a rekey we answered (§2.8.1). */
  private peerDeletedIke(out: Effect[]): void {
    const passive = this.active instanceof IkeRekey && this.st === 'ESTABLISHED' ? this.active.takeCollision() : undefined;
    if (passive) this.adopt(passive, out);
    this.finish('DELETED', this.st === 'REKEYED' || this.replacedBy || passive ? 'rekeyed' : 'peer', out);
  }

  /** RFC 7296 §2.18: a new IKE SA takes over; a redundant one of a collision (§2.8.1) only finishes its Delete. */
  private handOver(now: number, h: HandOver, out: Effect[]): void {
    this.adopt(h.successor, out);
    if (h.redundant) this.redundant(h.redundant.sa, h.redundant.deleteIt, now, out);
    this.setState(h.then, out);
    if (h.then === 'REKEYED') this.lingerDeadline = now + REKEYED_LINGER_MS; // the peer deletes this SA next (RFC 7296 §2.18)
  }

  /** Move the Child SAs to the IKE SA a rekey made; it becomes this SA's successor (RFC 7296 §2.18). */
  private adopt(n: NewIkeSa, out: Effect[]): IkeSa {
    const s = IkeSa.rekeyedFrom(this, n);
    this.dropQueue();
    s.ctx.children = this.ctx.children;
    this.ctx.children = [];
    s.ctx.leases = this.ctx.leases; // the peer keeps its virtual IP
    this.ctx.leases = undefined;
    this.replacedBy = s;
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
    s.ctx.life = { rekeyAt: undefined, expireAt: undefined };
    s.reauthAt = undefined;
    this.successors.push(s);
    if (deleteIt) out.push(...s.delete(now));
    else {
      s.st = 'REKEYED';
      s.lingerDeadline = now + REKEYED_LINGER_MS;
    }
  }

  /** Queued tasks die with an IKE SA that is replaced or closed; Child SAs waiting to be rekeyed rekey at once on its successor. */
  private dropQueue(): void {
    for (const t of this.queue) t.dropped?.(this.ctx);
    this.queue = [];
  }

  // ---- sending ---------------------------------------------------------------------------

  private protect(ex: number, id: number, response: boolean, payloads: Payload[]): Uint8Array {
    return buildProtected(header(this.ctx, ex, id, response), payloads, this.ctx.keys!.out, this.ctx.cfg.random);
  }

  /** RFC 7296 §2.11: a response goes to the address and port the request came from, from where it arrived. */
  private respond(id: number, request: Uint8Array, responses: Uint8Array[], path: Path, out: Effect[]): void {
    this.responses.store(id, request, responses);
    for (const r of responses) out.push({ type: 'send', bytes: r, to: { ...path.from }, from: { ...path.to } });
  }

  /**
   * RFC 7296 §2.23: with the peer behind a NAT, an authenticated message from another address
   * or port means its NAT mapping changed: requests go there from now on (the IKE_AUTH float
   * to 4500 is IKE_AUTH's own, tasks/ike-auth.ts). With MOBIKE, the peer's authenticated
   * UPDATE_SA_ADDRESSES moves it whether or not a NAT is in between (RFC 4555 §3.5).
   */
  private follow(path: Path, out: Effect[], via: MoveNoticedBy = 'ike'): void {
    const c = this.ctx;
    if ((via !== 'mobike' && !c.nat?.remote) || (this.st !== 'ESTABLISHED' && this.st !== 'REKEYED' && this.st !== 'DELETING')) return;
    if (path.from.addr === c.remote.addr && path.from.port === c.remote.port && path.to.addr === c.local.addr && path.to.port === c.local.port) return;
    // RFC 4555 §3.5: with MOBIKE a new address is the initiator's to announce (UPDATE_SA_ADDRESSES,
    // after its path checks from there); only a NAT's new port of the same address is followed as above
    if (via !== 'mobike' && c.mobike && path.from.addr !== c.remote.addr) return;
    out.push(event({ type: 'peer-moved', from: { ...c.remote }, to: { ...path.from }, via, nat: { local: false, remote: false, ...c.nat } }));
    c.remote = { ...path.from };
    c.local = { ...path.to };
    this.requests.moved(c.remote, c.local);
  }

  /**
   * Authenticated ESP (its ICV verified) of one of this SA's Child SAs arrived in UDP from
   * `from`: with the peer behind a NAT and `from` new, its mapping changed, and IKE follows it
   * as for an IKE message (RFC 7296 §2.23: only authenticated packets move the peer).
   */
  espFrom(now: number, from: Endpoint): Effect[] {
    const out: Effect[] = [];
    this.ctx.now = now;
    this.follow({ from, to: this.ctx.local }, out, 'esp');
    return out;
  }

  /** An IKE message that did not authenticate (or a retransmit) from a new port of the peer's address: a hint only (F8). */
  private hint(now: number, path: Path, out: Effect[]): void {
    if (path.from.addr === this.ctx.remote.addr && path.from.port !== this.ctx.remote.port) out.push(...this.probe(now, path.from));
  }

  /**
   * Something unauthenticated (a NAT-T keepalive, ESP that failed its ICV, an IKE message not
   * yet verified) came from `to`, a new port of the peer's address: send a liveness check
   * there (strongSwan does the same on a mapping change). Nothing moves until its answer,
   * authenticated, arrives from there (follow, on the response). Ignored while a request is in flight.
   */
  probe(now: number, to: Endpoint): Effect[] {
    const out: Effect[] = [];
    const c = this.ctx;
    if (this.st !== 'ESTABLISHED' || !c.nat?.remote || this.active || this.queue.length > 0) return out;
    if (to.addr === c.remote.addr && to.port === c.remote.port) return out;
    const was = c.remote;
    c.remote = { ...to };
    this.request(now, new Liveness('mapping-probe'), out);
    c.remote = was; // only the request went there; its retransmits follow it (the request keeps `to`)
    return out;
  }

  /** Send a task's request now if the window is free (RFC 7296 §2.3, window 1), else queue it. */
  private request(now: number, task: Task, out: Effect[]): void {
    if (this.active) { this.queue.push(task); return; }
    const id = this.requests.nextMessageId;
    const payloads = task.build!(this.ctx, this.st);
    if (!payloads) return this.pump(now, out); // no longer needed (the SA it was for is gone or replaced)
    const plain = task.exchange === ExchangeType.IKE_SA_INIT;
    const bytes = plain ? buildPlain(header(this.ctx, task.exchange, id, false), payloads) : this.protect(task.exchange, id, false, payloads);
    if (plain) this.ctx.initRequest = bytes; // RFC 7296 §2.15: RealMessage1, signed in IKE_AUTH
    this.active = task;
    this.requests.sent(now, task.exchange, bytes, { ...this.ctx.remote }, { ...this.ctx.local }, id);
    out.push({ type: 'send', bytes, to: { ...this.ctx.remote }, from: { ...this.ctx.local } });
  }

  private pump(now: number, out: Effect[]): void {
    const next = this.queue.shift();
    if (next) this.request(now, next, out);
  }

  // ---- states ----------------------------------------------------------------------------

  private established(out: Effect[], mark: number): void {
    const c = this.ctx;
    this.halfOpenDeadline = undefined;
    const e: Effect[] = [];
    this.setState('ESTABLISHED', e);
    e.push(event({ type: 'ike-established', spiI: spiHex(c.spiI), spiR: spiHex(c.spiR), proposal: c.chosenText ?? '', localId: c.cfg.localId, remoteId: c.remoteIdText ?? '', nat: c.nat ?? { local: false, remote: false }, initialContact: !!c.peerInitialContact }));
    out.splice(mark, 0, ...e); // state events before the Child SA's, which the task pushed while processing
  }

  private setState(to: IkeState, out: Effect[]): void {
    if (to === this.st) return;
    out.push(event({ type: 'ike-state', from: this.st, to }));
    this.st = to;
  }

  /** End the SA: remove Child SAs, zero keys (the response cache holds only bytes already sent). */
  private finish(to: 'DELETED' | 'FAILED', reason: EndReason, out: Effect[]): void {
    removeAllChildren(this.ctx, 'ike-deleted', out);
    releaseLeases(this.ctx);
    this.queue = [];
    this.halfOpenDeadline = undefined;
    this.lingerDeadline = undefined;
    this.ctx.life = undefined;
    this.requests.clear(); // an SA that is over sends nothing more
    this.active?.dispose?.();
    this.active = undefined;
    if (to === 'DELETED' || this.st !== 'CREATED') out.push(event({ type: 'ike-deleted', reason }));
    this.setState(to, out);
    disposeKeys(this.ctx);
  }

  // ---- lifetimes -------------------------------------------------------------------------

  /** Soft and hard lifetimes of the IKE SA and its Child SAs (src/ike/lifetimes.ts). */
  private lifetimes(now: number, out: Effect[]): void {
    const life = this.ctx.life;
    if (life?.expireAt !== undefined && now >= life.expireAt) {
      life.expireAt = undefined;
      out.push(event({ type: 'failure', row: 'F6', message: 'the IKE SA reached its hard lifetime before a rekey succeeded; deleting it', evidence: ikeEvidence(this.ctx, { result: 'expired', expireAt: now }) }));
      out.push(...this.delete(now));
      return;
    }
    if (this.reauthAt !== undefined && now >= this.reauthAt) {
      this.reauthAt = undefined; // once: the daemon starts the new IKE SA and deletes this one
      out.push(event({ type: 'reauth-due', spiI: spiHex(this.ctx.spiI), spiR: spiHex(this.ctx.spiR) }));
    }
    if (life?.rekeyAt !== undefined && now >= life.rekeyAt) {
      life.rekeyAt = undefined; // once: a refused command must not leave a deadline in the past
      out.push(...this.rekeyIke(now));
    }
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
        this.request(now, new DeleteChild(c.spiIn), out);
      } else if (c.rekeyAt !== undefined && now >= c.rekeyAt && c.state === 'INSTALLED' && c.ownsPolicy !== false) {
        c.rekeyAt = undefined;
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
    if (this.st === 'ESTABLISHED' && !this.ctx.life) this.ctx.life = planLifetime(now, cfg, DEFAULT_IKE_REKEY_S, cfg.random);
    if (this.st === 'ESTABLISHED' && !this.reauthPlanned) {
      this.reauthPlanned = true;
      this.reauthAt = planReauth(now, cfg.reauthTime, cfg.randTime, cfg.random);
    }
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
}

/**
 * Failure map F1's first sign, at the first retransmit of IKE_SA_INIT: no answer yet. The
 * final F1 (tasks/ike-init.ts giveUp) follows after the last retransmit if none comes.
 */
function noAnswerYet(now: number, r: OutstandingRequest): Effect {
  const nextRetransmitInS = Math.round((r.deadline - now) / 1000);
  const message = `no answer yet to IKE_SA_INIT from ${formatEndpoint(r.to)}: retransmitted ${r.retransmits}x, next in ${nextRetransmitInS} s`;
  return event({ type: 'failure', row: 'F1', message, evidence: { pending: true, retransmits: r.retransmits, to: { ...r.to }, from: { ...r.from }, exchange: 'IKE_SA_INIT', nextRetransmitInS } });
}
