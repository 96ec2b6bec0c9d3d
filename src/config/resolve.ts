// Semantic checks a JSON Schema cannot express, each turning text into the records the IKE
// layer takes: addresses, identities, traffic selectors (src/wire/selectors.ts syntax) and
// proposal strings (src/crypto/proposal.ts). Problems are collected, never thrown.
import { formatProposal, parseProposal, ProposalSyntaxError } from '../crypto/proposal.js';
import { parseIdentity } from '../ike/auth/identity.js';
import { formatSelector, ipToBytes, parseSelector, SelectorSyntaxError } from '../wire/selectors.js';
import { bytesToIp } from '../wire/ip-text.js';
import { TsType } from '../wire/constants.js';
import type { Proposal, TrafficSelector } from '../wire/types.js';
import { ANY, type ConfigProblem } from './types.js';

export type Problems = ConfigProblem[];

/** 'single quotes' in a lower layer's message -> "double quotes", as JSON paths read best beside them. */
const requote = (s: string) => s.replace(/'([^']*)'/g, '"$1"');

/** An IP literal in canonical form (RFC 5952 §4 for IPv6), or undefined with a problem added. */
export function address(text: string, path: string, probs: Problems, allowAny: boolean): string | undefined {
  const t = text.trim();
  if (allowAny && t === ANY) return ANY;
  let bytes: Uint8Array;
  try {
    bytes = ipToBytes(t);
  } catch {
    probs.push({ path, expected: `expected an IPv4 or IPv6 address${allowAny ? ' or %any' : ''}, got ${JSON.stringify(text)}` });
    return undefined;
  }
  if (bytes.every((b) => b === 0)) {
    probs.push({ path, expected: `expected an address of ${allowAny ? 'the peer (or %any)' : 'this host'}, not the unspecified address ${t}` });
    return undefined;
  }
  return bytesToIp(bytes);
}

export const familyOf = (addr: string): 4 | 6 => (addr.includes(':') ? 6 : 4);

/** `local.id` must be sendable; `remote.id` may be %any or a pattern with '*'. */
export function identity(text: string, path: string, probs: Problems, allowAny: boolean): string | undefined {
  const t = text.trim();
  if (allowAny && t === ANY) return ANY;
  try {
    parseIdentity(t);
    return t;
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    probs.push({ path, expected: `${JSON.stringify(text)} is not an identity: ${requote(detail)}` });
    return undefined;
  }
}

/**
 * One side's selectors. `dynamic` (optionally with `[proto/port]`) stands for the side's own
 * outer address, as in swanctl; it cannot be resolved for a remote side of %any.
 */
