// `tsvpn diagnose`'s judgement: the seven steps of the troubleshooting flow (the failure map,
// docs/failure-map.md, in the order an operator checks things), each pass / fail / unknown
// with its evidence and the fix, from facts gathered elsewhere (src/cli/diagnose-facts.ts):
// the daemon's status, `ip` and `nft` output, and the probes through the tunnel. Pure: every
// case is testable with synthetic facts.
import type { LastFailure } from '../daemon/event-log.js';
import type { ProbeResult } from '../daemon/probe.js';
import type { TunnelStatus } from '../daemon/status.js';

export type StepResult = 'pass' | 'fail' | 'unknown';

export interface Step {
  step: number;
  name: string;
  result: StepResult;
  /** One line: what was seen. */
  summary: string;
  evidence: Record<string, unknown>;
  /** What to do (fail, sometimes unknown). */
  fix?: string;
}

/** `ip -j route get` of one destination, reduced to what the steps read; or the command's error. */
export interface RouteGet {
  type?: string;
  dev?: string;
  gateway?: string;
  prefsrc?: string;
  error?: string;
}

/** An nftables rule that drops or rejects, shown as text, and what in it concerns this tunnel. */
export interface FirewallRule {
  text: string;
  /** 'outer': IKE or ESP (UDP 500/4500, IP protocol 50); 'inner': the TUN or the selectors' addresses. */
  concerns: 'outer' | 'inner';
}

export interface TunnelRouteFact {
  remoteTs: string;
  /** The probe address inside the remote selector, and the host's address inside the local one. */
  dst: string;
  src?: string;
  /** `ip route get <dst> from <src>` (or without from when there is no src). */
  route: RouteGet;
  /** `ip route get <src> from <dst> iif <tun>`: where an answer coming out of the TUN goes. */
  back?: RouteGet;
}

export interface DiagnoseFacts {
  name: string;
  /** The daemon's status, or why there is none (not running, no permission). */
  status: TunnelStatus | { error: string };
  /** The peer's outer address and `ip route get` of it, and the next hop's neighbour state. */
  peer?: { addr: string; route: RouteGet; neighbour?: string };
  routes: TunnelRouteFact[];
  /** Routes in main more specific than (or inside) a remote selector: they would take the traffic without tsvpn's rule. */
  mainOverlaps: string[];
  firewall: { rules: FirewallRule[] } | { unavailable: string };
  /** The probe through the tunnel (step 5): its result and the Child SA's packet counters before and after. */
  probe?: { result: ProbeResult; outDelta: number; inDelta: number } | { error: string };
  /** Step 7: the largest DF probe that came back, and the sizes tried. */
  mtu?: { largest: number; mtu: number; tried: { size: number; ok: boolean }[] } | { error: string };
}

type Status = TunnelStatus;
type IkeSa = Status['ikeSas'][number];

const isErr = <T extends object>(x: T | { error: string } | undefined): x is { error: string } => x !== undefined && 'error' in x && typeof (x as { error: unknown }).error === 'string';

/** The IKE SA the steps look at: an established one first, else the newest. */
function mainIkeSa(s: Status): IkeSa | undefined {
  return s.ikeSas.find((sa) => sa.state === 'ESTABLISHED') ?? s.ikeSas[s.ikeSas.length - 1];
}

/** The newest failure the daemon knows of: the tunnel's, a connection's, or an unauthenticated peer's. */
function newestFailure(s: Status): LastFailure | undefined {
  const all = [s.lastFailure, ...(s.connections ?? []).map((c) => c.lastFailure), s.lastUnauthenticatedFailure].filter((f): f is LastFailure => !!f && typeof f.row === 'string');
  return all.sort((a, b) => String(b.at ?? '').localeCompare(String(a.at ?? '')))[0];
}

const failureOf = (s: Status, rows: readonly string[]): LastFailure | undefined => {
  const f = newestFailure(s);
  return f && rows.includes(f.row) ? f : undefined;
};

const children = (s: Status) => s.ikeSas.flatMap((sa) => sa.children);

const step = (n: number, name: string, result: StepResult, summary: string, evidence: Record<string, unknown> = {}, fix?: string): Step => ({ step: n, name, result, summary, evidence, ...(fix !== undefined ? { fix } : {}) });

const NAMES = ['outer path', 'identity and authentication', 'proposals and lifetimes', 'selectors and routes', 'traffic through the tunnel', 'inner firewall and return route', 'MTU'] as const;

