// Proposal strings (strongSwan syntax) <-> RFC 7296 §3.3 Proposal records, and the
// proposal selection of §2.7 / §3.3.6. Pure functions; configuration is passed in.
import { EsnId, ProtocolId, TransformType } from '../wire/constants.js';
import type { Proposal, Transform } from '../wire/types.js';
import { isAeadEncr, lookupToken, PRF_FOR_INTEG, tokenFor } from './proposal-keywords.js';

export { isAeadEncr } from './proposal-keywords.js';

export type ProposalErrorReason =
  | 'empty' // nothing, or an empty token between two '-'
  | 'unknown-token' // not a keyword at all
  | 'unsupported' // a known algorithm tsvpn does not implement (e.g. 3des, modp1024)
  | 'duplicate' // the same algorithm twice
  | 'not-allowed' // a transform type the protocol does not carry (PRF in ESP, none in IKE)
  | 'missing' // a mandatory transform type is absent
  | 'conflict'; // AEAD mixed with classic ENCR, or AEAD with INTEG

export class ProposalSyntaxError extends Error {
  override readonly name = 'ProposalSyntaxError';
  constructor(
    readonly reason: ProposalErrorReason,
    /** the offending token, or the missing transform type ('encr', 'integ', 'prf', 'dh') */
    readonly token: string,
    readonly proposal: string,
    detail: string,
  ) {
    super(`proposal '${proposal}': ${detail}`);
  }
}

// RFC 7296 §3.3.2 type order used for records and strings: ENCR, INTEG, PRF, DH, ESN
// (the order strongSwan prints, and the order §3.3 lists the types in the example).
const TYPE_ORDER = [TransformType.ENCR, TransformType.INTEG, TransformType.PRF, TransformType.DH, TransformType.ESN];
const sameTransform = (a: Transform, b: Transform) =>
  a.type === b.type && a.id === b.id && a.keyLength === b.keyLength;

function typeRank(type: number): number {
  const i = (TYPE_ORDER as readonly number[]).indexOf(type);
  return i < 0 ? TYPE_ORDER.length + type : i;
}

function sortByType(transforms: Transform[]): Transform[] {
  // Array.prototype.sort is stable: the order within one type is kept.
  return [...transforms].sort((a, b) => typeRank(a.type) - typeRank(b.type));
}

/**
 * Parse one proposal string such as `aes256gcm16-prfsha256-x25519` (IKE) or
 * `aes128-sha256-ecp256-esn` (ESP, with a PFS group). Throws ProposalSyntaxError.
 */
export function parseProposal(text: string, protocol: 'ike' | 'esp'): Proposal {
  const src = text.trim();
  if (src === '') throw new ProposalSyntaxError('empty', '', text, 'is empty');
  const transforms: Transform[] = [];
  for (const raw of src.split('-')) {
    const token = raw.trim().toLowerCase();
    if (token === '') throw new ProposalSyntaxError('empty', raw, text, "has an empty algorithm between two '-'");
    const found = lookupToken(token);
    if (!found) throw new ProposalSyntaxError('unknown-token', raw, text, `unknown algorithm '${raw}'`);
    if (!found.supported) {
      throw new ProposalSyntaxError('unsupported', raw, text, `algorithm '${raw}' is not supported by tsvpn`);
    }
    const t = found.transform;
    if (transforms.some((x) => sameTransform(x, t))) {
      throw new ProposalSyntaxError('duplicate', raw, text, `algorithm '${raw}' appears twice`);
    }
    if (protocol === 'esp' && t.type === TransformType.PRF) {
      // RFC 7296 §3.3.3: ESP proposals carry no PRF.
      throw new ProposalSyntaxError('not-allowed', raw, text, `'${raw}' is a PRF, which ESP proposals do not carry`);
    }
    if (protocol === 'ike' && (t.type === TransformType.ESN || (t.type === TransformType.DH && t.id === 0))) {
      // RFC 7296 §3.3.3: ESN belongs to ESP/AH; an IKE SA always needs a real DH group.
      throw new ProposalSyntaxError('not-allowed', raw, text, `'${raw}' is not allowed in an IKE proposal`);
    }
    transforms.push(t);
  }
  validate(transforms, protocol, text);
  return {
    number: 1,
    protocol: protocol === 'ike' ? ProtocolId.IKE : ProtocolId.ESP,
    spi: new Uint8Array(0),
    transforms: sortByType(transforms),
  };
}

