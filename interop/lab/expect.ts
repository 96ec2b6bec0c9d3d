// Comparisons between what a case expects, what strongSwan lists and what tsvpn reports.
import { parseIp } from '../../src/wire/ip-text.js';
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

/** `tsvpn status` endpoint text, `198.51.100.1:500` or `[2001:db8:100::1]:500`. */
export function parseEndpoint(text: string): { addr: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d+)$/.exec(text);
  return m ? { addr: m[1] ?? m[2], port: Number(m[3]) } : undefined;
}

/** The same address, whatever its spelling (IPv6 zero compression, case). */
export function sameAddr(a: string, b: string): boolean {
  const [x, y] = [parseIp(a), parseIp(b)];
  return x !== null && y !== null && x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * Both peers' IKE SA runs between the addresses of the topology: strongSwan's local-host /
 * remote-host and tsvpn's local / remote endpoints (`seen` are the addresses each side sees
 * the other at, the router's behind a NAT). On one wire (`direct`) the ports cross over too.
 */
export function checkEndpoints(
  sa: ParsedSa,
  st: TunnelStatus,
  t: { tsvpnOuter: string; ssOuter: string; tsvpnSeenAs: string; ssSeenAs: string; direct: boolean },
  check: Check,
): void {
  const tsa = st.ikeSas.find((s) => s.state === 'ESTABLISHED');
  if (!tsa) return; // checkPeersAgree reports it
  const [l, r] = [parseEndpoint(tsa.local), parseEndpoint(tsa.remote)];
  if (!check(l !== undefined && r !== undefined, `tsvpn status endpoints unreadable: local ${tsa.local}, remote ${tsa.remote}`)) return;
  check(sameAddr(l!.addr, t.tsvpnOuter) && sameAddr(r!.addr, t.ssSeenAs), `tsvpn IKE SA ${tsa.local} -> ${tsa.remote}, expected ${t.tsvpnOuter} -> ${t.ssSeenAs}`);
  check(sameAddr(sa.localHost, t.ssOuter) && sameAddr(sa.remoteHost, t.tsvpnSeenAs), `strongSwan IKE SA ${sa.localHost} -> ${sa.remoteHost}, expected ${t.ssOuter} -> ${t.tsvpnSeenAs}`);
  if (t.direct) check(l!.port === sa.remotePort && r!.port === sa.localPort, `IKE ports differ: tsvpn ${l!.port} -> ${r!.port}, strongSwan ${sa.localPort} -> ${sa.remotePort}`);
}