const unknownAll = (why: string, from: number): Step[] => NAMES.slice(from - 1).map((n, i) => step(from + i, n, 'unknown', why));

/** The seven steps from the facts. */
export function diagnoseSteps(f: DiagnoseFacts): Step[] {
  const s = f.status;
  if (isErr(s)) {
    return [
      step(1, NAMES[0], 'fail', `no tsvpn daemon answers: ${s.error}`, { error: s.error }, `start the tunnel: sudo tsvpn up <peer.json> (its "name" is ${f.name}); \`tsvpn status\` lists the running ones`),
      ...unknownAll('the daemon is not running', 2),
    ];
  }
  return [outerPath(f, s), identity(s), proposals(s), selectors(f, s), traffic(f, s), innerFirewall(f, s), mtu(f, s)];
}

/** Step 1: the peer's address is routed and answers; IKE gets through; ESP moves; NAT. */
function outerPath(f: DiagnoseFacts, s: Status): Step {
  const sa = mainIkeSa(s);
  const cs = children(s);
  const espOut = cs.reduce((n, c) => n + c.packetsOut, 0);
  const espIn = cs.reduce((n, c) => n + c.packetsIn, 0);
  const nat = sa ? (sa.nat.local || sa.nat.remote ? `NAT ${[sa.nat.local ? 'here' : '', sa.nat.remote ? 'at the peer' : ''].filter(Boolean).join(' and ')}` : 'no NAT') : 'NAT unknown';
  const ev: Record<string, unknown> = { peer: f.peer?.addr, route: f.peer?.route, neighbour: f.peer?.neighbour, ikeSa: sa ? { state: sa.state, local: sa.local, remote: sa.remote, established: sa.established } : null, retransmits: s.retransmits, esp: { out: espOut, in: espIn }, encap: s.encap, nat: sa?.nat, killSwitch: s.killSwitch };
  const outerRules = isErr(f.firewall) || !('rules' in f.firewall) ? [] : f.firewall.rules.filter((r) => r.concerns === 'outer').map((r) => r.text);
  if (outerRules.length > 0) ev.firewall = outerRules;
  const peer = f.peer?.addr ?? sa?.remote ?? '?';
  if (f.peer?.route.error) return step(1, NAMES[0], 'fail', `no route to the peer ${peer}: ${f.peer.route.error}`, ev, `routing to the peer's outer address: \`ip route get ${peer}\` must find a route (default route, peer address in peer.json "remote.addr")`);
  if (f.peer?.neighbour === 'FAILED' || f.peer?.neighbour === 'INCOMPLETE') {
    return step(1, NAMES[0], 'fail', `the next hop towards ${peer} does not answer ARP/ND (${f.peer.neighbour})`, ev, `the link towards the peer: is the next hop (${f.peer.route.gateway ?? peer}) up and on this link?`);
  }
  const via = f.peer?.route.dev ? ` via ${f.peer.route.dev}` : '';
  const f1 = failureOf(s, ['F1']);
  const up = sa?.state === 'ESTABLISHED';
  const answered = failureOf(s, ['F2', 'F3', 'F4']); // the peer answered IKE: the outer path works
  if (!up && answered) return step(1, NAMES[0], 'pass', `peer ${peer} answers IKE${via} (what fails is further on: ${answered.row})`, ev);
  if (!up && (f1 || (sa && s.retransmits > 0))) {
    if (f1) ev.failure = f1;
    return step(1, NAMES[0], 'fail', `no answer from the peer ${peer}${via}: ${f1 ? f1.message : `IKE SA ${sa?.state ?? 'absent'}, ${s.retransmits} retransmits`}${blockedWhileDown(s)}`, ev, 'outer firewall or routing between the two ends (UDP 500 and 4500 both ways), the peer\'s address in peer.json, and whether tsvpn (or the peer\'s IKE daemon) runs there');
  }
  if (outerRules.length > 0 && espOut > 0 && espIn === 0) {
    return step(1, NAMES[0], 'fail', `this host's nftables drops IKE or ESP: ${outerRules[0]}`, ev, 'let IP protocol 50 (ESP) and UDP 500/4500 from the peer through (nft list ruleset)');
  }
  const ike = up ? `IKE established ${sa.established ?? 0}s ago` : sa ? `IKE ${sa.state}` : 'no IKE SA';
  const summary = `peer ${peer} reachable${via}, ${ike}, ESP ${espOut} out/${espIn} in, ${nat}`;
  if (!up) return step(1, NAMES[0], 'unknown', `${summary}${blockedWhileDown(s)}`, ev);
  return step(1, NAMES[0], 'pass', summary, ev);
}

