// The IKE_SA_INIT exchange (RFC 7296 §1.2): SA, KE, Nonce, NAT detection (§2.23), COOKIE
// (§2.6), INVALID_KE_PAYLOAD (§1.2) and the key derivation that ends it (§2.14).
import { DhGroup, ExchangeType, NAT_T_PORT, NotifyType, TransformType } from '../../wire/constants.js';
import type { IkeMessage, Payload, Proposal } from '../../wire/types.js';
import { createKeyExchange } from '../../crypto/ke/index.js';
import { deriveIkeKeys, deriveSkeyseed, zero } from '../../crypto/kdf.js';
import { createSkCipher } from '../../crypto/sk.js';
import { formatProposal, negotiatedAlgorithms, proposalAccepts, selectProposal } from '../../crypto/proposal.js';
import { supportedHashes } from '../auth/signature.js';
import { MAX_COOKIE_RETRIES, MAX_INVALID_KE_RETRIES, type Endpoint } from '../config.js';
import { event, type Effect } from '../effects.js';
import { detectNat, natPayloads, withForcedEncap } from '../nat.js';
import { exportKeys } from '../export-keys.js';
import { all, allNotifies, decodeHashList, encodeHashList, findNotify, first, firstError, notify, notifyName } from '../payloads.js';
import { newNonce, type SaContext } from '../sa-context.js';
import { certReqPayload } from './authenticate.js';
import { formatEndpoint } from '../../wire/ip-text.js';
import { acceptingProposal, allProposalText } from '../select-config.js';
import type { GaveUp, Received, Task, TaskResult } from '../task.js';
import { IkeAuth } from './ike-auth.js';

/** IKE_SA_INIT, either role. The initiator keeps the DH group the responder asked for. */
export class IkeInit implements Task {
  readonly kind = 'ike-init';
  readonly exchange = ExchangeType.IKE_SA_INIT;
  private group: number | undefined;
  constructor(private readonly role: 'initiator' | 'responder') {}

  build(ctx: SaContext): Payload[] {
    return buildInitRequest(ctx, this.group);
  }

  process(ctx: SaContext, m: Received, out: Effect[]): TaskResult {
    if (this.role === 'responder') {
      const r = processInitRequest(ctx, m.msg, m.bytes, m.path.from, m.path.to, out);
      if (r.result === 'ignored') return { ignored: true };
      return r.result === 'ok' ? { response: r.response, connecting: true } : { response: r.response, end: { to: 'FAILED', reason: 'failed' } };
    }
    const r = processInitResponse(ctx, m.msg, m.bytes, out);
    if (r === 'ignored') return { ignored: true };
    if (r === 'failed') return { end: { to: 'FAILED', reason: 'failed' } };
    if (typeof r === 'object') {
      this.group = r.group; // RFC 7296 §1.2: again with the group the responder asked for
      return { again: true };
    }
    if (r === 'retry') return { again: true };
    // RFC 7296 §2.23: with a NAT in the path, continue on port 4500
    if (ctx.nat && (ctx.nat.local || ctx.nat.remote)) {
      ctx.local = { ...ctx.local, port: NAT_T_PORT };
      ctx.remote = { ...ctx.remote, port: NAT_T_PORT };
    }
    return { next: [new IkeAuth('initiator')] };
  }

  giveUp(_ctx: SaContext, g: GaveUp, out: Effect[]): TaskResult {
    // failure map F1: IKE_SA_INIT never answered
    out.push(event({ type: 'failure', row: 'F1', message: `no response to IKE_SA_INIT from ${formatEndpoint(g.to)} after ${g.retransmits} retransmits`, evidence: { retransmits: g.retransmits, to: g.to, from: g.from, exchange: 'IKE_SA_INIT' } }));
    return { end: { to: 'FAILED', reason: 'failed' } };
  }
}

export const usesCerts = (ctx: SaContext): boolean =>
  ctx.cfg.localAuth.method === 'pubkey' || ctx.cfg.remoteAuth.method === 'pubkey';

