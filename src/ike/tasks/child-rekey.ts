// Rekeying a Child SA with CREATE_CHILD_SA (RFC 7296 §1.3.3, §2.8): N(REKEY_SA) names the old
// SA, a KE payload gives PFS when the ESP proposal has a group (§1.3.3, §2.17), and the new SA
// replaces the old one make-before-break (effects.ts). Collisions (§2.8.1) are settled by
// comparing the two exchanges' nonces; TEMPORARY_FAILURE and CHILD_SA_NOT_FOUND follow §2.25.
import { ExchangeType, NotifyType, ProtocolId } from '../../wire/constants.js';
import type { NotifyPayload, Payload, Proposal, TrafficSelector } from '../../wire/types.js';
import { createKeyExchange } from '../../crypto/ke/index.js';
import { zero } from '../../crypto/kdf.js';
import { formatProposal, proposalAccepts, selectProposal } from '../../crypto/proposal.js';
import { narrowSelectors } from '../../wire/selectors.js';
import { MAX_INVALID_KE_RETRIES, type ChildConfig } from '../config.js';
import { event, type Effect } from '../effects.js';
import { findNotify, first, firstError, notify, notifyName } from '../payloads.js';
import { retryAt } from '../lifetimes.js';
import { compareNonces, lowerNonce, newNonce, randomEspSpi, type ChildSa, type KeyExchangeLike, type SaContext } from '../sa-context.js';
import { childSaInfo, configOf, findChild, formatSelectors as fmt, groupsOf, rekeyEvidence, rekeyedEvent, switchOutbound } from '../child-sas.js';
import type { GaveUp, Received, Task, TaskResult } from '../task.js';
import { DeleteChild } from './informational.js';
import { spiBytes, spiNumber } from '../../wire/spi.js';

/** Rekey of one Child SA, either role. The initiator keeps its nonce, KE and offer while in flight. */
export class ChildRekey implements Task {
  readonly kind = 'child-rekey';
  readonly exchange = ExchangeType.CREATE_CHILD_SA;
  private pending: ChildRekeyPending | undefined;
  private group: number | undefined;
  private retries = 0;
  /** Initiator: `oldSpiIn` is our inbound SPI of the SA to rekey. Responder: the request names it. */
  constructor(private readonly role: 'initiator' | 'responder', readonly oldSpiIn = 0) {}

  build(ctx: SaContext): Payload[] | undefined {
    this.pending?.ke?.dispose();
    this.pending = buildChildRekeyRequest(ctx, this.oldSpiIn, this.group, this.retries);
    if (!this.pending) {
      const c = findChild(ctx, this.oldSpiIn);
      if (c) c.rekeying = false; // the SA it was for is gone or replaced
      return undefined;
    }
    return this.pending.payloads;
  }

  process(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    if (this.role === 'responder') {
      const rekey = findNotify(m.payloads, NotifyType.REKEY_SA)!;
      // RFC 7296 §2.25.2: not while we rekey or delete the IKE SA
      const ikeBusy = m.state !== 'ESTABLISHED' || m.active?.kind === 'ike-rekey' || m.active?.kind === 'delete-ike';
      const mine = m.active instanceof ChildRekey ? m.active.pending : undefined;
      return { response: processChildRekeyRequest(ctx, m.payloads, rekey, ikeBusy, mine, out) };
    }
    const r = processChildRekeyResponse(ctx, this.pending!, m.payloads, out);
    this.pending = undefined;
    if (r.kind === 'retry-now') {
      this.group = r.group;
      this.retries = r.retries;
      return { next: [this] };
    }
    if (r.kind === 'retry-later') {
      const c = findChild(ctx, r.oldSpiIn);
      if (c) c.rekeyAt = retryAt(m.now, ctx.cfg.random); // RFC 7296 §2.25 TEMPORARY_FAILURE, or a refused rekey (F6): try again later
      return {};
    }
    const next: Task[] = [];
    for (const spi of r.deleteSpis) {
      const c = ctx.children.find((x) => x.spiIn === spi && x.state !== 'DELETED');
      if (!c) continue;
      c.state = 'DELETING';
      next.push(new DeleteChild(spi));
    }
    return { next };
  }