/** While the tunnel is down, a client's kill switch lets out only IKE and ESP to the gateway: say so, it explains why nothing else gets out. */
const blockedWhileDown = (s: Status): string =>
  typeof s.killSwitch?.dropped === 'number' ? `; the kill switch blocks all other traffic until the tunnel is up (${s.killSwitch.dropped} packets dropped so far)` : '';

/** Step 2: the IKE SA authenticated (F3 otherwise). */
function identity(s: Status): Step {
  const sa = mainIkeSa(s);
  if (sa?.state === 'ESTABLISHED') return step(2, NAMES[1], 'pass', `${sa.localId} <-> ${sa.remoteId} authenticated`, { localId: sa.localId, remoteId: sa.remoteId });
  const f2 = failureOf(s, ['F2']);
  if (f2) return step(2, NAMES[1], 'unknown', `not reached: IKE_SA_INIT failed first (${f2.row})`, { failure: f2 });
  const f3 = failureOf(s, ['F3']);
  if (f3) return step(2, NAMES[1], 'fail', `authentication failed: ${f3.message}`, { failure: f3 }, 'identity and trust chain: the ids ("local.id", "remote.id"), the PSK or the certificates and CAs on both ends, the clocks');
  return step(2, NAMES[1], 'fail', sa ? `the IKE SA is ${sa.state}, not established` : 'no IKE SA', { ikeSa: sa ? { state: sa.state, role: sa.role } : null, lastFailure: newestFailure(s) ?? null }, 'see step 1 and the peer\'s log; `tsvpn events` shows each failure as it happens');
}

/** Step 3: proposals agreed and lifetimes sane (F2, F6). */
function proposals(s: Status): Step {
  const sa = mainIkeSa(s);
  const cs = children(s);
  const f26 = failureOf(s, ['F2', 'F6']);
  if (sa?.state !== 'ESTABLISHED') {
    if (f26?.row === 'F2') return step(3, NAMES[2], 'fail', `no proposal in common: ${f26.message}`, { failure: f26 }, 'ENCR, INTEG, PRF, DH group on both ends ("ike.proposals", "child.proposals")');
    return step(3, NAMES[2], 'unknown', 'no established IKE SA to read the proposals of');
  }
  const ev = { ike: sa.proposal, children: cs.map((c) => ({ name: c.name, proposal: c.proposal, rekeyIn: c.rekeyIn, expiresIn: c.expiresIn })), ikeRekeyIn: sa.rekeyIn };
  if (cs.length === 0 && f26) return step(3, NAMES[2], 'fail', `${f26.row}: ${f26.message}`, { ...ev, failure: f26 }, f26.row === 'F2' ? 'the Child SA proposals ("child.proposals") on both ends' : 'rekey timers, Child SA proposals and the PFS group on both ends');
  const expired = cs.find((c) => c.expiresIn === 0);
  if (expired) return step(3, NAMES[2], 'fail', `Child SA ${expired.name} is past its hard lifetime`, ev, 'rekey timers ("child.rekey", "child.life")');
  return step(3, NAMES[2], 'pass', `IKE ${sa.proposal}${cs[0] ? `, ESP ${cs[0].proposal}` : ''}`, ev);
}