const dhGroupsOf = (p: Proposal): number[] => p.transforms.filter((t) => t.type === TransformType.DH).map((t) => t.id);

/** Proposals as sent: numbered from 1 (RFC 7296 §3.3.1), no SPI in IKE_SA_INIT. */
const numbered = (ps: Proposal[]): Proposal[] => ps.map((p, i) => ({ ...p, number: i + 1, spi: new Uint8Array(0) }));

function optionalPayloads(ctx: SaContext): Payload[] {
  // RFC 7427 §4: announce the hashes we can verify when certificates are in use
  return usesCerts(ctx) ? [notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, encodeHashList(supportedHashes()))] : [];
}

/** Initiator: the IKE_SA_INIT request (again with COOKIE first, or another KE group, when asked). */
function buildInitRequest(ctx: SaContext, group?: number): Payload[] {
  if (!ctx.ke || (group !== undefined && ctx.ke.group !== group)) {
    ctx.ke?.dispose();
    const g = group ?? dhGroupsOf(ctx.cfg.proposals[0])[0] ?? DhGroup.NONE;
    ctx.ke = (ctx.cfg.keyExchange ?? createKeyExchange)(g);
  }
  ctx.ni ??= newNonce(ctx);
  const payloads: Payload[] = [];
  if (ctx.cookie) payloads.push(notify(NotifyType.COOKIE, ctx.cookie)); // RFC 7296 §2.6: COOKIE comes first
  payloads.push(
    { kind: 'SA', critical: false, proposals: numbered(ctx.cfg.proposals) },
    { kind: 'KE', critical: false, group: ctx.ke.group, data: ctx.ke.publicKey },
    { kind: 'NONCE', critical: false, data: ctx.ni },
    ...natPayloads(ctx, ctx.local, ctx.remote),
    ...optionalPayloads(ctx),
  );
  return payloads;
}

/** RFC 7296 §2.14: SKEYSEED, the seven keys, and the SK ciphers for each direction. */
function deriveKeys(ctx: SaContext, shared: Uint8Array, out: Effect[]): void {
  const alg = negotiatedAlgorithms(ctx.chosen!);
  const skeyseed = deriveSkeyseed(alg.prf, ctx.ni!, ctx.nr!, shared); // RFC 7296 §2.14: SKEYSEED = prf(Ni | Nr, g^ir)
  const k = deriveIkeKeys(alg.prf, alg.encr, alg.integ, skeyseed, ctx.ni!, ctx.nr!, ctx.spiI, ctx.spiR);
  zero(skeyseed, shared);
  out.push(...exportKeys(ctx.cfg, alg, k, ctx.spiI, ctx.spiR)); // --save-keys only
  // copies: whether or not the cipher keeps its own copy, the derived arrays are zeroed here
  const cI = createSkCipher(alg.encr, alg.integ, k.skEi.slice(), k.skAi.slice());
  const cR = createSkCipher(alg.encr, alg.integ, k.skEr.slice(), k.skAr.slice());
  zero(k.skEi, k.skAi, k.skEr, k.skAr);
  const initiator = ctx.role === 'initiator';
  ctx.keys = { prfId: alg.prf, skD: k.skD, skPi: k.skPi, skPr: k.skPr, out: initiator ? cI : cR, in: initiator ? cR : cI };
  ctx.ke?.dispose();
  ctx.ke = undefined;
}

/** RFC 7296 §2.23: the hashes use the SPIs of the message's own header (SPIr zero in the request). */
function recordNat(ctx: SaContext, msg: IkeMessage, from: Endpoint, to: Endpoint): void {
  const payloads = msg.payloads;
  const src = allNotifies(payloads, NotifyType.NAT_DETECTION_SOURCE_IP).map((n) => n.data);
  const dst = allNotifies(payloads, NotifyType.NAT_DETECTION_DESTINATION_IP).map((n) => n.data);
  const nat = detectNat(msg.header.spiI, msg.header.spiR, src, dst, from, to) ?? { local: false, remote: false };
  ctx.nat = withForcedEncap(nat, from, ctx.cfg.remoteAddrAny ? undefined : ctx.cfg.remote);
  const sh = findNotify(payloads, NotifyType.SIGNATURE_HASH_ALGORITHMS);
  if (sh) ctx.peerHashes = decodeHashList(sh.data);
  ctx.peerCertReq ||= payloads.some((p) => p.kind === 'CERTREQ');
}

