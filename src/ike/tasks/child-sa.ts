// The Child SA carried by IKE_AUTH (RFC 7296 §1.2; CREATE_CHILD_SA reuses it): ESP proposals
// with 4-byte SPIs, traffic selector narrowing (§2.9), Child SA keys (§2.17).
import { NotifyType, ProtocolId, TransformType } from '../../wire/constants.js';
import type { Payload, Proposal, TrafficSelector } from '../../wire/types.js';
import { formatProposal, proposalAccepts, selectProposal } from '../../crypto/proposal.js';
import { narrowSelectors, parseSelector, selectorContains } from '../../wire/selectors.js';
import type { ChildConfig } from '../config.js';
import { event, type Effect } from '../effects.js';
import { findNotify, first, firstError, notify, notifyName } from '../payloads.js';
import { randomEspSpi, type SaContext } from '../sa-context.js';
import { childSaInfo, formatSelectors as fmt } from '../child-sas.js';
import { spiBytes, spiHex, spiNumber } from '../../wire/spi.js';

/** The Child SA an IKE_AUTH request offers, until the response settles it (the IkeAuth task keeps it). */
export interface ChildOffer {
  cfg: ChildConfig;
  spiIn: number;
  offered: Proposal[];
  tsi: TrafficSelector[];
  tsr: TrafficSelector[];
}

/**
 * ESP proposals as sent in IKE_AUTH: numbered, our SPI in each, and without DH transforms,
 * since IKE_AUTH carries no KE payload (RFC 7296 §1.2; strongSwan strips them the same way).
 */
export function espOffer(ps: Proposal[], spi: number): Proposal[] {
  return ps.map((p, i) => ({ ...p, number: i + 1, protocol: ProtocolId.ESP, spi: spiBytes(spi), transforms: p.transforms.filter((t) => t.type !== TransformType.DH) }));
}

/** Initiator: SA, TSi, TSr for the first Child SA (and N(USE_TRANSPORT_MODE), RFC 7296 §1.3.1). */
export function buildChildOffer(ctx: SaContext, cfg: ChildConfig): { offer: ChildOffer; payloads: Payload[] } {
  const spiIn = randomEspSpi(ctx.cfg.random);
  const offered = espOffer(cfg.espProposals, spiIn);
  const offer = { cfg, spiIn, offered, tsi: cfg.localTs, tsr: cfg.remoteTs };
  return { offer, payloads: [
    ...(cfg.mode === 'transport' ? [notify(NotifyType.USE_TRANSPORT_MODE)] : []),
    { kind: 'SA', critical: false, proposals: offered },
    { kind: 'TSi', critical: false, selectors: cfg.localTs },
    { kind: 'TSr', critical: false, selectors: cfg.remoteTs },
  ] };
}

/** `proposed`: our selectors when the peer narrowed them (initiator). */
function install(ctx: SaContext, cfg: ChildConfig, chosen: Proposal, spiIn: number, spiOut: number, localTs: TrafficSelector[], remoteTs: TrafficSelector[], mode: 'tunnel' | 'transport', narrowed: boolean, out: Effect[], proposed?: ChildOffer): void {
  const child = childSaInfo(ctx, { name: cfg.name, chosen, spiIn, spiOut, ni: ctx.ni!, nr: ctx.nr!, weInitiated: ctx.role === 'initiator', mode, localTs, remoteTs, replayWindow: cfg.replayWindow });
  const proposal = child.proposal;
  ctx.children.push({ name: cfg.name, state: 'INSTALLED', spiIn, spiOut, proposal, mode, localTs, remoteTs });
  out.push(
    { type: 'install-sa', child },
    { type: 'install-policy', policy: { name: cfg.name, localTs: child.localTs, remoteTs: child.remoteTs, spiIn, spiOut, mode, active: ctx.role === 'initiator' || !!ctx.peerInitialContact } },
    event({ type: 'child-installed', name: cfg.name, spiIn: spiHex(spiIn), spiOut: spiHex(spiOut), proposal, localTs: child.localTs, remoteTs: child.remoteTs, narrowed, ...(proposed ? { proposed: { localTs: fmt(proposed.tsi), remoteTs: fmt(proposed.tsr) } } : {}) }),
  );
}