  giveUp(ctx: SaContext, g: GaveUp, out: Effect[]): TaskResult {
    // failure map F6: the rekey went unanswered, so the SAs it was to replace die with the IKE SA
    const c = findChild(ctx, this.oldSpiIn);
    out.push(event({ type: 'failure', row: 'F6', message: `no response to our Child SA rekey after ${g.retransmits} retransmits`, evidence: rekeyEvidence(ctx, c, { result: 'no-response', group: this.pending?.group }) }));
    return { end: { to: 'FAILED', reason: 'dead-peer' } }; // RFC 7296 §2.4: no answer means the peer is gone
  }

  /**
   * The IKE SA was rekeyed while this rekey waited its turn: the Child SA moved to the new IKE
   * SA (RFC 7296 §2.18), which starts the rekey at once (as strongSwan's adopt_tasks does), not
   * after a 2-10 s retry that a short life_time (rekey 5 s, life 6 s) would not survive.
   */
  dropped(ctx: SaContext): void {
    const c = findChild(ctx, this.oldSpiIn);
    if (!c) return;
    c.rekeying = false;
    c.rekeyAt = ctx.now;
  }

  dispose(): void {
    this.pending?.ke?.dispose();
    this.pending = undefined;
  }
}

/** Our rekey of one Child SA while its CREATE_CHILD_SA is in flight. */
interface ChildRekeyPending {
  oldSpiIn: number;
  oldSpiOut: number;
  cfg: ChildConfig;
  spiIn: number; // our SPI of the new SA
  ni: Uint8Array;
  ke?: KeyExchangeLike;
  group: number; // 0 = no PFS
  offered: Proposal[];
  invalidKeRetries: number;
  /** §2.8.1: the peer rekeyed the same SA while ours was in flight; we answered and made `spiIn`. */
  collision?: { spiIn: number; ni: Uint8Array; nr: Uint8Array };
  payloads: Payload[];
}

/** ESP proposals for CREATE_CHILD_SA: numbered, our SPI, DH transforms kept (PFS, RFC 7296 §1.3.1). */
function offerOf(cfg: ChildConfig, spi: number): Proposal[] {
  return cfg.espProposals.map((p, i) => ({ ...p, number: i + 1, protocol: ProtocolId.ESP, spi: spiBytes(spi) }));
}

/** Rekey initiator: N(REKEY_SA), SA, Ni, [KEi], TSi, TSr. Undefined when the SA is no longer there to rekey. */
function buildChildRekeyRequest(ctx: SaContext, oldSpiIn: number, group: number | undefined, retries: number): ChildRekeyPending | undefined {
  const old = ctx.children.find((c) => c.spiIn === oldSpiIn);
  const cfg = old && configOf(ctx, old);
  if (!old || !cfg || old.state !== 'INSTALLED') return undefined;
  const spiIn = randomEspSpi(ctx.cfg.random);
  const offered = offerOf(cfg, spiIn);
  const all = offered.flatMap(groupsOf);
  // like strongSwan's prefer_previous_dh_group: the group the SA was made with, if still offered
  const g = group ?? (old.dhGroup && all.includes(old.dhGroup) ? old.dhGroup : all[0] ?? 0);
  const ke = g ? (ctx.cfg.keyExchange ?? createKeyExchange)(g) : undefined;
  const ni = newNonce(ctx);
  const payloads: Payload[] = [
    notify(NotifyType.REKEY_SA, new Uint8Array(0), ProtocolId.ESP, Uint8Array.from(spiBytes(old.spiIn))), // RFC 7296 §1.3.3: our inbound SPI of the old SA
    ...(old.mode === 'transport' ? [notify(NotifyType.USE_TRANSPORT_MODE)] : []),
    { kind: 'SA', critical: false, proposals: offered },
    { kind: 'NONCE', critical: false, data: ni },
    ...(ke ? [{ kind: 'KE' as const, critical: false, group: g, data: ke.publicKey }] : []),
    { kind: 'TSi', critical: false, selectors: old.localTs },
    { kind: 'TSr', critical: false, selectors: old.remoteTs },
  ];
  return { oldSpiIn, oldSpiOut: old.spiOut, cfg, spiIn, ni, ke, group: g, offered, invalidKeRetries: retries, payloads };
}

/**
 * Install a Child SA made by CREATE_CHILD_SA, replacing `old` (effects.ts step 1). `initiator`:
 * we sent this CREATE_CHILD_SA request, whatever our role in the IKE SA.
 */
