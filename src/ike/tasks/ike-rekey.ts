// Rekeying the IKE SA with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18): SA (with the new IKE SPI),
// Ni/Nr and a fresh KE; new keys from SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr). The
// Child SAs then move to the new IKE SA and the old one is deleted (ike-sa.ts does the moving).
import { ExchangeType, NotifyType, ProtocolId } from '../../wire/constants.js';
import type { Payload, Proposal } from '../../wire/types.js';
import { createKeyExchange } from '../../crypto/ke/index.js';
import { deriveIkeKeys, deriveRekeySkeyseed, zero } from '../../crypto/kdf.js';
import { createSkCipher } from '../../crypto/sk.js';
import { formatProposal, negotiatedAlgorithms, proposalAccepts, selectProposal } from '../../crypto/proposal.js';
import { event, type Effect, type IkeState, type RekeyEvidence } from '../effects.js';
import { first, firstError, notify, notifyName } from '../payloads.js';
import { DEFAULT_IKE_REKEY_S, retryAt } from '../lifetimes.js';
import { MAX_INVALID_KE_RETRIES } from '../config.js';
import { compareNonces, disposeSaKeys, lowerNonce, newNonce, randomIkeSpi, type KeyExchangeLike, type SaContext, type SaKeys } from '../sa-context.js';
import { groupName, groupsOf } from '../child-sas.js';
import type { GaveUp, NewIkeSa, Received, Task, TaskResult } from '../task.js';
import { DeleteIke } from './informational.js';
import { exportKeys } from '../export-keys.js';
import { spiHex } from '../../wire/spi.js';

/** Rekey of the IKE SA, either role. The initiator keeps its nonce, KE and new SPI while in flight. */
export class IkeRekey implements Task {
  readonly kind = 'ike-rekey';
  readonly exchange = ExchangeType.CREATE_CHILD_SA;
  private pending: IkeRekeyPending | undefined;
  private group: number | undefined;
  private retries = 0;
  /** §2.8.1: the peer rekeyed the IKE SA too and we answered; the SA that made waits here until ours is answered. */
  private collision: NewIkeSa | undefined;
  constructor(private readonly role: 'initiator' | 'responder') {}

  build(ctx: SaContext, state: IkeState): Payload[] | undefined {
    if (state !== 'ESTABLISHED') return undefined;
    this.pending?.ke?.dispose();
    this.pending = buildIkeRekeyRequest(ctx, this.group, this.retries);
    return this.pending.payloads;
  }

  process(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    return this.role === 'initiator' ? this.processResponse(ctx, m, out) : this.processRequest(ctx, m, out);
  }

  private processRequest(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    // RFC 7296 §2.25.2: not while we create, rekey or delete a Child SA, or close this IKE SA
    const k = m.active?.kind;
    const busy = m.state !== 'ESTABLISHED' || k === 'child-rekey' || k === 'delete-child' || k === 'delete-ike';
    const r = processIkeRekeyRequest(ctx, m.payloads, busy, out);
    if (!r.created) return { response: r.response };
    if (m.active instanceof IkeRekey) {
      m.active.collision = r.created; // §2.8.1: settled by the response to our own rekey
      return { response: r.response };
    }
    return { response: r.response, handOver: { successor: r.created, then: 'REKEYED' } }; // the peer deletes this SA next (§2.18)
  }

  private processResponse(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    const r = processIkeRekeyResponse(ctx, this.pending!, this.collision, m.payloads, out);
    this.pending = undefined;
    if (r.kind === 'retry-now') {
      this.group = r.group;
      this.retries = r.retries;
      return { next: [this] }; // keeps a collision already answered
    }
    const col = this.collision;
    this.collision = undefined; // from here on it belongs to the hand-over
    if (r.kind === 'retry-later') {
      // ours failed but we answered the peer's: that one stands, and the peer deletes this SA
      if (col) return { handOver: { successor: col, then: 'REKEYED' } };
      if (ctx.life) ctx.life.rekeyAt = retryAt(m.now, ctx.cfg.random);
      return {};
    }
    // RFC 7296 §2.8.1: with two new IKE SAs, the one from the exchange with the lowest nonce is
    // redundant and its creator deletes it; the winner deletes the old IKE SA
    const lost = !!col && compareNonces(lowerNonce(r.created.ni, r.created.nr), lowerNonce(col.ni, col.nr)) < 0;
    if (col) out.push(event({ type: 'rekey-collision', scope: 'ike', won: !lost }));
    if (lost) return { handOver: { successor: col!, redundant: { sa: r.created, deleteIt: true }, then: 'REKEYED' } };
    return { handOver: { successor: r.created, redundant: col && { sa: col, deleteIt: false }, then: 'DELETING' }, next: [new DeleteIke('rekeyed')] };
  }

