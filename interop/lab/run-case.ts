// One interop run: a case with tsvpn in one role against strongSwan. Builds the topology,
// starts both peers, and checks what an operator would check on each side:
// strongSwan's `swanctl --list-sas` (IKE ESTABLISHED, Child INSTALLED, algorithms,
// selectors, SPIs), tsvpn's `tsvpn status --json`, ping both ways and a TCP transfer
// checked by hash, with packet counters moving on both sides; or, for a failure case, the
// failure-map row and evidence tsvpn reports. Everything is removed afterwards.

import { spawnSync } from 'node:child_process';

import { forRole, type InteropCase, type Role } from '../cases/types.js';
import { runName } from '../cases/index.js';
import { buildConfigs, buildTopology, CHILD, CONN, type Configs, type Topology } from './setup.js';
import { hasInstalled, libipsecUnknownSpiDrops, startStrongswan, type ParsedSa, type Strongswan } from './strongswan.js';
import { ping, pingDuring, tcpTransfer } from './traffic.js';
import { startTsvpn, tsvpnInstalled, type Tsvpn, type TunnelStatus } from './tsvpn.js';
import { checkAlgs, checkEndpoints, checkPeersAgree, childOf, hex, sameSet } from './expect.js';
import { sleep, until } from './wait.js';
import { noSaDrops } from '../../src/daemon/status.js';

export interface CaseResult {
  name: string;
  case: string;
  role: Role;
  result: 'pass' | 'fail';
  /** First failed check and what was seen; empty on pass. */
  evidence: string;
  /** Every check that failed. */
  problems: string[];
  /** What was seen that is no failure of tsvpn's but worth knowing (a loss the peer caused, say). */
  notes: string[];
  seconds: number;
  /** What tsvpn reported: its lastFailure for a failure case, else the negotiated IKE/ESP proposals. */
  observed?: unknown;
  /** Both peers' logs (only kept on failure). */
  logs?: { tsvpn: string; strongswan: string };
}

const tail = (text: string, n = 25) => text.split('\n').slice(-n).join('\n');

class Fatal extends Error {}

/** The two peers of a run; each is set as soon as it has started, so clean-up finds it even when start-up fails later. */
export interface Peers {
  ss?: Strongswan;
  tv?: Tsvpn;
}

/**
 * Start strongSwan (none for a `no-peer` case) and tsvpn in their namespaces with the case's
 * configs; with tsvpn as responder, strongSwan initiates once tsvpn's daemon answers. Fills
 * `into` as each peer starts: the caller stops `into.tv` and `into.ss` in any case.
 */
export async function startPeers(c: InteropCase, role: Role, topo: Topology, cfg: Configs, into: Peers = {}): Promise<Peers & { tv: Tsvpn }> {
  if (c.fault !== 'no-peer') {
    // make_before_break: strongSwan's reauthentication sets up the new IKE SA before deleting the old one
    const mbb = c.reauth === 'strongswan' ? '\n  make_before_break = yes' : '';
    into.ss = await startStrongswan({ ns: topo.ss.ns, name: 'ss', conf: cfg.swanctl, files: cfg.ssFiles, charonConf: `retransmit_tries = 2\n  retransmit_timeout = 1.0${mbb}`, espLogLevel: c.reauth ? 2 : undefined });
  }
  const tv = (into.tv = startTsvpn({ ns: topo.tsvpn.ns, peer: cfg.peer, files: cfg.tsvpnFiles }));
  if (role === 'responder' && into.ss) {
    await tv.waitFor(() => true, 20_000, 'the control socket (daemon up)');
    void into.ss.initiate(CHILD, { ike: CONN, timeoutS: 15 });
  }
  return { ...into, tv };
}

/** Wait until strongSwan and then tsvpn show an INSTALLED Child SA; returns strongSwan's SAs. Throws with both logs' tails when not. */
export async function waitInstalled(tv: Tsvpn, ss: Strongswan): Promise<ParsedSa[]> {
  let sas: ParsedSa[];
  try {
    sas = await ss.waitFor((s) => hasInstalled(s, CHILD), 20_000, 'Child SA INSTALLED');
  } catch {
    const st = await tv.status();
    throw new Fatal(`strongSwan has no INSTALLED Child SA; tsvpn lastFailure ${JSON.stringify(st?.lastFailure ?? null)}\ncharon:\n${tail(ss.log(), 12)}\ntsvpn:\n${tail(tv.log(), 12)}`);
  }
  await tv.waitFor(tsvpnInstalled, 10_000, 'tsvpn Child SA INSTALLED').catch((e: Error) => {
    throw new Fatal(e.message);
  });
  return sas;
}

