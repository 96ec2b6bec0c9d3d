// Comparisons between what a case expects, what strongSwan lists and what tsvpn reports.
import type { AlgExpect, Role } from '../cases/types.js';
import type { ParsedChild, ParsedSa } from './swanctl-parse.js';
import type { TunnelStatus } from './tsvpn.js';

type Check = (ok: boolean, msg: string) => boolean;

/** A selector in one spelling: a bare address is a host prefix (/32 or /128), as strongSwan prints it. */
export function normTs(t: string): string {
  const m = /^([^[/]+)(\/\d+)?(\[.*\])?$/.exec(t.trim());
  if (!m) return t.trim();
  return `${m[1]}${m[2] ?? (m[1].includes(':') ? '/128' : '/32')}${m[3] ?? ''}`;
}

export const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.map(normTs).sort().join('|') === b.map(normTs).sort().join('|');

/** The INSTALLED Child SA of the first ESTABLISHED IKE SA. */
export function childOf(sas: ParsedSa[]): ParsedChild | undefined {
  return sas.flatMap((s) => (s.state === 'ESTABLISHED' ? s.children : [])).find((c) => c.state === 'INSTALLED');
}

/** strongSwan's algorithm names for an IKE SA or Child SA against the case's expectation. */
export function checkAlgs(what: string, got: ParsedSa | ParsedChild, want: AlgExpect | undefined, check: Check): void {
  if (!want) return;
  const seen = { encr: got.encrAlg, keysize: got.encrKeysize, integ: got.integAlg, prf: 'prfAlg' in got ? got.prfAlg : undefined, dh: got.dhGroup };
  const bad = (Object.keys(want) as (keyof AlgExpect)[]).filter((k) => want[k] !== seen[k]);
  check(bad.length === 0, `strongSwan ${what} algorithms ${JSON.stringify(seen)}, expected ${JSON.stringify(want)}`);
}

export const hex = (s: string): string => s.toLowerCase().replace(/^0x/, '');

/** tsvpn's status against strongSwan's list-sas: role, SPIs, selectors, ids, proposal. */
export function checkPeersAgree(role: Role, sa: ParsedSa, ch: ParsedChild, st: TunnelStatus, check: Check): void {
  const tsa = st.ikeSas.find((s) => s.state === 'ESTABLISHED');
  if (!check(tsa !== undefined, `tsvpn status shows no ESTABLISHED IKE SA: ${JSON.stringify(st.ikeSas.map((s) => s.state))}`)) return;
  check(tsa!.role === role, `tsvpn status role ${tsa!.role}, expected ${role}`);
  // RFC 7296 §3.1: SPIi/SPIr name the IKE SA on both ends
  const [mineI, mineR] = role === 'initiator' ? [tsa!.localSpi, tsa!.remoteSpi] : [tsa!.remoteSpi, tsa!.localSpi];
  check(hex(mineI) === hex(sa.initiatorSpi) && hex(mineR) === hex(sa.responderSpi), `IKE SPIs differ: tsvpn i/r ${mineI}/${mineR}, strongSwan ${sa.initiatorSpi}/${sa.responderSpi}`);
  check(tsa!.remoteId === sa.localId, `tsvpn sees peer id ${JSON.stringify(tsa!.remoteId)}, strongSwan is ${JSON.stringify(sa.localId)}`);
  const tch = tsa!.children.find((c) => c.state === 'INSTALLED');
  if (!check(tch !== undefined, 'tsvpn status shows no INSTALLED Child SA')) return;
  // RFC 4303 §2.1: our inbound SPI is the peer's outbound SPI
  check(hex(tch!.spiIn) === hex(ch.spiOut) && hex(tch!.spiOut) === hex(ch.spiIn), `ESP SPIs differ: tsvpn in/out ${tch!.spiIn}/${tch!.spiOut}, strongSwan in/out ${ch.spiIn}/${ch.spiOut}`);
  check(sameSet(tch!.localTs, ch.remoteTs) && sameSet(tch!.remoteTs, ch.localTs), `selectors differ: tsvpn ${tch!.localTs} === ${tch!.remoteTs}, strongSwan ${ch.localTs} === ${ch.remoteTs}`);
  check(tch!.mode.toUpperCase() === ch.mode, `mode differs: tsvpn ${tch!.mode}, strongSwan ${ch.mode}`);
}
