// One IKE SA, either role, as an I/O-free state machine (DESIGN.md "No I/O in the protocol"):
// datagrams, timeouts and commands go in, effects come out. The exchange machinery is in
// sa-core.ts; this file adds the public API, lifetimes and rekeying (RFC 7296 §1.3, §2.8,
// §2.18): Child SA and IKE SA rekeys, collisions (§2.8.1) and the hand-over to a new IKE SA.
import { ExchangeType, NotifyType, ProtocolId } from '../wire/constants.js';
import type { Payload } from '../wire/types.js';
import type { Endpoint, IkeSaConfig } from './config.js';
import { event, type Effect, type IkeState } from './effects.js';
import { compareNonces, lowerNonce, type ChildSa } from './sa-context.js';
import { deleteChildPayloads, deleteIkePayloads } from './tasks/informational.js';
import { findNotify, first, notify } from './payloads.js';
import { formatProposal } from '../crypto/proposal.js';
import { DEFAULT_CHILD_REKEY_S, DEFAULT_IKE_REKEY_S, planLifetime, planReauth, retryAt, usageDue, type ChildUsage } from './lifetimes.js';
import { buildChildRekeyRequest, configOf, findChild, processChildRekeyRequest, processChildRekeyResponse, rekeyEvidence, switchOutbound } from './tasks/child-rekey.js';
import { buildIkeRekeyRequest, ikeEvidence, processIkeRekeyRequest, processIkeRekeyResponse, type NewIkeSa } from './tasks/ike-rekey.js';
import { SaCore, type Path } from './sa-core.js';
import { spiHex } from '../wire/spi.js';

export type { IkeState, Path };

// Implementation choice: an old IKE SA whose Child SAs moved waits this long for the peer's Delete
const REKEYED_LINGER_MS = 60_000;

export class IkeSa extends SaCore {
  private constructor(cfg: IkeSaConfig, role: 'initiator' | 'responder', local: Endpoint, remote: Endpoint, rekeyed?: NewIkeSa) {
    super(cfg, role, local, remote, rekeyed);
  }
  private ikeRekeyCount = 0;
  private reauthAt: number | undefined;
  private reauthPlanned = false;
  private successors: IkeSa[] = [];