  /** The peer deleted the IKE SA while ours was in flight: the rekey we answered completes (§2.8.1). */
  takeCollision(): NewIkeSa | undefined {
    const c = this.collision;
    this.collision = undefined;
    return c;
  }

  giveUp(ctx: SaContext, g: GaveUp, out: Effect[]): TaskResult {
    // failure map F6: the rekey went unanswered, so the SAs it was to replace die with the IKE SA
    out.push(event({ type: 'failure', row: 'F6', message: `no response to our IKE SA rekey after ${g.retransmits} retransmits`, evidence: ikeEvidence(ctx, { result: 'no-response', group: this.pending?.group }) }));
    return { end: { to: 'FAILED', reason: 'dead-peer' } }; // RFC 7296 §2.4: no answer means the peer is gone
  }

  dispose(): void {
    this.pending?.ke?.dispose();
    this.pending = undefined;
    if (this.collision) disposeSaKeys(this.collision.keys);
    this.collision = undefined;
  }
}

/** Our IKE SA rekey while its CREATE_CHILD_SA is in flight. */
interface IkeRekeyPending {
  spi: Uint8Array; // our SPI of the new IKE SA
  ni: Uint8Array;
  ke?: KeyExchangeLike;
  group: number;
  offered: Proposal[];
  invalidKeRetries: number;
  payloads: Payload[];
}

function offerOf(ctx: SaContext, spi: Uint8Array): Proposal[] {
  return ctx.cfg.proposals.map((p, i) => ({ ...p, number: i + 1, protocol: ProtocolId.IKE, spi: spi.slice() }));
}

/** Rekey initiator: SA (new SPI), Ni, KEi (RFC 7296 §1.3.2). */
function buildIkeRekeyRequest(ctx: SaContext, group: number | undefined, retries: number): IkeRekeyPending {
  const spi = randomIkeSpi(ctx.cfg.random);
  const offered = offerOf(ctx, spi);
  const all = offered.flatMap(groupsOf);
  const current = ctx.chosen ? groupsOf(ctx.chosen)[0] : undefined;
  // strongSwan's prefer_previous_dh_group: the group in use, if we still offer it
  const g = group ?? (current && all.includes(current) ? current : all[0]);
  const ke = (ctx.cfg.keyExchange ?? createKeyExchange)(g);
  const ni = newNonce(ctx);
  const payloads: Payload[] = [
    { kind: 'SA', critical: false, proposals: offered },
    { kind: 'NONCE', critical: false, data: ni },
    { kind: 'KE', critical: false, group: g, data: ke.publicKey },
  ];
  return { spi, ni, ke, group: g, offered, invalidKeRetries: retries, payloads };
}

/**
 * RFC 7296 §2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with the old SA's PRF, then
 * {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) with the new one.
 */