export async function runCase(c: InteropCase, role: Role, o: { progress?: (msg: string) => void } = {}): Promise<CaseResult> {
  const t0 = Date.now();
  const problems: string[] = [];
  const notes: string[] = [];
  const check = (ok: boolean, msg: string): boolean => {
    if (!ok) problems.push(msg);
    return ok;
  };
  let topo: Topology | undefined;
  const peers: Peers = {};
  const seen: { observed?: unknown } = {};
  try {
    topo = buildTopology(c, role);
    const cfg = buildConfigs(c, role, topo);
    const { tv, ss } = await startPeers(c, role, topo, cfg, peers);
    o.progress?.('peers started');
    if (c.expectFailure) seen.observed = await failurePath(c, role, tv, ss, check);
    else seen.observed = await successPath(c, role, topo, cfg, tv, ss!, check, o.progress, (m) => notes.push(m));
  } catch (e) {
    problems.push(e instanceof Fatal ? e.message : `${(e as Error).name}: ${(e as Error).message}`);
  } finally {
    const { tv, ss } = peers;
    const logs = { tsvpn: tv?.log() ?? '', strongswan: ss?.log() ?? '' };
    await tv?.stop();
    await ss?.stop();
    topo?.destroy();
    const r: CaseResult = {
      name: runName(c, role),
      case: c.name,
      role,
      result: problems.length ? 'fail' : 'pass',
      evidence: problems[0] ?? '',
      problems,
      notes,
      seconds: Math.round((Date.now() - t0) / 100) / 10,
      observed: seen.observed,
    };
    if (problems.length) r.logs = logs;
    // eslint-disable-next-line no-unsafe-finally
    return r;
  }
}

type Check = (ok: boolean, msg: string) => boolean;

/**
 * The failure tsvpn shows for this case: its own `lastFailure`, or, as responder, the failure
 * of an IKE SA whose peer never authenticated (F2, F3 before IKE_AUTH succeeds), which status
 * keeps apart as `lastUnauthenticatedFailure` (src/daemon/event-log.ts).
 */
function shownFailure(s: TunnelStatus | undefined, rows: readonly string[]) {
  const hit = (f: TunnelStatus['lastFailure'] | undefined) => (f && rows.includes(f.row) ? f : undefined);
  return hit(s?.lastFailure) ?? hit(s?.lastUnauthenticatedFailure);
}

async function failurePath(c: InteropCase, role: Role, tv: Tsvpn, ss: Strongswan | undefined, check: Check): Promise<unknown> {
  const want = c.expectFailure!;
  const rows: readonly string[] = Array.isArray(want.row) ? want.row : [want.row];
  let status: TunnelStatus | undefined;
  try {
    status = await tv.waitFor((s) => shownFailure(s, rows) !== undefined, 25_000, `failure row ${rows.join('/')}`);
  } catch (e) {
    const last = await tv.status();
    throw new Fatal(`tsvpn reported no ${rows.join('/')} (lastFailure ${JSON.stringify(last?.lastFailure ?? null)}, lastUnauthenticatedFailure ${JSON.stringify(last?.lastUnauthenticatedFailure ?? null)}): ${(e as Error).message.slice(0, 300)}\ntsvpn log:\n${tail(tv.log(), 15)}`);
  }
  const failure = shownFailure(status, rows)!;
  const text = JSON.stringify(failure);
  for (const re of want.evidence[role] ?? []) check(re.test(text), `${failure.row} evidence lacks ${re}: ${text}`);
  // the operator's view shows the same row
  const cli = tv.statusCli();
  check(cli.code === 0 && shownFailure(cli.status, rows)?.row === failure.row, `tsvpn status --json does not show ${failure.row}: ${cli.output.slice(0, 300)}`);
  check(!status.ikeSas.some((sa) => sa.children.some((ch) => ch.state === 'INSTALLED')), `tsvpn installed a Child SA despite ${failure.row}`);
  if (ss) check(!hasInstalled(ss.listSas()), 'strongSwan installed a Child SA in a failure case');
  return failure;
}