/** 'retry': again with the COOKIE; `{ group }`: again with that KE group; 'keys': SK_* derived. */
type InitResponseResult = 'retry' | { group: number } | 'keys' | 'failed' | 'ignored';

/** Initiator: process the IKE_SA_INIT response. */
function processInitResponse(ctx: SaContext, msg: IkeMessage, bytes: Uint8Array, out: Effect[]): InitResponseResult {
  const p = msg.payloads;
  const ours = ctx.cfg.proposals.map(formatProposal);
  const cookie = findNotify(p, NotifyType.COOKIE);
  if (cookie && !first(p, 'SA')) {
    // RFC 7296 §2.6: retry with the cookie, same SPIi and nonce
    if (++ctx.cookieRetries > MAX_COOKIE_RETRIES) return 'ignored';
    ctx.cookie = cookie.data.slice();
    out.push(event({ type: 'cookie-requested' }));
    return 'retry';
  }
  const invalidKe = findNotify(p, NotifyType.INVALID_KE_PAYLOAD);
  if (invalidKe) {
    // RFC 7296 §1.2: the responder names the group it wants in two octets
    const want = invalidKe.data.length === 2 ? (invalidKe.data[0] << 8) | invalidKe.data[1] : -1;
    const offered = ctx.cfg.proposals.flatMap(dhGroupsOf);
    if (!offered.includes(want) || want === ctx.ke?.group || ++ctx.invalidKeRetries > MAX_INVALID_KE_RETRIES) {
      out.push(event({ type: 'failure', row: 'F2', message: `peer asked for DH group ${want}, which we do not offer`, evidence: { scope: 'ike', ours, theirs: [], notify: 'INVALID_KE_PAYLOAD' } }));
      return 'failed';
    }
    out.push(event({ type: 'invalid-ke', requested: want }));
    return { group: want };
  }
  const err = firstError(p);
  if (err) {
    const name = notifyName(err.notifyType);
    if (err.notifyType === NotifyType.NO_PROPOSAL_CHOSEN)
      out.push(event({ type: 'failure', row: 'F2', message: 'the peer accepted none of our IKE proposals', evidence: { scope: 'ike', ours, theirs: [], notify: name } }));
    else out.push(event({ type: 'notify', exchange: 'IKE_SA_INIT', notify: name }));
    return 'failed';
  }
  const sa = first(p, 'SA');
  const ke = first(p, 'KE');
  const nonce = first(p, 'NONCE');
  if (!sa || !ke || !nonce) return 'ignored';
  const chosen = sa.proposals[0];
  // RFC 7296 §2.7: exactly one proposal, one we offered
  if (sa.proposals.length !== 1 || !proposalAccepts(ctx.cfg.proposals, chosen)) {
    out.push(event({ type: 'failure', row: 'F2', message: 'the peer chose an IKE proposal we did not offer', evidence: { scope: 'ike', ours, theirs: sa.proposals.map(formatProposal) } }));
    return 'failed';
  }
  if (!ctx.ke || ke.group !== ctx.ke.group || !dhGroupsOf(chosen).includes(ke.group)) return 'ignored';
  const shared = ctx.ke.computeSharedSecret(ke.data); // throws KeyExchangeError: dropped as malformed
  ctx.spiR = msg.header.spiR.slice();
  ctx.nr = nonce.data.slice();
  ctx.chosen = chosen;
  ctx.chosenText = formatProposal(chosen);
  ctx.initResponse = bytes.slice();
  deriveKeys(ctx, shared, out);
  recordNat(ctx, msg, ctx.remote, ctx.local);
  return 'keys';
}