/** Step 4: each remote selector is routed into the TUN from a local selector address. */
function selectors(f: DiagnoseFacts, s: Status): Step {
  const cs = children(s);
  const tun = s.tun?.name;
  if (cs.length === 0) {
    const f4 = failureOf(s, ['F4']);
    if (f4) return step(4, NAMES[3], 'fail', `the Child SA was refused: ${f4.message}`, { failure: f4 }, 'local and remote prefixes ("local.ts", "remote.ts") on both ends must overlap');
    return step(4, NAMES[3], mainIkeSa(s)?.state === 'ESTABLISHED' ? 'fail' : 'unknown', 'no Child SA installed', { lastFailure: newestFailure(s) ?? null }, 'see steps 2-3 and `tsvpn events`');
  }
  const ev: Record<string, unknown> = { tun, routes: f.routes, routesMissing: s.routesMissing ?? 0, mainOverlaps: f.mainOverlaps, spdMisses: s.spdMisses ?? [] };
  const notRouted = cs.find((c) => c.routeError);
  if (notRouted) return step(4, NAMES[3], 'fail', `Child SA ${notRouted.name} is NOT ROUTED: ${notRouted.routeError}`, ev, 'the routes tsvpn could not install (another route or rule in the way?); restart `tsvpn up` once it is fixed');
  for (const r of f.routes) {
    if (r.route.error || r.route.dev !== tun) {
      const where = r.route.error ? r.route.error : `${r.route.type && r.route.type !== 'unicast' ? `${r.route.type} ` : ''}dev ${r.route.dev ?? '?'}`;
      return step(4, NAMES[3], 'fail', `${r.dst} (${r.remoteTs}) from ${r.src ?? 'this host'} is not routed into ${tun}: ${where}`, ev, `tsvpn's route into the TUN is gone or overridden: \`ip route show table 7481\` must list ${r.remoteTs} dev ${tun}; \`tsvpn reload\` does not restore it, restart \`tsvpn up\` (and find who deleted it)`);
    }
    if (r.route.prefsrc && r.src && r.route.prefsrc !== r.src) {
      return step(4, NAMES[3], 'fail', `traffic to ${r.dst} leaves with source ${r.route.prefsrc}, outside local.ts`, ev, `the source address: give this host an address inside ${cs[0]?.localTs.join(', ')} or send from one (ping -I)`);
    }
  }
  if ((s.routesMissing ?? 0) > 0) return step(4, NAMES[3], 'fail', `${s.routesMissing} of tsvpn's routes or rules are missing`, ev, 'restart `tsvpn up`, and find who deletes routes (ip monitor route)');
  if (f.routes.length === 0) return step(4, NAMES[3], 'unknown', 'no route looked up', ev);
  const overlap = f.mainOverlaps.length > 0 ? ` (main has ${f.mainOverlaps.join(', ')}, not used: tsvpn's rule comes first)` : '';
  return step(4, NAMES[3], 'pass', `${f.routes.map((r) => r.remoteTs).join(', ')} -> ${tun} from ${f.routes[0]?.src ?? '?'}${overlap}`, ev);
}

/** Step 5: our own echo request goes out through the Child SA and its reply comes back. */
function traffic(f: DiagnoseFacts, s: Status): Step {
  const p = f.probe;
  if (!p) return step(5, NAMES[4], 'unknown', children(s).length === 0 ? 'no Child SA to probe' : 'not probed');
  if (isErr(p)) return step(5, NAMES[4], 'unknown', `probe not possible: ${p.error}`, { error: p.error });
  const r = p.result;
  const ev = { probe: r, childPacketsOut: p.outDelta, childPacketsIn: p.inDelta };
  const line = `ICMP echo ${r.src} -> ${r.dst} (${r.child}): ${r.received}/${r.sent} answered, SA counters +${p.outDelta} out/+${p.inDelta} in`;
  if (r.sent > 0 && r.received > 0) return step(5, NAMES[4], 'pass', `${line}${r.rttMs !== undefined ? `, ${r.rttMs} ms` : ''}`, ev);
  if (r.sent === 0) return step(5, NAMES[4], 'unknown', `${line}: nothing sent`, ev);
  const fix = p.outDelta === 0
    ? 'the probe did not leave through the Child SA: the SPD (selectors) or the IKE side (is the Child SA installed?)'
    : `ESP left and nothing came back: ESP (IP protocol 50, or UDP 4500) blocked on the path or at the peer, or the peer drops the inner packets (its firewall) or routes the answers elsewhere (its return route to ${r.src}); run \`tsvpn diagnose\` on the peer, and compare its ESP in counter with ours out`;
  return step(5, NAMES[4], 'fail', line, ev, fix);
}