/** Initiator: the Child SA part of the IKE_AUTH response. */
export function processChildResponse(ctx: SaContext, pend: ChildOffer, p: Payload[], out: Effect[]): void {
  const cfg = pend.cfg;
  const ours = cfg.espProposals.map(formatProposal);
  const err = firstError(p);
  const sa = first(p, 'SA');
  const tsi = first(p, 'TSi');
  const tsr = first(p, 'TSr');
  if (err || !sa || !tsi || !tsr) {
    const name = err ? notifyName(err.notifyType) : 'missing SA/TS payloads';
    if (err?.notifyType === NotifyType.NO_PROPOSAL_CHOSEN) {
      // RFC 7296 §1.3.1: a peer without transport mode may refuse the Child SA for that alone
      const transport = cfg.mode === 'transport' ? ' (we asked for transport mode with USE_TRANSPORT_MODE: the peer may not support it, e.g. strongSwan kernel-libipsec)' : '';
      out.push(event({ type: 'failure', row: 'F2', message: `the peer accepted none of our ESP proposals for ${cfg.name}${transport}`, evidence: { scope: 'child', ours, theirs: [], notify: name, ...(transport ? { mode: 'transport' as const } : {}) } }));
    }
    else if (err?.notifyType === NotifyType.TS_UNACCEPTABLE)
      out.push(event({ type: 'failure', row: 'F4', message: `the peer refused the traffic selectors of ${cfg.name}`, evidence: { child: cfg.name, localTs: fmt(cfg.localTs), remoteTs: fmt(cfg.remoteTs), notify: name } }));
    else out.push(event({ type: 'notify', exchange: 'IKE_AUTH', notify: name }));
    return;
  }
  const chosen = sa.proposals[0];
  if (sa.proposals.length !== 1 || chosen.spi.length !== 4 || !proposalAccepts(pend.offered, chosen)) {
    out.push(event({ type: 'failure', row: 'F2', message: `the peer chose an ESP proposal we did not offer for ${cfg.name}`, evidence: { scope: 'child', ours, theirs: sa.proposals.map(formatProposal) } }));
    return;
  }
  // RFC 7296 §2.9: the responder may only narrow what we proposed
  const inside = (got: TrafficSelector[], offered: TrafficSelector[]) => got.length > 0 && got.every((g) => offered.some((o) => selectorContains(o, g)));
  if (!inside(tsi.selectors, pend.tsi) || !inside(tsr.selectors, pend.tsr)) {
    out.push(event({ type: 'failure', row: 'F4', message: `the peer returned selectors outside ours for ${cfg.name}`, evidence: { child: cfg.name, localTs: fmt(pend.tsi), remoteTs: fmt(pend.tsr), peerTsi: fmt(tsi.selectors), peerTsr: fmt(tsr.selectors) } }));
    return;
  }
  // RFC 7296 §2.9: a narrowed Child SA is still one the responder may choose: install it and
  // say so (a warning, as strongSwan does), rather than fail and retry into the same answer
  // with a virtual IP our side is that address (swanctl local_ts = dynamic): TSi narrowed to it is what we asked for
  const expectedTsi = ctx.ownVips ? narrowSelectors(pend.tsi, ctx.ownVips.addresses.map(parseSelector)) : pend.tsi;
  const narrowed = !sameList(tsi.selectors, expectedTsi) || !sameList(tsr.selectors, pend.tsr);
  const mode = findNotify(p, NotifyType.USE_TRANSPORT_MODE) ? 'transport' : 'tunnel'; // RFC 7296 §1.3.1
  install(ctx, cfg, chosen, pend.spiIn, spiNumber(chosen.spi), tsi.selectors, tsr.selectors, mode, narrowed, out, narrowed ? pend : undefined);
}