function validate(transforms: Transform[], protocol: 'ike' | 'esp', text: string): void {
  const of = (type: number) => transforms.filter((t) => t.type === type);
  const encrs = of(TransformType.ENCR);
  if (encrs.length === 0) throw new ProposalSyntaxError('missing', 'encr', text, 'needs an encryption algorithm (encr), e.g. aes256gcm16');
  const aead = encrs.filter((t) => isAeadEncr(t.id));
  if (aead.length > 0 && aead.length < encrs.length) {
    // RFC 7296 §3.3: classic and combined-mode ciphers need separate proposals.
    const mixed = tokenFor(encrs.find((t) => !isAeadEncr(t.id))!);
    throw new ProposalSyntaxError('conflict', mixed, text, 'mixes AEAD and classic encryption; use two proposals');
  }
  const integs = of(TransformType.INTEG);
  if (aead.length > 0 && integs.length > 0) {
    // RFC 7296 §3.3: combined-mode ciphers offer no integrity algorithm (or only NONE).
    throw new ProposalSyntaxError('conflict', tokenFor(integs[0]), text, 'an AEAD cipher takes no integrity algorithm');
  }
  if (aead.length === 0 && integs.length === 0) {
    throw new ProposalSyntaxError('missing', 'integ', text, 'a non-AEAD cipher needs an integrity algorithm (integ), e.g. sha256');
  }
  if (protocol === 'ike') {
    if (of(TransformType.PRF).length === 0) {
      // As strongSwan does: without an explicit prf, each INTEG brings the PRF of the same hash.
      for (const i of integs) {
        const prf = PRF_FOR_INTEG[i.id];
        if (prf !== undefined && !transforms.some((t) => t.type === TransformType.PRF && t.id === prf)) {
          transforms.push({ type: TransformType.PRF, id: prf });
        }
      }
    }
    if (of(TransformType.PRF).length === 0) {
      throw new ProposalSyntaxError('missing', 'prf', text, 'an IKE proposal needs a PRF (prf), e.g. prfsha256');
    }
    if (of(TransformType.DH).length === 0) {
      throw new ProposalSyntaxError('missing', 'dh', text, 'an IKE proposal needs a key exchange group (dh), e.g. x25519');
    }
  } else if (of(TransformType.ESN).length === 0) {
    // RFC 7296 §3.3.3: ESN is mandatory in ESP; without a word on it offer 32-bit numbers only.
    transforms.push({ type: TransformType.ESN, id: EsnId.NO_ESN });
  }
}

/** A comma-separated list (swanctl `proposals = a, b`), numbered 1..n as RFC 7296 §3.3.1 requires. */
export function parseProposalList(text: string, protocol: 'ike' | 'esp'): Proposal[] {
  return text.split(',').map((part, i) => ({ ...parseProposal(part, protocol), number: i + 1 }));
}

/** The strongSwan-style string of a proposal (unknown transforms print as UNKNOWN_<type>_<id>). */
export function formatProposal(p: Proposal): string {
  return sortByType(p.transforms).map(tokenFor).join('-');
}

/**
 * Choose one transform of `type` from `offered`, in the order of `configured` (the responder's
 * preference). Returns null when none matches, 'absent' when neither side has the type.
 */
function pickTransform(type: number, offered: Transform[], configured: Transform[]): Transform | null | 'absent' {
  const o = offered.filter((t) => t.type === type);
  const c = configured.filter((t) => t.type === type);
  if (o.length === 0 && c.length === 0) return 'absent';
  // RFC 7296 §3.3.3: for optional types (DH in ESP) ID 0 "NONE" matches a side that omits the type.
  if (o.length === 0) return c.some((t) => t.id === 0) ? 'absent' : null;
  if (c.length === 0) return o.some((t) => t.id === 0) ? 'absent' : null;
  for (const want of c) {
    // RFC 7296 §3.3.5: a transform with a Key Length attribute matches only the same length.
    const hit = o.find((t) => sameTransform(t, want));
    if (hit) return hit;
  }
  return null;
}