function deriveNew(ctx: SaContext, chosen: Proposal, shared: Uint8Array, ni: Uint8Array, nr: Uint8Array, spiI: Uint8Array, spiR: Uint8Array, role: 'initiator' | 'responder', out: Effect[]): SaKeys {
  const alg = negotiatedAlgorithms(chosen);
  const skeyseed = deriveRekeySkeyseed(ctx.keys!.prfId, ctx.keys!.skD, shared, ni, nr);
  const k = deriveIkeKeys(alg.prf, alg.encr, alg.integ, skeyseed, ni, nr, spiI, spiR);
  zero(skeyseed, shared);
  out.push(...exportKeys(ctx.cfg, alg, k, spiI, spiR)); // --save-keys only
  const cI = createSkCipher(alg.encr, alg.integ, k.skEi.slice(), k.skAi.slice());
  const cR = createSkCipher(alg.encr, alg.integ, k.skEr.slice(), k.skAr.slice());
  zero(k.skEi, k.skAi, k.skEr, k.skAr);
  const i = role === 'initiator';
  return { prfId: alg.prf, skD: k.skD, skPi: k.skPi, skPr: k.skPr, out: i ? cI : cR, in: i ? cR : cI };
}

/** Evidence of failure-map row F6 for the IKE SA; `expireAt` defaults to its hard lifetime. */
export function ikeEvidence(ctx: SaContext, e: Pick<RekeyEvidence, 'result' | 'notify' | 'ours'> & { group?: number; expireAt?: number; rekeyS?: number; lifeS?: number }): RekeyEvidence {
  const expireAt = 'expireAt' in e ? e.expireAt : ctx.life?.expireAt;
  return {
    scope: 'ike',
    result: e.result,
    ...(e.notify ? { notify: e.notify } : {}),
    lifetimes: { rekeyS: e.rekeyS ?? ctx.cfg.rekeyTime ?? DEFAULT_IKE_REKEY_S, lifeS: e.lifeS ?? ctx.cfg.lifeTime, expiresInS: expireAt === undefined ? undefined : Math.round((expireAt - ctx.now) / 1000) },
    pfsGroup: groupName(e.group),
    ...(e.ours ? { ours: e.ours } : {}),
    oldSpis: [spiHex(ctx.spiI), spiHex(ctx.spiR)],
    newSpis: [],
  };
}

type IkeRekeyRequestResult = { response: Payload[]; created?: NewIkeSa };

/** Rekey responder. `busy`: a Child SA exchange of ours is in flight, or the IKE SA is closing (RFC 7296 §2.25.2). */
function processIkeRekeyRequest(ctx: SaContext, p: Payload[], busy: boolean, out: Effect[]): IkeRekeyRequestResult {
  if (busy) return { response: [notify(NotifyType.TEMPORARY_FAILURE)] };
  const sa = first(p, 'SA')!;
  const nonce = first(p, 'NONCE');
  const ke = first(p, 'KE');
  if (!nonce || !ke) return { response: [notify(NotifyType.INVALID_SYNTAX)] };
  const offered = sa.proposals.filter((x) => x.protocol === ProtocolId.IKE && x.spi.length === 8);
  const chosen = selectProposal(offered, offerOf(ctx, new Uint8Array(8)));
  if (!chosen) {
    const ours = ctx.cfg.proposals.map(formatProposal);
    out.push(event({ type: 'failure', row: 'F6', message: 'the peer\'s IKE SA rekey offers no proposal we accept', evidence: ikeEvidence(ctx, { result: 'refused', notify: 'NO_PROPOSAL_CHOSEN', ours: [...ours, ...sa.proposals.map((x) => `peer: ${formatProposal(x)}`)] }) }));
    return { response: [notify(NotifyType.NO_PROPOSAL_CHOSEN)] };
  }
  const group = groupsOf(chosen)[0];
  // RFC 7296 §1.3.2, §1.2: the KE must be for the group we chose
  if (!group || ke.group !== group) return { response: [notify(NotifyType.INVALID_KE_PAYLOAD, Uint8Array.from([group >> 8, group & 0xff]))] };
  const kex = (ctx.cfg.keyExchange ?? createKeyExchange)(group);
  let shared: Uint8Array;
  try {
    shared = kex.computeSharedSecret(ke.data);
  } catch {
    kex.dispose();
    return { response: [notify(NotifyType.INVALID_SYNTAX)] };
  }
  const spiI = (offered.find((x) => x.number === chosen.number) ?? chosen).spi.slice();
  const spiR = randomIkeSpi(ctx.cfg.random);
  const ni = nonce.data.slice();
  const nr = newNonce(ctx);
  const keys = deriveNew(ctx, chosen, shared, ni, nr, spiI, spiR, 'responder', out);
  const response: Payload[] = [
    { kind: 'SA', critical: false, proposals: [{ ...chosen, spi: spiR }] },
    { kind: 'NONCE', critical: false, data: nr },
    { kind: 'KE', critical: false, group, data: kex.publicKey.slice() },
  ];
  kex.dispose();
  return { response, created: { role: 'responder', spiI, spiR, ni, nr, chosen: { ...chosen, spi: new Uint8Array(0) }, keys } };
}