/** Responder: pick a child config, a proposal and narrowed selectors; returns the response payloads. */
export function processChildRequest(ctx: SaContext, p: Payload[], out: Effect[]): Payload[] {
  const sa = first(p, 'SA');
  const tsi = first(p, 'TSi');
  const tsr = first(p, 'TSr');
  if (!sa || !tsi || !tsr) return []; // childless IKE_AUTH (RFC 6023): nothing to do
  const theirs = sa.proposals.map(formatProposal);
  let proposalMatched = false;
  const tsFailures: { cfg: ChildConfig; narrowedLocal: TrafficSelector[]; narrowedRemote: TrafficSelector[] }[] = [];
  for (const cfg of ctx.cfg.children) {
    const configured = espOffer(cfg.espProposals, 0);
    const chosen = selectProposal(sa.proposals.filter((o) => o.protocol === ProtocolId.ESP && o.spi.length === 4), configured);
    if (!chosen) continue;
    proposalMatched = true;
    // RFC 7296 §2.9: TSi is the initiator's side (our remote), TSr ours
    const remoteTs = narrowSelectors(cfg.remoteTs, tsi.selectors);
    const localTs = narrowSelectors(cfg.localTs, tsr.selectors);
    if (remoteTs.length === 0 || localTs.length === 0) {
      tsFailures.push({ cfg, narrowedLocal: localTs, narrowedRemote: remoteTs });
      continue;
    }
    const offered = sa.proposals.find((o) => o.number === chosen.number) ?? chosen;
    const spiOut = spiNumber(offered.spi);
    const spiIn = randomEspSpi(ctx.cfg.random);
    const transport = cfg.mode === 'transport' && !!findNotify(p, NotifyType.USE_TRANSPORT_MODE);
    const narrowed = !sameList(remoteTs, tsi.selectors) || !sameList(localTs, tsr.selectors);
    install(ctx, cfg, chosen, spiIn, spiOut, localTs, remoteTs, transport ? 'transport' : 'tunnel', narrowed, out);
    return [
      ...(transport ? [notify(NotifyType.USE_TRANSPORT_MODE)] : []),
      { kind: 'SA', critical: false, proposals: [{ ...chosen, number: offered.number, spi: spiBytes(spiIn) }] },
      { kind: 'TSi', critical: false, selectors: remoteTs },
      { kind: 'TSr', critical: false, selectors: localTs },
    ];
  }
  if (!proposalMatched) {
    const ours = ctx.cfg.children.flatMap((c) => c.espProposals.map(formatProposal));
    out.push(event({ type: 'failure', row: 'F2', message: 'none of the peer\'s ESP proposals is acceptable', evidence: { scope: 'child', ours, theirs, notify: 'NO_PROPOSAL_CHOSEN' } }));
    return [notify(NotifyType.NO_PROPOSAL_CHOSEN)];
  }
  const f = tsFailures[0];
  out.push(event({ type: 'failure', row: 'F4', message: `the peer's traffic selectors do not intersect ours (${f.cfg.name})`, evidence: { child: f.cfg.name, localTs: fmt(f.cfg.localTs), remoteTs: fmt(f.cfg.remoteTs), peerTsi: fmt(tsi.selectors), peerTsr: fmt(tsr.selectors), narrowedLocal: fmt(f.narrowedLocal), narrowedRemote: fmt(f.narrowedRemote), notify: 'TS_UNACCEPTABLE' } }));
  return [notify(NotifyType.TS_UNACCEPTABLE)];
}

function sameList(a: TrafficSelector[], b: TrafficSelector[]): boolean {
  const s = (x: TrafficSelector[]) => fmt(x).sort().join(',');
  return a.length === b.length && s(a) === s(b);
}