function installNew(ctx: SaContext, initiator: boolean, old: ChildSa, chosen: Proposal, spiIn: number, spiOut: number, ni: Uint8Array, nr: Uint8Array, shared: Uint8Array | undefined, group: number, localTs: TrafficSelector[], remoteTs: TrafficSelector[], out: Effect[]): ChildSa {
  const info = childSaInfo(ctx, { name: old.name, chosen, spiIn, spiOut, ni, nr, shared, weInitiated: initiator, mode: old.mode, localTs, remoteTs, replayWindow: configOf(ctx, old)?.replayWindow });
  if (shared) zero(shared);
  const proposal = info.proposal;
  const c: ChildSa = {
    name: old.name, state: 'INSTALLED', spiIn, spiOut, proposal, mode: old.mode, localTs, remoteTs,
    installedAt: ctx.now, rekeys: (old.rekeys ?? 0) + 1, dhGroup: group, ownsPolicy: false, replaces: { spiIn: old.spiIn, spiOut: old.spiOut },
  };
  ctx.children.push(c);
  out.push({ type: 'install-sa', child: info, rekeys: { spiIn: old.spiIn, spiOut: old.spiOut } });
  return c;
}

/** Rekey responder: the response payloads to a CREATE_CHILD_SA with N(REKEY_SA). */
function processChildRekeyRequest(ctx: SaContext, p: Payload[], rekey: NotifyPayload, ikeBusy: boolean, mine: ChildRekeyPending | undefined, out: Effect[]): Payload[] {
  const spi = rekey.spi.length === 4 ? spiNumber(rekey.spi) : -1;
  // the peer names its inbound SPI, our outbound one (RFC 7296 §1.3.3)
  const old = rekey.protocol === ProtocolId.ESP ? ctx.children.find((c) => c.spiOut === spi && c.state !== 'DELETED') : undefined;
  // RFC 7296 §2.25.1: a rekey of an SA we do not have is answered CHILD_SA_NOT_FOUND
  if (!old) return [notify(NotifyType.CHILD_SA_NOT_FOUND, new Uint8Array(0), rekey.protocol, Uint8Array.from(rekey.spi))];
  // RFC 7296 §2.25.1/§2.25.2: an SA we are closing (or replaced), or an IKE SA being rekeyed or closed: TEMPORARY_FAILURE
  if (ikeBusy || old.state !== 'INSTALLED') return [notify(NotifyType.TEMPORARY_FAILURE)];
  const cfg = configOf(ctx, old);
  const sa = first(p, 'SA');
  const nonce = first(p, 'NONCE');
  const tsi = first(p, 'TSi');
  const tsr = first(p, 'TSr');
  if (!cfg || !sa || !nonce || !tsi || !tsr) return [notify(NotifyType.INVALID_SYNTAX)];
  const theirs = sa.proposals.map(formatProposal);
  const ours = cfg.espProposals.map(formatProposal);
  const chosen = selectProposal(sa.proposals.filter((x) => x.protocol === ProtocolId.ESP && x.spi.length === 4), offerOf(cfg, 0));
  if (!chosen) {
    out.push(event({ type: 'failure', row: 'F6', message: `the peer's rekey of Child SA ${old.name} offers no ESP proposal we accept`, evidence: rekeyEvidence(ctx, old, { result: 'refused', notify: 'NO_PROPOSAL_CHOSEN', ours: [...ours, ...theirs.map((t) => `peer: ${t}`)] }) }));
    return [notify(NotifyType.NO_PROPOSAL_CHOSEN)];
  }
  const group = groupsOf(chosen)[0] ?? 0;
  const ke = first(p, 'KE');
  // RFC 7296 §1.3.3 / §1.2: a KE for another group than the one we chose is answered INVALID_KE_PAYLOAD
  if (group && (!ke || ke.group !== group)) return [notify(NotifyType.INVALID_KE_PAYLOAD, Uint8Array.from([group >> 8, group & 0xff]))];
  const remoteTs = narrowSelectors(cfg.remoteTs, tsi.selectors);
  const localTs = narrowSelectors(cfg.localTs, tsr.selectors);
  if (remoteTs.length === 0 || localTs.length === 0) return [notify(NotifyType.TS_UNACCEPTABLE)];
  let kex: KeyExchangeLike | undefined;
  let shared: Uint8Array | undefined;
  if (group) {
    kex = (ctx.cfg.keyExchange ?? createKeyExchange)(group);
    try {
      shared = kex.computeSharedSecret(ke!.data);
    } catch {
      kex.dispose();
      return [notify(NotifyType.INVALID_SYNTAX)]; // a KE value that is not a point/element of the group
    }
  }
  const ni = nonce.data.slice();
  const nr = newNonce(ctx);
  const offeredOne = sa.proposals.find((x) => x.number === chosen.number) ?? chosen;
  const spiIn = randomEspSpi(ctx.cfg.random);
  const c = installNew(ctx, false, old, chosen, spiIn, spiNumber(offeredOne.spi), ni, nr, shared, group, localTs, remoteTs, out);
  old.state = 'REKEYED';
  old.replacedBy = c.spiIn;
  if (mine && mine.oldSpiIn === old.spiIn) mine.collision = { spiIn: c.spiIn, ni, nr }; // §2.8.1: settled when our response arrives
  else out.push(rekeyedEvent(old, c));
  const response: Payload[] = [
    ...(old.mode === 'transport' ? [notify(NotifyType.USE_TRANSPORT_MODE)] : []),
    { kind: 'SA', critical: false, proposals: [{ ...chosen, number: offeredOne.number, spi: spiBytes(spiIn) }] },
    { kind: 'NONCE', critical: false, data: nr },
    ...(kex ? [{ kind: 'KE' as const, critical: false, group, data: kex.publicKey.slice() }] : []),
    { kind: 'TSi', critical: false, selectors: remoteTs },
    { kind: 'TSr', critical: false, selectors: localTs },
  ];
  kex?.dispose();
  return response;
}