async function successPath(c: InteropCase, role: Role, topo: Topology, cfg: Configs, tv: Tsvpn, ss: Strongswan, check: Check, progress?: (m: string) => void, note: (m: string) => void = () => {}): Promise<unknown> {
  const sas = await waitInstalled(tv, ss);
  progress?.('established');
  const cli = tv.statusCli();
  if (!check(cli.code === 0 && cli.status !== undefined, `tsvpn status --json failed (${cli.code}): ${cli.output.slice(0, 300)}`)) return undefined;
  const st = cli.status!;
  const observed = st.ikeSas.map((s) => ({ ike: s.proposal, nat: s.nat, local: s.local, remote: s.remote, children: s.children.map((x) => ({ esp: x.proposal, localTs: x.localTs, remoteTs: x.remoteTs })) }));
  const sa = sas.find((s) => s.state === 'ESTABLISHED')!;
  const ch = sa.children.find((x) => x.state === 'INSTALLED')!;

  // strongSwan's view
  check(sa.initiator === (role === 'responder'), `strongSwan initiator=${sa.initiator} with tsvpn as ${role}`);
  check(sa.localId === cfg.ssId && sa.remoteId === cfg.tsvpnId, `strongSwan ids ${sa.localId} / ${sa.remoteId}, configured ${cfg.ssId} / ${cfg.tsvpnId}`);
  checkAlgs('IKE', sa, forRole(c.expectIke, role), check);
  if (!c.rekey) checkAlgs('ESP', ch, forRole(c.expectEsp, role), check);
  check(ch.mode === (c.mode ?? 'tunnel').toUpperCase(), `strongSwan Child SA mode ${ch.mode}`);
  check(sameSet(ch.localTs, cfg.ts.expectSsLocal) && sameSet(ch.remoteTs, cfg.ts.expectSsRemote), `strongSwan selectors ${ch.localTs} === ${ch.remoteTs}, expected ${cfg.ts.expectSsLocal} === ${cfg.ts.expectSsRemote}`);
  // tsvpn's view, and both views agree
  checkPeersAgree(role, sa, ch, st, check);
  // over the outer addresses of the topology (IPv6 ones for direct-ipv6)
  checkEndpoints(sa, st, { tsvpnOuter: topo.tsvpn.outer, ssOuter: topo.ss.outer, tsvpnSeenAs: topo.tsvpnSeenAs, ssSeenAs: topo.ssSeenAs, direct: !topo.nat }, check);
  // kernel-libipsec encapsulates ESP in UDP on every path, faking a NAT where there is none (README surprise 1)
  check(ch.encap && st.encap === 'udp', `ESP encapsulation: strongSwan encap ${ch.encap}, tsvpn ${st.encap}; kernel-libipsec always uses UDP`);
  // a tunnel that came up reports no failure: a Child SA strongSwan narrowed is a warning, not F4 (RFC 7296 §2.9)
  check(st.lastFailure === null, `tsvpn lastFailure once up: ${JSON.stringify(st.lastFailure)}`);

  if (topo.nat) {
    const tsa = st.ikeSas.find((s) => s.state === 'ESTABLISHED');
    const behind = c.topology === 'tsvpn-behind-nat';
    // RFC 7296 §2.23: NAT-D detects the NAT; both sides float to 4500 (RFC 3948)
    check(behind ? tsa?.nat.local === true : tsa?.nat.remote === true, `tsvpn nat ${JSON.stringify(tsa?.nat)} (${c.topology})`);
    check(behind ? sa.nat.remote : sa.nat.local, `strongSwan nat ${JSON.stringify(sa.nat)} (${c.topology})`);
    check(sa.localPort === 4500, `strongSwan local port ${sa.localPort}, expected 4500 after NAT-T float`);
    check(Boolean(tsa?.local.endsWith(':4500')), `tsvpn IKE SA local ${tsa?.local}, expected port 4500 after the float`);
  }

  await traffic(c, topo, tv, ss, check, 'after IKE_AUTH');
  progress?.('traffic');

  if (c.rekey) await rekey(c, role, tv, ss, topo, check);
  if (c.ikeRekey) await ikeRekey(c, tv, ss, topo, check);
  if (c.reauth) await reauth(c, tv, ss, topo, check, progress, note);
  if (c.keepalive && topo.nat) {
    const nat = topo.nat;
    const before = nat.counters()['keepalives-out'] ?? 0;
    // keepalive 2s: 5 s is at least two intervals without traffic
    let after = before;
    await until(() => (after = nat.counters()['keepalives-out'] ?? 0) > before, { timeout: 5_000, interval: 250, what: 'a NAT-T keepalive' }).catch(() => undefined);
    check(after > before, `no NAT-T keepalive (one 0xFF byte to 4500, RFC 3948 §2.3) from tsvpn in 5 s with keepalive 2s: router counted ${before} -> ${after}`);
  }
  if (c.teardown === 'tsvpn-down') await teardownByTsvpn(tv, ss, check);
  if (c.teardown === 'swanctl-terminate') await teardownByStrongswan(tv, ss, topo, cfg, check);
  return observed;
}