export function selectors(texts: string[], base: string, sideAddr: string | undefined, probs: Problems): TrafficSelector[] {
  const out: TrafficSelector[] = [];
  texts.forEach((text, i) => {
    const path = `${base}/${i}`;
    let src = text.trim();
    const dyn = /^dynamic(?=$|\[)/i.exec(src);
    if (dyn) {
      if (sideAddr === undefined) return; // the address itself is already reported
      if (sideAddr === ANY) {
        probs.push({ path, expected: `"dynamic" needs a literal remote.addr (it stands for the peer's address), got %any` });
        return;
      }
      src = sideAddr + src.slice(dyn[0].length);
    }
    const ts = selector(src, text, path, 'a traffic selector', probs);
    if (ts) out.push(ts);
  });
  return out;
}

/** One selector (src/wire/selectors.ts syntax), or undefined with a problem quoting what was written. */
function selector(src: string, written: string, path: string, what: string, probs: Problems): TrafficSelector | undefined {
  try {
    return parseSelector(src);
  } catch (e) {
    if (!(e instanceof SelectorSyntaxError)) throw e;
    const detail = e.message.slice(`traffic selector '${e.input}': `.length);
    probs.push({ path, expected: `${JSON.stringify(written)} is not ${what}: ${requote(detail)}` });
    return undefined;
  }
}

/** A pool's `addrs` (swanctl pools.<name>.addrs): a prefix, a range a-b or one address, as a selector without [proto/port]. */
export function addressRange(text: string, path: string, probs: Problems): TrafficSelector | undefined {
  if (text.includes('[')) {
    probs.push({ path, expected: `expected addresses only, such as 10.3.0.0/24 or 10.3.0.10-10.3.0.99 (a pool has no [proto/port]), got ${JSON.stringify(text)}` });
    return undefined;
  }
  return selector(text.trim(), text, path, 'an address range', probs);
}

const familyOfTs = (ts: TrafficSelector): 4 | 6 => (ts.tsType === TsType.TS_IPV4_ADDR_RANGE ? 4 : 6);
export const tsFamilies = (ts: TrafficSelector[]) => new Set(ts.map(familyOfTs));

/** A Child SA pairs local and remote selectors of one family: each family needs both sides. */
export function checkFamilies(local: TrafficSelector[], remote: TrafficSelector[], probs: Problems): void {
  const l = tsFamilies(local);
  const r = tsFamilies(remote);
  for (const f of [4, 6] as const) {
    if (l.has(f) && !r.has(f)) probs.push({ path: '/remote/ts', expected: `expected an IPv${f} selector too: local.ts has IPv${f} selectors, and each family needs selectors on both sides` });
    if (r.has(f) && !l.has(f)) probs.push({ path: '/local/ts', expected: `expected an IPv${f} selector too: remote.ts has IPv${f} selectors, and each family needs selectors on both sides` });
  }
}

/** RFC 4301 §4.1: transport mode protects the hosts' own traffic, so selectors name only their own addresses. */
export function checkTransport(ts: TrafficSelector[], texts: string[], base: string, addr: string | undefined, probs: Problems): void {
  if (addr === undefined || addr === ANY) return;
  const want = ipToBytes(addr);
  ts.forEach((s, i) => {
    const host = s.startAddr.length === want.length && s.startAddr.every((b, k) => b === want[k] && s.endAddr[k] === b);
    if (!host) {
      probs.push({ path: `${base}/${i}`, expected: `expected ${addr} or "dynamic" in transport mode (it protects only the hosts' own addresses), got ${JSON.stringify(texts[i])}` });
    }
  });
}

/** Proposal strings, numbered 1..n (RFC 7296 §3.3.1); hints when one belongs to the other list. */
export function proposals(texts: string[], base: string, protocol: 'ike' | 'esp', probs: Problems): { list: Proposal[]; text: string[] } {
  const list: Proposal[] = [];
  texts.forEach((text, i) => {
    try {
      list.push({ ...parseProposal(text, protocol), number: list.length + 1 });
    } catch (e) {
      if (!(e instanceof ProposalSyntaxError)) throw e;
      const detail = requote(e.message.slice(`proposal '${e.proposal}': `.length));
      const kind = e.reason === 'missing' || e.reason === 'not-allowed' ? (protocol === 'ike' ? 'an IKE proposal' : 'an ESP proposal') : 'a proposal';
      let hint = '';
      if (kind !== 'a proposal') {
        const other = protocol === 'ike' ? 'esp' : 'ike';
        try {
          parseProposal(text, other);
          hint = protocol === 'ike' ? ' (it is an ESP proposal: those go in child.proposals)' : ' (it is an IKE proposal: those go in ike.proposals)';
        } catch {
          /* no hint */
        }
      }
      probs.push({ path: `${base}/${i}`, expected: `${JSON.stringify(text)} is not ${kind}: ${detail}${hint}` });
    }
  });
  return { list, text: list.map(formatProposal) };
}

const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "30s" "5m" "4h" "1d" -> seconds; undefined for anything else. */
export function durationSeconds(text: string): number | undefined {
  const m = /^([0-9]+)(s|m|h|d)$/.exec(text);
  if (!m) return undefined;
  const v = Number(m[1]) * UNIT[m[2]];
  return Number.isSafeInteger(v) ? v : undefined;
}

export { formatSelector };