type InitRequestResult =
  | { result: 'ok'; response: Payload[] }
  | { result: 'refused'; response: Payload[] } // answered with an error; the SA ends
  | { result: 'ignored' };

/** Responder: process an IKE_SA_INIT request; `from`/`to` are the datagram's addresses. */
function processInitRequest(ctx: SaContext, msg: IkeMessage, bytes: Uint8Array, from: Endpoint, to: Endpoint, out: Effect[]): InitRequestResult {
  const p = msg.payloads;
  const sa = first(p, 'SA');
  const ke = first(p, 'KE');
  const nonce = first(p, 'NONCE');
  if (!sa || !ke || !nonce) return { result: 'ignored' };
  // prefer a proposal whose DH group is the one the initiator already sent a KE for
  const withKeGroup = sa.proposals
    .map((o) => ({ ...o, transforms: o.transforms.filter((t) => t.type !== TransformType.DH || t.id === ke.group) }))
    .filter((o) => dhGroupsOf(o).length > 0);
  // a gateway tries each connection configured for this path, best address match first (as
  // strongSwan does): the first that accepts any offer negotiates, even if that takes an
  // INVALID_KE_PAYLOAD round, before a worse-matching one that happens to fit the KE sent
  const candidates = ctx.candidates ?? [ctx.cfg];
  const pick = () => {
    for (const cfg of candidates) {
      const configured = numbered(cfg.proposals);
      const chosen = selectProposal(withKeGroup, configured) ?? selectProposal(sa.proposals, configured);
      if (chosen) return { cfg, chosen };
    }
    return undefined;
  };
  const picked = pick();
  if (!picked) {
    out.push(event({ type: 'failure', row: 'F2', message: 'none of the peer\'s IKE proposals is acceptable', evidence: { scope: 'ike', ours: allProposalText(candidates), theirs: sa.proposals.map(formatProposal), notify: 'NO_PROPOSAL_CHOSEN' } }));
    return { result: 'refused', response: [notify(NotifyType.NO_PROPOSAL_CHOSEN)] };
  }
  const chosen = picked.chosen;
  ctx.cfg = picked.cfg;
  // IKE_AUTH chooses among the connections that would have negotiated this IKE SA
  if (ctx.candidates) ctx.candidates = acceptingProposal(ctx.candidates, chosen);
  const group = dhGroupsOf(chosen)[0];
  if (group !== ke.group) {
    // RFC 7296 §1.2: INVALID_KE_PAYLOAD carries the group we want; the responder keeps no state
    return { result: 'refused', response: [notify(NotifyType.INVALID_KE_PAYLOAD, Uint8Array.from([group >> 8, group & 0xff]))] };
  }
  const kex = (ctx.cfg.keyExchange ?? createKeyExchange)(group);
  let shared: Uint8Array;
  try {
    shared = kex.computeSharedSecret(ke.data);
  } catch (e) {
    kex.dispose();
    throw e; // KeyExchangeError: counted as malformed by the caller
  }
  ctx.ke = kex;
  ctx.ni = nonce.data.slice();
  ctx.nr = newNonce(ctx);
  ctx.chosen = chosen;
  ctx.chosenText = formatProposal(chosen);
  ctx.initRequest = bytes.slice();
  recordNat(ctx, msg, from, to);
  const response: Payload[] = [
    { kind: 'SA', critical: false, proposals: [chosen] },
    { kind: 'KE', critical: false, group, data: kex.publicKey.slice() },
    { kind: 'NONCE', critical: false, data: ctx.nr },
    ...natPayloads(ctx, to, from),
    ...(ctx.cfg.remoteAuth.method === 'pubkey' ? [certReqPayload(ctx.cfg.remoteAuth.trustAnchors)] : []),
    ...optionalPayloads(ctx),
  ];
  deriveKeys(ctx, shared, out);
  return { result: 'ok', response };
}