function selectOne(offered: Proposal, configured: Proposal): Proposal | null {
  if (offered.protocol !== configured.protocol) return null;
  const types = new Set<number>([...offered.transforms, ...configured.transforms].map((t) => t.type));
  const chosen: Transform[] = [];
  let aead = false;
  for (const type of [...types].sort((a, b) => typeRank(a) - typeRank(b))) {
    // RFC 7296 §3.3: beside a combined-mode cipher an INTEG offered can only be NONE; skip it.
    if (type === TransformType.INTEG && aead) continue;
    const pick = pickTransform(type, offered.transforms, configured.transforms);
    if (pick === null) return null;
    if (pick === 'absent') continue;
    if (type === TransformType.ENCR) aead = isAeadEncr(pick.id);
    // RFC 7296 §3.3.3: choosing ID 0 (NONE) for DH or INTEG means the type is left out.
    if (pick.id === 0 && type !== TransformType.ESN) continue;
    chosen.push({ ...pick });
  }
  return { number: offered.number, protocol: offered.protocol, spi: offered.spi, transforms: chosen };
}

/**
 * The responder's choice (RFC 7296 §2.7, §3.3.6): one proposal, with exactly one transform of
 * each type present. Configured proposals are tried in order, each against every offered one,
 * and within a type the configured order wins (strongSwan's default, prefer_configured_proposals).
 * The result keeps the offered proposal's number and SPI. Null means NO_PROPOSAL_CHOSEN.
 */
export function selectProposal(offered: Proposal[], configured: Proposal[]): Proposal | null {
  for (const c of configured) {
    for (const o of offered) {
      const chosen = selectOne(o, c);
      if (chosen) return chosen;
    }
  }
  return null;
}

/**
 * The initiator's check of the responder's answer (RFC 7296 §3.3.6): a single proposal whose
 * number names one we sent, with at most one transform of each type, each one we offered in
 * that proposal, and no type left out unless we offered NONE for it (or it is INTEG beside an AEAD).
 */
export function proposalAccepts(offered: Proposal[], chosen: Proposal): boolean {
  const mine = offered.find((p) => p.number === chosen.number && p.protocol === chosen.protocol);
  if (!mine) return false;
  const seen = new Set<number>();
  for (const t of chosen.transforms) {
    if (seen.has(t.type)) return false;
    seen.add(t.type);
    if (!mine.transforms.some((m) => sameTransform(m, t))) return false;
  }
  const encr = chosen.transforms.find((t) => t.type === TransformType.ENCR);
  for (const type of new Set(mine.transforms.map((t) => t.type))) {
    if (seen.has(type)) continue;
    if (type === TransformType.INTEG && encr && isAeadEncr(encr.id)) continue;
    // ID 0 is NONE for DH and INTEG, but NO_ESN is a real choice that must be answered.
    if (type !== TransformType.ESN && mine.transforms.some((t) => t.type === type && t.id === 0)) continue;
    return false;
  }
  return true;
}

export interface NegotiatedAlgorithms {
  encr: { id: number; keyLength?: number };
  integ: number; // 0 = NONE (AEAD)
  prf: number; // 0 for ESP
  dh: number; // 0 = NONE (no PFS)
  esn: boolean;
}

/** The suite a selected proposal names, for the crypto layer; missing types are 0 / NONE. */
export function negotiatedAlgorithms(p: Proposal): NegotiatedAlgorithms {
  const first = (type: number) => p.transforms.find((t) => t.type === type);
  const encr = first(TransformType.ENCR);
  return {
    encr: encr ? (encr.keyLength === undefined ? { id: encr.id } : { id: encr.id, keyLength: encr.keyLength }) : { id: 0 },
    integ: first(TransformType.INTEG)?.id ?? 0,
    prf: first(TransformType.PRF)?.id ?? 0,
    dh: first(TransformType.DH)?.id ?? 0,
    esn: first(TransformType.ESN)?.id === EsnId.ESN,
  };
}