type ChildRekeyOutcome =
  | { kind: 'retry-now'; oldSpiIn: number; group: number; retries: number } // INVALID_KE_PAYLOAD: again with the group asked for
  | { kind: 'retry-later'; oldSpiIn: number } // TEMPORARY_FAILURE, a refusal or a bad answer while the SA is still ours to rekey
  | { kind: 'over'; deleteSpis: number[] }; // done, aborted or failed; Delete these SAs (our SPIs) next

/** Rekey initiator: the CREATE_CHILD_SA response. */
function processChildRekeyResponse(ctx: SaContext, pend: ChildRekeyPending, p: Payload[], out: Effect[]): ChildRekeyOutcome {
  const over = (deleteSpis: number[] = []): ChildRekeyOutcome => {
    pend.ke?.dispose();
    return { kind: 'over', deleteSpis };
  };
  const old = ctx.children.find((c) => c.spiIn === pend.oldSpiIn && c.state !== 'DELETED');
  if (old) old.rekeying = false;
  // a failed rekey of an SA still in use is tried again later (F6 until it works or the SA expires)
  const retryOrOver = (): ChildRekeyOutcome => {
    if (old?.state !== 'INSTALLED') return over();
    pend.ke?.dispose();
    return { kind: 'retry-later', oldSpiIn: old.spiIn };
  };
  const retryNote = old?.state === 'INSTALLED' ? '; the rekey is tried again in 2-10 s' : '';
  const ours = pend.offered.map(formatProposal);
  const err = firstError(p);
  if (err) {
    const name = notifyName(err.notifyType);
    if (err.notifyType === NotifyType.INVALID_KE_PAYLOAD) {
      const want = err.data.length === 2 ? (err.data[0] << 8) | err.data[1] : -1;
      if (old?.state === 'INSTALLED' && pend.offered.some((x) => groupsOf(x).includes(want)) && want !== pend.group && pend.invalidKeRetries < MAX_INVALID_KE_RETRIES) {
        out.push(event({ type: 'invalid-ke', requested: want }));
        old.rekeying = true;
        pend.ke?.dispose();
        return { kind: 'retry-now', oldSpiIn: old.spiIn, group: want, retries: pend.invalidKeRetries + 1 };
      }
    }
    // RFC 7296 §2.25: TEMPORARY_FAILURE means "try again later" while the SA is still there
    if (err.notifyType === NotifyType.TEMPORARY_FAILURE && old?.state === 'INSTALLED') {
      pend.ke?.dispose();
      return { kind: 'retry-later', oldSpiIn: old.spiIn };
    }
    // the SA went away meanwhile (deleted or rekeyed by the peer, §2.25.1): nothing left to do
    if (!old || old.state !== 'INSTALLED') return over();
    // F6; the SA stays in use and the rekey is tried again later, until the hard lifetime (as
    // strongSwan's child_rekey does: "CHILD_SA rekeying failed, trying again in N seconds")
    out.push(event({ type: 'failure', row: 'F6', message: `the peer refused to rekey Child SA ${old.name} (${name}); it stays in use${retryNote}`, evidence: rekeyEvidence(ctx, old, { result: 'refused', notify: name, ours, group: pend.group }) }));
    return retryOrOver();
  }
  const sa = first(p, 'SA');
  const nonce = first(p, 'NONCE');
  const ke = first(p, 'KE');
  const chosen = sa?.proposals[0];
  const group = chosen ? groupsOf(chosen)[0] ?? 0 : 0;
  const valid = sa && nonce && chosen && sa.proposals.length === 1 && chosen.spi.length === 4 && proposalAccepts(pend.offered, chosen) && (group === 0 || (pend.ke && group === pend.group && ke?.group === group));
  if (!valid) {
    out.push(event({ type: 'failure', row: 'F6', message: `the peer's answer to our rekey of Child SA ${pend.cfg.name} is not one we can accept${retryNote}`, evidence: rekeyEvidence(ctx, old, { result: 'invalid-response', ours, group: pend.group, name: pend.cfg.name, newSpis: sa ? sa.proposals.map(formatProposal) : [] }) }));
    return retryOrOver();
  }
  let shared: Uint8Array | undefined;
  if (group) {
    try {
      shared = pend.ke!.computeSharedSecret(ke!.data);
    } catch {
      out.push(event({ type: 'failure', row: 'F6', message: `the peer's KE value in the rekey of ${pend.cfg.name} is invalid${retryNote}`, evidence: rekeyEvidence(ctx, old, { result: 'invalid-response', ours, group }) }));
      return retryOrOver();
    }
  }
  const tsi = first(p, 'TSi')?.selectors;
  const tsr = first(p, 'TSr')?.selectors;
  const host = old ?? { name: pend.cfg.name, state: 'DELETED' as const, spiIn: pend.oldSpiIn, spiOut: pend.oldSpiOut, proposal: '', mode: pend.cfg.mode, localTs: tsi ?? [], remoteTs: tsr ?? [] };
  const nr = nonce.data.slice();
  const c = installNew(ctx, true, host, chosen, pend.spiIn, spiNumber(chosen.spi), pend.ni, nr, shared, group, tsi ?? host.localTs, tsr ?? host.remoteTs, out);
  pend.ke?.dispose();
  // we are closing the old SA ourselves, or it was replaced by the SA of the peer's rekey that
  // we answered (§2.8.1, the peer won and deleted it): ours is not wanted
  const col = pend.collision;
  const passive = col && ctx.children.find((x) => x.spiIn === col.spiIn && x.state !== 'DELETED');
  if (old?.state === 'DELETING' || (!old && passive)) {
    c.redundant = true;
    return over([c.spiIn]);
  }
  if (!old) {
    // The peer answered our rekey, then deleted the old SA before its answer reached us (some
    // responders delete the replaced SA themselves). The peer keeps the new SA, so do we: it
    // takes the policy the Delete removed (strongSwan issue #1458 lost the tunnel here).
    c.ownsPolicy = true;
    c.replaces = undefined;
    out.push({ type: 'install-policy', policy: { name: c.name, localTs: fmt(c.localTs), remoteTs: fmt(c.remoteTs), spiIn: c.spiIn, spiOut: c.spiOut, mode: c.mode, active: true } });
    out.push(rekeyedEvent(host, c));
    return over();
  }
  if (col && passive) {
    // RFC 7296 §2.8.1: the SA from the exchange with the lowest of the four nonces is redundant;
    // its creator deletes it, and the creator of the surviving SA deletes the old one
    const lost = compareNonces(lowerNonce(pend.ni, nr), lowerNonce(col.ni, col.nr)) < 0;
    out.push(event({ type: 'rekey-collision', scope: 'child', won: !lost }));
    if (lost) {
      c.redundant = true;
      old.replacedBy = passive.spiIn;
      out.push(rekeyedEvent(old, passive));
      return over([c.spiIn]);
    }
    passive.redundant = true;
    passive.replaces = undefined;
  }
  switchOutbound(ctx, c, out);
  old.state = 'DELETING';
  old.replacedBy = c.spiIn;
  out.push(rekeyedEvent(old, c));
  return over([old.spiIn]);
}