  /** RFC 7296 §2.18: the IKE SA a rekey made, with the old one's peer and identities, message IDs from 0. */
  private static rekeyedFrom(old: IkeSa, n: NewIkeSa): IkeSa {
    const sa = new IkeSa(old.ctx.cfg, n.role, old.ctx.local, old.ctx.remote, n);
    const o = old.ctx;
    Object.assign(sa.ctx, { keys: n.keys, ni: n.ni, nr: n.nr, chosen: n.chosen, chosenText: formatProposal(n.chosen), nat: o.nat, remoteIdText: o.remoteIdText, peerHashes: o.peerHashes, now: o.now });
    sa.st = 'ESTABLISHED';
    sa.ikeRekeyCount = old.ikeRekeyCount + 1;
    sa.reauthAt = old.reauthAt; // a rekey is no reauthentication (RFC 7296 §2.8.3): the deadline stays
    sa.reauthPlanned = true;
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
  /** When the daemon is told to reauthenticate (reauth_time), or undefined. */
  get reauthDue(): number | undefined { return this.reauthAt; }
  /** How many IKE SA rekeys led to this SA. Per Child SA, see `children[i].rekeys/rekeyAt/expireAt`. */
  get rekeys(): number { return this.ikeRekeyCount; }
  /** The IKE SA that replaced this one (RFC 7296 §2.18), once rekeyed. */
  get successor(): IkeSa | undefined { return this.replacedBy as IkeSa | undefined; }

  /** IKE SAs a rekey created here since the last call; the dispatcher indexes them by their SPI. */
  takeSuccessors(): IkeSa[] {
    const s = this.successors;
    this.successors = [];
    return s;
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

  // ---- timers ----------------------------------------------------------------------------

  /** The next retransmit, half-open deadline, or soft/hard lifetime of this SA or its Child SAs. */
  override pollTimeout(): number | undefined {
    const t = [super.pollTimeout()];
    if (this.st === 'ESTABLISHED') {
      t.push(this.ikeLife?.rekeyAt, this.ikeLife?.expireAt, this.reauthAt);
      for (const c of this.ctx.children) {
        if (c.state === 'INSTALLED' && !c.rekeying && !c.redundant && c.ownsPolicy !== false) t.push(c.rekeyAt);
        if (c.state === 'INSTALLED' || c.state === 'REKEYED') t.push(c.expireAt);
      }
    }
    const due = t.filter((x): x is number => x !== undefined);
    return due.length ? Math.min(...due) : undefined;
  }

  protected afterTimeout(now: number, out: Effect[]): void {
    if (this.st === 'ESTABLISHED') this.lifetimes(now, out);
    this.settle(now);
  }

  /** The peer deleted this IKE SA: the end of a rekey if it was replaced, or if the peer finished a rekey we answered (§2.8.1). */
  protected peerDeletedIke(out: Effect[]): void {
    const passive = this.ctx.ikeRekey?.collision;
    if (passive && this.st === 'ESTABLISHED') {
      this.ctx.ikeRekey!.collision = undefined;
      this.adopt(passive, out);
    }
    this.finish('DELETED', this.st === 'REKEYED' || this.replacedBy || passive ? 'rekeyed' : 'peer', out);
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
        this.request(now, { kind: 'delete-child', exchange: ExchangeType.INFORMATIONAL, payloads: () => deleteChildPayloads([c.spiIn]), spi: c.spiIn }, out);
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
  protected settle(now: number): void {
    const cfg = this.ctx.cfg;
    if (this.st === 'ESTABLISHED' && !this.ikeLife) this.ikeLife = planLifetime(now, cfg, DEFAULT_IKE_REKEY_S, cfg.random);
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

  /** CREATE_CHILD_SA as responder: rekey a Child SA or the IKE SA; new Child SAs are refused (RFC 7296 §1.3). */
  protected createChildRequest(now: number, p: Payload[], id: number, bytes: Uint8Array, out: Effect[]): void {
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
    s.reauthAt = undefined;
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
      const c = q.kind === 'rekey-child' && q.spi !== undefined ? findChild(this.ctx, q.spi) ?? (this.replacedBy as IkeSa | undefined)?.ctx.children.find((x) => x.spiIn === q.spi) : undefined;
      if (c) {
        c.rekeying = false;
        c.rekeyAt = retryAt(this.ctx.now, this.ctx.cfg.random);
      }
    }
    this.queue = [];
  }

  protected childRekeyResponse(now: number, p: Payload[], out: Effect[]): void {
    const r = processChildRekeyResponse(this.ctx, p, out);
    if (r.kind === 'retry-now') {
      const { oldSpiIn, group, retries } = r;
      this.request(now, { kind: 'rekey-child', exchange: ExchangeType.CREATE_CHILD_SA, payloads: () => buildChildRekeyRequest(this.ctx, oldSpiIn, group, retries), spi: oldSpiIn }, out);
    } else if (r.kind === 'retry-later') {
      const c = findChild(this.ctx, r.oldSpiIn);
      if (c) c.rekeyAt = retryAt(now, this.ctx.cfg.random); // RFC 7296 §2.25 TEMPORARY_FAILURE, or a refused rekey (F6): try again later
    } else {
      for (const spi of r.deleteSpis) {
        const c = this.ctx.children.find((x) => x.spiIn === spi && x.state !== 'DELETED');
        if (!c) continue;
        c.state = 'DELETING';
        this.request(now, { kind: 'delete-child', exchange: ExchangeType.INFORMATIONAL, payloads: () => deleteChildPayloads([spi]), spi }, out);
      }
    }
  }

  protected ikeRekeyResponse(now: number, p: Payload[], out: Effect[]): void {
    const r = processIkeRekeyResponse(this.ctx, p, out, this.ikeLife?.expireAt);
    if (r.kind === 'retry-now') {
      const { group, retries } = r;
      this.request(now, { kind: 'rekey-ike', exchange: ExchangeType.CREATE_CHILD_SA, payloads: () => (this.st === 'ESTABLISHED' ? buildIkeRekeyRequest(this.ctx, group, retries) : undefined) }, out);
      return;
    }
    if (r.kind !== 'done') {
      const passive = r.collision;
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
}