type IkeRekeyOutcome =
  | { kind: 'retry-now'; group: number; retries: number }
  | { kind: 'retry-later' } // TEMPORARY_FAILURE, refusal or bad answer
  | { kind: 'done'; created: NewIkeSa };

/** Rekey initiator: the CREATE_CHILD_SA response. `collision`: the peer's rekey we answered meanwhile (§2.8.1). */
function processIkeRekeyResponse(ctx: SaContext, pend: IkeRekeyPending, collision: NewIkeSa | undefined, p: Payload[], out: Effect[]): IkeRekeyOutcome {
  const ours = pend.offered.map(formatProposal);
  const fail = (result: RekeyEvidence['result'], message: string, notifyText?: string): IkeRekeyOutcome => {
    pend.ke?.dispose();
    // not a failure when the peer's own rekey, which we answered, replaces the IKE SA anyway (§2.8.1)
    // the IKE SA stays in use and the rekey is tried again later, until the hard lifetime
    // (strongSwan's ike_rekey: "IKE_SA rekeying failed, trying again in N seconds")
    if (!collision) out.push(event({ type: 'failure', row: 'F6', message: `${message}; it stays in use and the rekey is tried again in 2-10 s`, evidence: ikeEvidence(ctx, { result, notify: notifyText, ours, group: pend.group }) }));
    return { kind: 'retry-later' };
  };
  const err = firstError(p);
  if (err) {
    const name = notifyName(err.notifyType);
    if (err.notifyType === NotifyType.INVALID_KE_PAYLOAD) {
      const want = err.data.length === 2 ? (err.data[0] << 8) | err.data[1] : -1;
      if (pend.offered.some((x) => groupsOf(x).includes(want)) && want !== pend.group && pend.invalidKeRetries < MAX_INVALID_KE_RETRIES) {
        out.push(event({ type: 'invalid-ke', requested: want }));
        pend.ke?.dispose();
        return { kind: 'retry-now', group: want, retries: pend.invalidKeRetries + 1 };
      }
    }
    if (err.notifyType === NotifyType.TEMPORARY_FAILURE) {
      pend.ke?.dispose();
      return { kind: 'retry-later' }; // RFC 7296 §2.25: another exchange was running on the peer
    }
    return fail('refused', `the peer refused to rekey the IKE SA (${name})`, name);
  }
  const sa = first(p, 'SA');
  const nonce = first(p, 'NONCE');
  const ke = first(p, 'KE');
  const chosen = sa?.proposals[0];
  if (!sa || !nonce || !ke || !chosen || sa.proposals.length !== 1 || chosen.spi.length !== 8 || !proposalAccepts(pend.offered, chosen) || ke.group !== pend.group || groupsOf(chosen)[0] !== pend.group)
    return fail('invalid-response', 'the peer\'s answer to our IKE SA rekey is not one we can accept');
  let shared: Uint8Array;
  try {
    shared = pend.ke!.computeSharedSecret(ke.data);
  } catch {
    return fail('invalid-response', 'the peer\'s KE value in the IKE SA rekey is invalid');
  }
  pend.ke!.dispose();
  const nr = nonce.data.slice();
  const keys = deriveNew(ctx, chosen, shared, pend.ni, nr, pend.spi, chosen.spi, 'initiator', out);
  const created: NewIkeSa = { role: 'initiator', spiI: pend.spi, spiR: chosen.spi.slice(), ni: pend.ni, nr, chosen: { ...chosen, spi: new Uint8Array(0) }, keys };
  return { kind: 'done', created };
}
