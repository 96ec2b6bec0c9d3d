// Which connection a responder serves a new IKE SA with, when several are configured for the
// path it came on (a gateway): strongSwan's two steps. At IKE_SA_INIT only the addresses are
// known, so the IKE proposals of every connection that matches them are tried in order (the
// best address match first) and the first connection that accepts one is used for the keys.
// At IKE_AUTH the initiator's IDi (and IDr, if it sent one) are known: the connection whose
// identities match best is chosen and authenticates the peer (RFC 7296 §2.15: the responder
// looks up the peer's credentials by IDi). Like strongSwan's backend manager, a connection is
// preferred over another when it matches at least as well on both identity and address and
// better on one; when neither is better, the one that comes first in the file wins.
import { formatProposal, selectProposal } from '../crypto/proposal.js';
import type { IdPayload, Proposal } from '../wire/types.js';
import { formatIdentity, identityMatches, type Identity } from './auth/identity.js';
import type { IkeSaConfig } from './config.js';

/** How well a configured identity matches a received one: 0 no, 1 %any, 2 a pattern with '*', 3 exactly. */
export function idMatch(configured: string | undefined, received: Identity): number {
  if (configured === undefined || configured === '' || configured === '%any') return 1;
  try {
    if (!identityMatches(configured, received)) return 0;
  } catch {
    return 0; // a malformed received identity matches nothing
  }
  return configured.includes('*') ? 2 : 3;
}

/** How well a connection's remote address matched: 2 an exact address, 1 %any. */
export const addressMatch = (c: IkeSaConfig): number => (c.remoteAddrAny ? 1 : 2);

/**
 * IKE_SA_INIT: the candidates whose IKE proposals include `chosen` (selected from the first
 * candidate that accepts any), so that IKE_AUTH only picks among connections that would have
 * negotiated this IKE SA.
 */
export function acceptingProposal(candidates: readonly IkeSaConfig[], chosen: Proposal): IkeSaConfig[] {
  // would this connection have selected it (whatever number the initiator gave it)?
  return candidates.filter((c) => selectProposal([chosen], c.proposals) !== null);
}

export interface Selection {
  cfg: IkeSaConfig;
  /** Why, for the debug log: each candidate with its identity and address match. */
  why: string;
}

/**
 * IKE_AUTH: the candidate that matches the peer's IDi (and our IDr, when the peer sent one:
 * RFC 7296 §2.15 "which of the responder's identities the initiator wants to talk to") best,
 * or undefined when none does.
 */
export function selectByIdentity(candidates: readonly IkeSaConfig[], idi: IdPayload, idr: IdPayload | undefined): Selection | undefined {
  const peer: Identity = { idType: idi.idType, data: idi.data };
  let best: { cfg: IkeSaConfig; id: number; addr: number } | undefined;
  const lines: string[] = [];
  for (const cfg of candidates) {
    const other = idMatch(cfg.remoteId, peer);
    const me = idr ? idMatch(cfg.localId, { idType: idr.idType, data: idr.data }) : 1;
    const addr = addressMatch(cfg);
    lines.push(`${cfg.name} (id ${other}/${me}, address ${addr})`);
    if (other === 0 || me === 0) continue;
    const id = other + me;
    if (!best || (id >= best.id && addr >= best.addr && (id > best.id || addr > best.addr))) best = { cfg, id, addr };
  }
  if (!best) return undefined;
  return { cfg: best.cfg, why: `IDi ${idText(peer)}${idr ? `, IDr ${idText(idr)}` : ''}: ${best.cfg.name} of ${lines.join(', ')}` };
}

/** A received identity as text, or its type when it does not parse. */
export function idText(id: Identity): string {
  try {
    return formatIdentity(id.idType, id.data);
  } catch {
    return `type ${id.idType}`;
  }
}

/** The proposals a refused initiator is told we have: every candidate's, in order, once each. */
export function allProposalText(candidates: readonly IkeSaConfig[]): string[] {
  return [...new Set(candidates.flatMap((c) => c.proposals.map(formatProposal)))];
}