/** Step 6: no nftables rule drops the tunnel's inner traffic; answers from the TUN are accepted. */
function innerFirewall(f: DiagnoseFacts, s: Status): Step {
  const tun = s.tun?.name;
  const back = f.routes.filter((r) => r.back);
  const badBack = back.find((r) => r.back!.error || (r.back!.type !== undefined && r.back!.type !== 'local' && r.back!.dev === tun));
  const ev: Record<string, unknown> = { returnRoutes: back.map((r) => ({ from: r.dst, to: r.src, route: r.back })) };
  if (badBack) {
    return step(6, NAMES[5], 'fail', `packets from ${badBack.dst} arriving on ${tun} for ${badBack.src} are not accepted: ${badBack.back!.error ?? `routed back into ${tun}`}`, ev, `the return path: reverse-path filtering (sysctl net.ipv4.conf.${tun}.rp_filter) or a route for ${badBack.src} that points into the tunnel`);
  }
  const ks = s.killSwitch;
  if (ks) ev.killSwitch = ks;
  if (ks && ks.dropped === null) {
    return step(6, NAMES[5], 'fail', `the kill switch's nft table ${ks.table} is gone: traffic that misses the tunnel leaves in the clear`, ev, 'restart `tsvpn up`, which installs the table again, and find what flushed nftables (a firewall service that loads its own ruleset with `flush ruleset`?)');
  }
  if (!('rules' in f.firewall)) return step(6, NAMES[5], 'unknown', `firewall not read: ${f.firewall.unavailable}`, ev);
  const inner = f.firewall.rules.filter((r) => r.concerns === 'inner').map((r) => r.text);
  ev.firewall = inner;
  if (inner.length > 0) return step(6, NAMES[5], 'fail', `nftables drops the tunnel's traffic: ${inner[0]}`, ev, `the inner firewall: accept traffic on ${tun} between ${children(s)[0]?.localTs.join(',') ?? 'local.ts'} and ${children(s)[0]?.remoteTs.join(',') ?? 'remote.ts'} (nft list ruleset)`);
  const kill = ks ? `; kill switch on (${ks.table}, ${ks.dropped} packets outside the tunnel dropped)` : '';
  return step(6, NAMES[5], 'pass', `no nftables rule drops ${tun ?? 'the TUN'}'s traffic${back.length > 0 ? `; answers from ${back.map((r) => r.dst).join(', ')} are accepted` : ''}${kill}`, ev);
}

/** Step 7: the largest DF probe that passes, against the TUN MTU (F7). */
function mtu(f: DiagnoseFacts, s: Status): Step {
  const m = f.mtu;
  const tunMtu = s.tun?.mtu;
  if (!m) return step(7, NAMES[6], 'unknown', 'not probed (step 5 must pass first)');
  if (isErr(m)) return step(7, NAMES[6], 'unknown', `MTU probe not possible: ${m.error}`, { error: m.error });
  const ev = { largest: m.largest, tunMtu: m.mtu, tried: m.tried };
  if (m.largest >= m.mtu) return step(7, NAMES[6], 'pass', `DF probes up to the TUN MTU ${m.mtu} pass`, ev);
  return step(7, NAMES[6], 'fail', `DF probes over ${m.largest} bytes are lost, the TUN MTU is ${tunMtu ?? m.mtu}`, ev, `the outer path carries less than the TUN MTU assumes and its ICMP "fragmentation needed" does not reach us: set "tun": { "mtu": ${m.largest} } in peer.json (and "mssClamp": true), or let ICMP type 3 code 4 through on the path (failure map F7)`);
}

/** The first failing step's number, or undefined. */
export const firstFailing = (steps: readonly Step[]): number | undefined => steps.find((x) => x.result === 'fail')?.step;

/** Exit code: 1 when a step fails, else 0 (unknown steps do not fail). */
export const exitCodeOf = (steps: readonly Step[]): number => (firstFailing(steps) === undefined ? 0 : 1);

const DOTS = 34;

/** The text report: one line per step, then the first failing step's evidence and fix. */
export function formatSteps(name: string, steps: readonly Step[]): string {
  const lines = [`tsvpn diagnose ${name}`];
  for (const x of steps) lines.push(`${x.step} ${x.name} ${'.'.repeat(Math.max(2, DOTS - x.name.length))} ${x.result.padEnd(7)} (${x.summary})`);
  const first = steps.find((x) => x.result === 'fail');
  if (!first) {
    lines.push(steps.some((x) => x.result === 'unknown') ? 'no step fails (some could not be checked)' : 'every step passes');
    return lines.join('\n');
  }
  lines.push('', `step ${first.step} (${first.name}) fails: ${first.summary}`);
  for (const [k, v] of Object.entries(first.evidence)) if (v !== undefined && !(Array.isArray(v) && v.length === 0)) lines.push(`  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (first.fix) lines.push(`fix: ${first.fix}`);
  return lines.join('\n');
}