async function traffic(c: InteropCase, topo: Topology, tv: Tsvpn, ss: Strongswan, check: Check, when: string): Promise<void> {
  const tr = c.traffic ?? { ping: true, tcpPort: 5201 };
  const ssBefore = childOf(ss.listSas());
  const tvBefore = (await tv.status())?.ikeSas.flatMap((s) => s.children).find((x) => x.state === 'INSTALLED');
  const [a, b] = c.mode === 'transport' ? [topo.tsvpn.outer, topo.ss.outer] : [topo.tsvpn.inner, topo.ss.inner];
  if (tr.ping) {
    const p1 = ping(topo.tsvpn.ns, a, b);
    check(p1.ok, `${when}: ${p1.detail}`);
    const p2 = ping(topo.ss.ns, b, a);
    check(p2.ok, `${when}: ${p2.detail}`);
  }
  const tcp = await tcpTransfer({ serverNs: topo.ss.ns, serverAddr: b, clientNs: topo.tsvpn.ns, clientAddr: a, port: tr.tcpPort, bytes: tr.bytes ?? 256 * 1024 });
  if (!check(tcp.ok, `${when}: ${tcp.detail}`)) {
    // the routes tsvpn has are the first thing to look at when traffic does not pass (F5)
    const routes = spawnSync('ip', ['-n', topo.tsvpn.ns, '-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }).stdout;
    check(false, `${when}: tsvpn's routes: ${routes.split('\n').filter((l) => l && !/^(local|broadcast) /.test(l)).join('; ')}`);
  }
  const ssAfter = childOf(ss.listSas());
  const tvAfter = (await tv.status())?.ikeSas.flatMap((s) => s.children).find((x) => x.state === 'INSTALLED');
  const moved = (x?: { packetsIn: number; packetsOut: number }, y?: { packetsIn: number; packetsOut: number }) =>
    Boolean(y && y.packetsIn > (x?.packetsIn ?? 0) && y.packetsOut > (x?.packetsOut ?? 0));
  check(moved(ssBefore, ssAfter), `${when}: strongSwan counters did not move both ways: ${JSON.stringify({ before: ssBefore && { i: ssBefore.packetsIn, o: ssBefore.packetsOut }, after: ssAfter && { i: ssAfter.packetsIn, o: ssAfter.packetsOut } })}`);
  check(moved(tvBefore, tvAfter), `${when}: tsvpn counters did not move both ways: ${JSON.stringify({ before: tvBefore && { i: tvBefore.packetsIn, o: tvBefore.packetsOut }, after: tvAfter && { i: tvAfter.packetsIn, o: tvAfter.packetsOut, drops: tvAfter.drops } })}`);
}

async function rekey(c: InteropCase, role: Role, tv: Tsvpn, ss: Strongswan, topo: Topology, check: Check): Promise<void> {
  const old = childOf(ss.listSas())!;
  if (c.rekey === 'strongswan') {
    const r = ss.swanctl(['--rekey', '--child', CHILD]);
    if (!check(r.ok, `swanctl --rekey failed: ${r.output}`)) return;
  }
  let sas: ParsedSa[];
  try {
    // tsvpn's timer: child.rekey 10s, jittered down by up to 1 s (strongSwan rand_time rule)
    sas = await ss.waitFor((s) => s.some((sa) => sa.children.some((x) => x.state === 'INSTALLED' && x.spiIn !== old.spiIn)), c.rekey === 'tsvpn' ? 20_000 : 15_000, 'a rekeyed Child SA');
  } catch {
    throw new Fatal(`Child SA rekey started by ${c.rekey} (CREATE_CHILD_SA, RFC 7296 §1.3.3) did not complete\ncharon:\n${tail(ss.log(), 12)}\ntsvpn:\n${tail(tv.log(), 12)}`);
  }
  const ch = childOf(sas)!;
  checkAlgs('ESP (rekeyed)', ch, forRole(c.expectEsp, role), check);
  const st = await tv.waitFor((s) => s.ikeSas.some((sa) => sa.children.some((x) => x.state === 'INSTALLED' && x.spiIn === ch.spiOut)), 5_000, 'tsvpn to install the rekeyed SA').catch(() => undefined);
  check(st !== undefined, `tsvpn has no INSTALLED Child SA with SPI in ${ch.spiOut} after the rekey`);
  // strongSwan deletes the old SA after the new one is up: the traffic checks come after that
  await ss.waitFor((s) => !s.some((sa) => sa.children.some((x) => x.spiIn === old.spiIn)), 500, 'strongSwan to delete the old Child SA').catch(() => undefined);
  await traffic(c, topo, tv, ss, check, 'after rekey');
}

async function ikeRekey(c: InteropCase, tv: Tsvpn, ss: Strongswan, topo: Topology, check: Check): Promise<void> {
  const old = ss.listSas().find((s) => s.state === 'ESTABLISHED')!;
  const byUs = c.ikeRekey === 'tsvpn';
  if (!byUs) {
    const r = ss.swanctl(['--rekey', '--ike', CONN]);
    if (!check(r.ok, `swanctl --rekey --ike failed: ${r.output}`)) return;
  }
  let sas: ParsedSa[];
  try {
    // tsvpn's timer: ike.rekey 10s, jittered down by up to 1 s
    sas = await ss.waitFor((s) => s.length === 1 && s[0].state === 'ESTABLISHED' && s[0].initiatorSpi !== old.initiatorSpi && hasInstalled(s, CHILD), byUs ? 20_000 : 15_000, 'the rekeyed IKE SA alone, with the Child SA');
  } catch {
    throw new Fatal(`IKE SA rekey started by ${c.ikeRekey} (CREATE_CHILD_SA, RFC 7296 §2.18) did not complete: ${JSON.stringify(ss.listSas().map((s) => [s.state, s.initiatorSpi, s.children.length]))}\ncharon:\n${tail(ss.log(), 12)}\ntsvpn:\n${tail(tv.log(), 12)}`);
  }
  const st = await tv.waitFor((s) => s.ikeSas.length === 1 && s.ikeSas[0].state === 'ESTABLISHED', 5_000, 'one ESTABLISHED IKE SA after the rekey').catch(() => undefined);
  if (!check(st !== undefined, `tsvpn does not show exactly one ESTABLISHED IKE SA after the IKE rekey: ${JSON.stringify((await tv.status())?.ikeSas.map((s) => [s.state, s.localSpi, s.children.length]))}`)) return;
  const sa = sas[0];
  // RFC 7296 §2.18: whoever starts the rekey is the initiator of the new IKE SA
  check(sa.initiator === !byUs, `strongSwan initiator=${sa.initiator} on the IKE SA ${c.ikeRekey} rekeyed`);
  checkPeersAgree(byUs ? 'initiator' : 'responder', sa, sa.children.find((x) => x.state === 'INSTALLED')!, st!, check);
  await traffic(c, topo, tv, ss, check, 'after IKE rekey');
}

/**
 * RFC 7296 §2.8.3 reauthentication, make-before-break, started by c.reauth's side on its timer
 * (10 s after IKE_AUTH): both sides end with one new ESTABLISHED IKE SA carrying one new
 * INSTALLED Child SA, the old ones deleted, no ping lost while it happened, no tsvpn drop for a
 * missing SA, no tsvpn failure; then the usual traffic on the new SAs.
 */
async function reauth(c: InteropCase, tv: Tsvpn, ss: Strongswan, topo: Topology, check: Check, progress?: (m: string) => void, note: (m: string) => void = () => {}): Promise<void> {
  const byUs = c.reauth === 'tsvpn';
  const old = ss.listSas().find((s) => s.state === 'ESTABLISHED')!;
  const oldCh = childOf([old])!;
  const before = await tv.status();
  const oldPair = `${hex(old.initiatorSpi)}_${hex(old.responderSpi)}`;
  const [a, b] = [topo.tsvpn.inner, topo.ss.inner];
  const pings = [pingDuring(topo.tsvpn.ns, a, b), pingDuring(topo.ss.ns, b, a)];
  const t0 = Date.now();
  let sas: ParsedSa[] | undefined;
  try {
    // 10 s after IKE_AUTH (tsvpn: jittered down by up to 1 s); the first checks used some of it
    sas = await ss.waitFor((s) => s.length === 1 && s[0].state === 'ESTABLISHED' && `${hex(s[0].initiatorSpi)}_${hex(s[0].responderSpi)}` !== oldPair && hasInstalled(s, CHILD), 20_000, 'the reauthenticated IKE SA alone, with its Child SA');
  } catch {
    sas = undefined;
  }
  const st = sas && (await tv.waitFor((s) => s.ikeSas.length === 1 && s.ikeSas[0].state === 'ESTABLISHED' && hex(s.ikeSas[0].localSpi) !== hex(before?.ikeSas.find((x) => x.state === 'ESTABLISHED')?.localSpi ?? '') && (!byUs || s.reauths >= 1), 5_000, 'one new ESTABLISHED IKE SA after the reauthentication').catch(() => undefined));
  const lost = await Promise.all(pings.map((p) => p.stop()));
  if (!sas) {
    throw new Fatal(`IKE SA reauthentication started by ${c.reauth} (RFC 7296 §2.8.3) did not leave one new IKE SA in strongSwan: ${JSON.stringify(ss.listSas().map((s) => [s.state, s.initiatorSpi, s.responderSpi, s.children.map((x) => x.state)]))}\ncharon:\n${tail(ss.log(), 15)}\ntsvpn:\n${tail(tv.log(), 15)}`);
  }
  progress?.(`reauthenticated after ${((Date.now() - t0) / 1000).toFixed(1)} s of waiting`);
  const now = await tv.status();
  if (!check(st !== undefined, `tsvpn does not show exactly one new ESTABLISHED IKE SA after the reauthentication by ${c.reauth}: ${JSON.stringify(now?.ikeSas.map((s) => [s.state, s.role, s.localSpi, s.remoteSpi, s.children.map((x) => x.state)]))}, reauths ${now?.reauths}`)) return;
  const sa = sas[0];
  // strongSwan: exactly one IKE SA with a new SPI pair, one INSTALLED Child SA with new SPIs
  check(sa.children.length === 1, `strongSwan lists ${sa.children.length} Child SAs on the reauthenticated IKE SA: ${JSON.stringify(sa.children.map((x) => [x.state, x.spiIn, x.spiOut]))}`);
  const ch = sa.children.find((x) => x.state === 'INSTALLED')!;
  check(hex(ch.spiIn) !== hex(oldCh.spiIn) && hex(ch.spiOut) !== hex(oldCh.spiOut), `strongSwan Child SA SPIs unchanged by the reauthentication: ${ch.spiIn}/${ch.spiOut}`);
  // the side that reauthenticates initiates the new IKE SA, whatever its role in the old one
  check(sa.initiator === !byUs, `strongSwan initiator=${sa.initiator} on the IKE SA ${c.reauth} reauthenticated`);
  // tsvpn: the same single IKE SA and Child SA, nothing left over
  const tsa = st!.ikeSas[0];
  check(tsa.children.length === 1, `tsvpn lists ${tsa.children.length} Child SAs on the new IKE SA: ${JSON.stringify(tsa.children.map((x) => [x.state, x.spiIn, x.spiOut]))}`);
  checkPeersAgree(byUs ? 'initiator' : 'responder', sa, ch, st!, check);
  if (byUs) check(st!.reauths === 1, `tsvpn status reauths ${st!.reauths}, expected 1`);
  else check(st!.reauths === 0, `tsvpn status reauths ${st!.reauths} while strongSwan reauthenticated`);
  // make-before-break on both sides: nothing lost while the SAs changed
  const dropsSeen = (x: TunnelStatus) => JSON.stringify({ inbound: x.drops.inbound, outbound: x.drops.outbound });
  const drops = noSaDrops(st!, before);
  // charon removes its old inbound SA the moment the old IKE SA's Delete exchange ends, with no
  // grace: a packet tsvpn sent on it just before is dropped by kernel-libipsec (interop/README.md
  // item 10). That loss is strongSwan's, and only that one is let through: as many lost pings as
  // charon's log shows packets dropped for the old SA's SPI, and no tsvpn drop.
  const peerDropped = libipsecUnknownSpiDrops(ss.log(), hex(oldCh.spiIn));
  const lostTotal = lost.reduce((n, p) => n + p.lost.length, 0);
  const peersLoss = lostTotal > 0 && lostTotal <= peerDropped && Object.keys(drops).length === 0;
  if (peersLoss) note(`${lostTotal} ping(s) lost: kernel-libipsec dropped ${peerDropped} packet(s) for the old SA ${hex(oldCh.spiIn)} it had just deleted`);
  for (const p of lost) check(p.sent > 0 && (p.lost.length === 0 || peersLoss), `during the reauthentication: ${p.detail} (tsvpn drops ${dropsSeen(st!)}, before ${before ? dropsSeen(before) : '?'}; strongSwan dropped ${peerDropped} for its deleted inbound SA ${hex(oldCh.spiIn)})`);
  check(Object.keys(drops).length === 0, `tsvpn dropped packets for a missing SA during the reauthentication: ${JSON.stringify(drops)}`);
  check(st!.lastFailure === null, `tsvpn lastFailure after the reauthentication: ${JSON.stringify(st!.lastFailure)}`);
  await traffic(c, topo, tv, ss, check, 'after reauthentication');
  // still the same SAs: the checks did not race the next reauthentication (10 s later)
  const after = ss.listSas();
  check(after.length === 1 && hex(after[0].initiatorSpi) === hex(sa.initiatorSpi), `another IKE SA change during the checks after the reauthentication (timers too short for this machine?): ${JSON.stringify(after.map((s) => [s.state, s.initiatorSpi]))}`);
  // what the operator sees at the end: `tsvpn status --json`, one IKE SA and one Child SA, no failure, no SA-missing drops
  const cli = tv.statusCli();
  const end = cli.status;
  if (!check(cli.code === 0 && end !== undefined, `tsvpn status --json failed (${cli.code}): ${cli.output.slice(0, 300)}`)) return;
  check(end!.ikeSas.length === 1 && end!.ikeSas[0].children.length === 1 && hex(end!.ikeSas[0].localSpi) === hex(tsa.localSpi), `tsvpn status --json after the traffic checks: ${JSON.stringify(end!.ikeSas.map((s) => [s.state, s.localSpi, s.children.map((x) => [x.state, x.spiIn])]))}, expected only ${tsa.localSpi} with one Child SA`);
  check(end!.lastFailure === null && Object.keys(noSaDrops(end!, before)).length === 0, `tsvpn status --json after the traffic checks: lastFailure ${JSON.stringify(end!.lastFailure)}, SA-missing drops ${JSON.stringify(noSaDrops(end!, before))}`);
}

async function teardownByTsvpn(tv: Tsvpn, ss: Strongswan, check: Check): Promise<void> {
  const down = tv.downCli();
  check(down.code === 0, `tsvpn down exited ${down.code}: ${down.output.slice(0, 300)}`);
  const code = await Promise.race([tv.exited, sleep(10_000).then(() => 'timeout' as const)]);
  check(code === 0, `tsvpn up exited ${code} after tsvpn down, expected 0`);
  const gone = await ss.waitFor((s) => s.length === 0, 5_000, 'no IKE SA').then(() => true, () => false);
  check(gone, `strongSwan still lists SAs after tsvpn down (Delete not sent or not accepted): ${JSON.stringify(ss.listSas().map((s) => s.state))}`);
}

async function teardownByStrongswan(tv: Tsvpn, ss: Strongswan, topo: Topology, cfg: Configs, check: Check): Promise<void> {
  const t = await ss.terminate(CONN);
  check(t.ok, `swanctl --terminate failed: ${t.output.slice(-300)}`);
  const st = await tv.waitFor((s) => !s.ikeSas.some((sa) => sa.state === 'ESTABLISHED' || sa.children.length > 0), 5_000, 'tsvpn to drop its SAs after Delete').catch(() => undefined);
  check(st !== undefined, `tsvpn still has SAs after strongSwan's Delete: ${JSON.stringify((await tv.status())?.ikeSas.map((s) => ({ state: s.state, children: s.children.map((x) => x.state) })))}`);
  // the routes into tsvpn's TUN for the remote selectors are gone
  const tun = (cfg.peer.tun as { name: string }).name;
  const routes = spawnSync('ip', ['-n', topo.tsvpn.ns, '-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }).stdout
    .split('\n')
    .filter((l) => l.includes(`dev ${tun}`) && !/^(local|broadcast|multicast) /.test(l));
  check(routes.length === 0, `routes into ${tun} remain after strongSwan's Delete: ${routes.join('; ')}`);
}
