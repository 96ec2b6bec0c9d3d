// The Child SAs of one IKE SA as its tasks see them: finding one, its configuration, the
// install record with its keys (RFC 7296 §2.17), moving the policy to a rekeyed SA
// (make-before-break), removing one, and the evidence of failure-map row F6.
import { DhGroup, TransformType, nameOf } from '../wire/constants.js';
import type { Proposal, TrafficSelector } from '../wire/types.js';
import { deriveChildKeys } from '../crypto/kdf.js';
import { formatProposal, negotiatedAlgorithms } from '../crypto/proposal.js';
import { formatSelector } from '../wire/selectors.js';
import { spiHex } from '../wire/spi.js';
import type { ChildConfig } from './config.js';
import { event, type ChildSaInfo, type Effect, type RekeyEvidence } from './effects.js';
import { DEFAULT_CHILD_REKEY_S } from './lifetimes.js';
import type { ChildSa, SaContext } from './sa-context.js';

export type ChildRemoval = 'local' | 'peer' | 'ike-deleted' | 'rekeyed' | 'redundant' | 'expired';

export const formatSelectors = (ts: TrafficSelector[]): string[] => ts.map(formatSelector);

/** The key exchange groups of a proposal, without NONE (RFC 7296 §3.3.2 transform type 4). */
export const groupsOf = (p: Proposal): number[] => p.transforms.filter((t) => t.type === TransformType.DH && t.id !== DhGroup.NONE).map((t) => t.id);
export const groupName = (g: number | undefined): string | null => (g ? nameOf(DhGroup, g) : null);

/** A Child SA still in use, named by either of its SPIs. */
export const findChild = (ctx: SaContext, spi: number): ChildSa | undefined =>
  ctx.children.find((c) => (c.spiIn === spi || c.spiOut === spi) && c.state !== 'DELETED');

export const configOf = (ctx: SaContext, c: ChildSa): ChildConfig | undefined => ctx.cfg.children.find((x) => x.name === c.name);

/** What the daemon needs to install a negotiated Child SA (effects.ts `install-sa`). */
export interface ChildSaParams {
  name: string;
  chosen: Proposal;
  spiIn: number;
  spiOut: number;
  ni: Uint8Array;
  nr: Uint8Array;
  /** g^ir (new) of a CREATE_CHILD_SA with KE; absent for IKE_AUTH and rekeys without PFS. */
  shared?: Uint8Array;
  /** We sent the request of the exchange that made this SA. */
  weInitiated: boolean;
  mode: 'tunnel' | 'transport';
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  replayWindow?: number;
}

/** The install-sa record of a Child SA, keys included. */
export function childSaInfo(ctx: SaContext, c: ChildSaParams): ChildSaInfo {
  const alg = negotiatedAlgorithms(c.chosen);
  // RFC 7296 §2.17: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)
  const k = deriveChildKeys(ctx.keys!.prfId, ctx.keys!.skD, c.ni, c.nr, c.shared, alg.encr, alg.integ ?? 0);
  // RFC 7296 §2.17: keys "from the initiator to the responder" come first, the initiator being
  // the one who sent this exchange's request (for CREATE_CHILD_SA not always the IKE initiator)
  const i = c.weInitiated;
  return {
    name: c.name,
    conn: ctx.cfg.name,
    spiIn: c.spiIn,
    spiOut: c.spiOut,
    proposal: formatProposal(c.chosen),
    encr: alg.encr,
    integ: alg.integ ?? 0,
    esn: !!alg.esn,
    keysIn: i ? { encr: k.encrR, integ: k.integR } : { encr: k.encrI, integ: k.integI },
    keysOut: i ? { encr: k.encrI, integ: k.integI } : { encr: k.encrR, integ: k.integR },
    mode: c.mode,
    localTs: formatSelectors(c.localTs),
    remoteTs: formatSelectors(c.remoteTs),
    replayWindow: c.replayWindow,
    local: { ...ctx.local },
    remote: { ...ctx.remote },
    encap: !!ctx.nat && (ctx.nat.local || ctx.nat.remote),
  };
}

/** Make-before-break step 2 (src/daemon): the policy moves from the SA `c` replaces to `c`. */
export function switchOutbound(ctx: SaContext, c: ChildSa, out: Effect[]): void {
  const from = c.replaces;
  if (!from || c.ownsPolicy !== false) return;
  const prev = ctx.children.find((x) => x.spiIn === from.spiIn);
  if (prev) prev.ownsPolicy = false;
  c.ownsPolicy = true;
  c.replaces = undefined;
  out.push({ type: 'switch-outbound', name: c.name, spiIn: c.spiIn, spiOut: c.spiOut, from: { ...from } });
}

export function rekeyedEvent(old: ChildSa, c: ChildSa): Effect {
  return event({ type: 'child-rekeyed', name: c.name, oldSpiIn: spiHex(old.spiIn), oldSpiOut: spiHex(old.spiOut), newSpiIn: spiHex(c.spiIn), newSpiOut: spiHex(c.spiOut), pfsGroup: groupName(c.dhGroup) });
}

/** Evidence of failure-map row F6 for a Child SA. */
export function rekeyEvidence(ctx: SaContext, c: ChildSa | undefined, e: Pick<RekeyEvidence, 'result' | 'notify' | 'ours'> & { group?: number; newSpis?: string[]; name?: string }): RekeyEvidence {
  const now = ctx.now;
  const cfg = c && configOf(ctx, c);
  const s = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms / 1000));
  return {
    scope: 'child',
    child: c?.name ?? e.name,
    result: e.result,
    ...(e.notify ? { notify: e.notify } : {}),
    lifetimes: { rekeyS: cfg?.rekeyTime ?? DEFAULT_CHILD_REKEY_S, lifeS: cfg?.lifeTime, expiresInS: s(c?.expireAt === undefined ? undefined : c.expireAt - now) },
    pfsGroup: groupName(e.group ?? c?.dhGroup),
    ...(e.ours ? { ours: e.ours } : {}),
    oldSpis: c ? [spiHex(c.spiIn), spiHex(c.spiOut)] : [],
    newSpis: e.newSpis ?? [],
  };
}

/** Tell the caller to remove a Child SA's state, and its policy if it owns it (make-before-break). */
export function removeChild(ctx: SaContext, c: ChildSa, reason: ChildRemoval, out: Effect[]): void {
  if (c.state === 'DELETED') return;
  c.state = 'DELETED';
  const localTs = formatSelectors(c.localTs);
  const remoteTs = formatSelectors(c.remoteTs);
  if (c.ownsPolicy !== false) out.push({ type: 'remove-policy', policy: { name: c.name, localTs, remoteTs, spiIn: c.spiIn, spiOut: c.spiOut, mode: c.mode } });
  out.push(
    { type: 'remove-sa', name: c.name, spiIn: c.spiIn, spiOut: c.spiOut },
    event({ type: 'child-deleted', name: c.name, spiIn: spiHex(c.spiIn), spiOut: spiHex(c.spiOut), reason }),
  );
  ctx.children = ctx.children.filter((x) => x !== c);
}

export function removeAllChildren(ctx: SaContext, reason: ChildRemoval, out: Effect[]): void {
  for (const c of [...ctx.children]) removeChild(ctx, c, reason, out);
}
