// `tsvpn diagnose`: the seven steps from synthetic status and command outputs
// (src/cli/diagnose-steps.ts judges, src/cli/diagnose-facts.ts gathers, src/cli/diagnose.ts prints).
import { describe, expect, it } from 'vitest';

import type { ProbeResult } from '../../src/daemon/probe.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { gatherFacts, type HostIo, type RunResult } from '../../src/cli/diagnose-facts.js';
import { diagnoseSteps, exitCodeOf, firstFailing, formatSteps, type DiagnoseFacts } from '../../src/cli/diagnose-steps.js';
import { runDiagnose } from '../../src/cli/diagnose.js';
import { upStatus } from './fixtures.js';

const probe = (over: Partial<ProbeResult> = {}): ProbeResult => ({ conn: 'left', child: 'left', src: '203.0.113.1', dst: '203.0.113.129', size: 84, mtu: 1438, sent: 3, received: 3, rttMs: 1, ...over });

/** The facts of a healthy tunnel: every step passes. */
function healthy(): DiagnoseFacts {
  return {
    name: 'left',
    status: upStatus(),
    peer: { addr: '198.51.100.2', route: { dev: 'veth0', prefsrc: '198.51.100.1' }, neighbour: 'REACHABLE' },
    routes: [{ remoteTs: '203.0.113.128/25', dst: '203.0.113.129', src: '203.0.113.1', route: { dev: 'tsvpn-left', prefsrc: '203.0.113.1' }, back: { type: 'local', dev: 'lo' } }],
    mainOverlaps: [],
    firewall: { rules: [] },
    probe: { result: probe(), outDelta: 3, inDelta: 3 },
    mtu: { largest: 1438, mtu: 1438, tried: [{ size: 1438, ok: true }] },
  };
}

const results = (f: DiagnoseFacts) => diagnoseSteps(f).map((s) => s.result);
const first = (f: DiagnoseFacts) => {
  const steps = diagnoseSteps(f);
  return steps.find((s) => s.step === firstFailing(steps));
};
const status = (f: DiagnoseFacts) => f.status as TunnelStatus;
const at = '2026-12-07T08:00:00.000Z';

describe('diagnoseSteps', () => {
  it('passes all seven on a healthy tunnel, exit code 0', () => {
    const steps = diagnoseSteps(healthy());
    expect(steps.map((s) => `${s.step} ${s.name} ${s.result}`)).toEqual([
      '1 outer path pass',
      '2 identity and authentication pass',
      '3 proposals and lifetimes pass',
      '4 selectors and routes pass',
      '5 traffic through the tunnel pass',
      '6 inner firewall and return route pass',
      '7 MTU pass',
    ]);
    expect(steps[0]!.summary).toBe('peer 198.51.100.2 reachable via veth0, IKE established 12s ago, ESP 12 out/10 in, no NAT');
    expect(exitCodeOf(steps)).toBe(0);
  });

  it('daemon not running: step 1 fails with "tsvpn up", the rest are unknown, exit code 1', () => {
    const f = { ...healthy(), status: { error: 'tunnel left is not running' } };
    expect(results(f)).toEqual(['fail', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown']);
    expect(first(f)!.fix).toMatch(/sudo tsvpn up <peer\.json>/);
    expect(exitCodeOf(diagnoseSteps(f))).toBe(1);
  });

  it('step 1: no route to the peer, a failed neighbour, F1 or retransmits without an answer; NAT named; an outer nftables drop', () => {
    expect(first({ ...healthy(), peer: { addr: '198.51.100.2', route: { error: 'RTNETLINK answers: Network is unreachable' } } })).toMatchObject({ step: 1, summary: expect.stringMatching(/no route to the peer 198\.51\.100\.2: RTNETLINK/) });
    expect(first({ ...healthy(), peer: { addr: '198.51.100.2', route: { dev: 'veth0' }, neighbour: 'FAILED' } })).toMatchObject({ step: 1, summary: expect.stringMatching(/ARP\/ND \(FAILED\)/) });
    const f1 = healthy();
    status(f1).ikeSas[0]!.state = 'CONNECTING';
    status(f1).ikeSas[0]!.children = [];
    status(f1).lastFailure = { row: 'F1', message: 'no response to IKE_SA_INIT after 5 retransmits', fixArea: 'outer firewall, routing, peer address', at };
    expect(first(f1)).toMatchObject({ step: 1, summary: expect.stringMatching(/no answer from the peer 198\.51\.100\.2 via veth0: no response/), fix: expect.stringMatching(/UDP 500 and 4500/) });
    const retr = healthy();
    status(retr).ikeSas[0]!.state = 'CONNECTING';
    status(retr).retransmits = 3;
    expect(first(retr)).toMatchObject({ step: 1, summary: expect.stringMatching(/IKE SA CONNECTING, 3 retransmits/) });
    const nat = healthy();
    status(nat).ikeSas[0]!.nat = { local: true, remote: false };
    expect(diagnoseSteps(nat)[0]!.summary).toMatch(/NAT here$/);
    const blocked = healthy();
    blocked.firewall = { rules: [{ text: 'inet t input: ip protocol esp drop', concerns: 'outer' }] };
    status(blocked).ikeSas[0]!.children[0]!.packetsIn = 0;
    expect(first(blocked)).toMatchObject({ step: 1, summary: expect.stringContaining('ip protocol esp drop') });
  });

  it('step 2: F3 fails with its message (step 1 passes: the peer answered); no IKE SA and no failure fails too', () => {
    const f = healthy();
    status(f).ikeSas = [];
    status(f).lastFailure = { row: 'F3', message: 'peer rejected our authentication (AUTHENTICATION_FAILED)', fixArea: 'identity and trust chain', at };
    expect(results(f).slice(0, 2)).toEqual(['pass', 'fail']);
    expect(first(f)).toMatchObject({ step: 2, summary: 'authentication failed: peer rejected our authentication (AUTHENTICATION_FAILED)', fix: expect.stringMatching(/PSK/) });
    const none = healthy();
    status(none).ikeSas = [];
    expect(first(none)).toMatchObject({ step: 2, summary: 'no IKE SA' });
    // an unauthenticated peer's F3 counts as well
    const unauth = healthy();
    status(unauth).ikeSas = [];
    status(unauth).lastUnauthenticatedFailure = { row: 'F3', message: 'AUTH payload does not verify', fixArea: 'identity and trust chain', at, from: '198.51.100.2', count: 2 };
    expect(first(unauth)!.step).toBe(2);
  });

  it('step 3: F2 before establishment, an expired Child SA', () => {
    const f2 = healthy();
    status(f2).ikeSas = [];
    status(f2).lastFailure = { row: 'F2', message: 'NO_PROPOSAL_CHOSEN', fixArea: 'ENCR, INTEG, PRF, DH group, IKE version', at };
    expect(results(f2).slice(0, 3)).toEqual(['pass', 'unknown', 'fail']);
    expect(first(f2)).toMatchObject({ step: 3, fix: expect.stringMatching(/DH group/) });
    const exp = healthy();
    status(exp).ikeSas[0]!.children[0]!.expiresIn = 0;
    expect(first(exp)).toMatchObject({ step: 3, summary: 'Child SA left is past its hard lifetime' });
  });

  it('step 4: a remote selector routed elsewhere or unreachable, NOT ROUTED, missing routes, a source outside local.ts; main overlaps noted', () => {
    const gone = healthy();
    gone.routes[0]!.route = { error: 'RTNETLINK answers: Network is unreachable' };
    expect(first(gone)).toMatchObject({ step: 4, summary: '203.0.113.129 (203.0.113.128/25) from 203.0.113.1 is not routed into tsvpn-left: RTNETLINK answers: Network is unreachable', fix: expect.stringMatching(/table 7481/) });
    const elsewhere = healthy();
    elsewhere.routes[0]!.route = { dev: 'veth0' };
    expect(first(elsewhere)!.summary).toMatch(/not routed into tsvpn-left: dev veth0/);
    const notRouted = healthy();
    status(notRouted).ikeSas[0]!.children[0]!.routeError = 'RTNETLINK answers: File exists';
    expect(first(notRouted)!.summary).toMatch(/NOT ROUTED/);
    const missing = healthy();
    status(missing).routesMissing = 2;
    expect(first(missing)!.summary).toBe("2 of tsvpn's routes or rules are missing");
    const src = healthy();
    src.routes[0]!.route.prefsrc = '198.51.100.1';
    expect(first(src)!.summary).toMatch(/source 198\.51\.100\.1, outside local\.ts/);
    const hijack = healthy();
    hijack.mainOverlaps = ['203.0.113.129 dev veth0'];
    expect(diagnoseSteps(hijack)[3]).toMatchObject({ result: 'pass', summary: expect.stringContaining('main has 203.0.113.129 dev veth0, not used') });
    const f4 = healthy();
    status(f4).ikeSas[0]!.children = [];
    status(f4).lastFailure = { row: 'F4', message: 'TS_UNACCEPTABLE', fixArea: 'local/remote prefixes, policies', at };
    f4.probe = undefined;
    f4.mtu = undefined;
    expect(first(f4)).toMatchObject({ step: 4, summary: 'the Child SA was refused: TS_UNACCEPTABLE' });
  });

  it('step 5: no reply fails (ESP out, nothing back), nothing out points at the SPD; a refused probe is unknown', () => {
    const f = healthy();
    f.probe = { result: probe({ received: 0, rttMs: undefined }), outDelta: 3, inDelta: 0 };
    f.mtu = undefined;
    expect(first(f)).toMatchObject({ step: 5, summary: 'ICMP echo 203.0.113.1 -> 203.0.113.129 (left): 0/3 answered, SA counters +3 out/+0 in', fix: expect.stringMatching(/ESP \(IP protocol 50, or UDP 4500\) blocked.*run `tsvpn diagnose` on the peer/) });
    f.probe = { result: probe({ received: 0 }), outDelta: 0, inDelta: 0 };
    expect(first(f)!.fix).toMatch(/did not leave through the Child SA/);
    f.probe = { error: 'unknown command "probe"' };
    expect(diagnoseSteps(f)[4]).toMatchObject({ result: 'unknown', summary: 'probe not possible: unknown command "probe"' });
    expect(diagnoseSteps(f)[6]).toMatchObject({ result: 'unknown' });
  });

  it('step 6: an nftables drop on the TUN or the selectors fails, no nft is unknown, answers routed back into the TUN fail', () => {
    const f = healthy();
    f.firewall = { rules: [{ text: 'inet t input: iifname tsvpn-left drop', concerns: 'inner' }] };
    expect(first(f)).toMatchObject({ step: 6, summary: "nftables drops the tunnel's traffic: inet t input: iifname tsvpn-left drop", fix: expect.stringMatching(/inner firewall/) });
    const noNft = healthy();
    noNft.firewall = { unavailable: 'nft is not installed' };
    expect(diagnoseSteps(noNft)[5]).toMatchObject({ result: 'unknown', summary: 'firewall not read: nft is not installed' });
    expect(exitCodeOf(diagnoseSteps(noNft))).toBe(0); // unknown does not fail
    const rp = healthy();
    rp.routes[0]!.back = { error: 'RTNETLINK answers: Invalid cross-device link' };
    expect(first(rp)).toMatchObject({ step: 6, fix: expect.stringMatching(/rp_filter/) });
  });

  it('kill switch: named in step 1 while the tunnel is down, in step 6 when up; its table gone fails step 6', () => {
    const up = healthy();
    status(up).killSwitch = { table: 'inet tsvpn_left', dropped: 12 };
    expect(diagnoseSteps(up)[5]).toMatchObject({ result: 'pass', summary: expect.stringContaining('kill switch on (inet tsvpn_left, 12 packets outside the tunnel dropped)') });
    expect(exitCodeOf(diagnoseSteps(up))).toBe(0);
    const down = healthy();
    status(down).ikeSas = [];
    status(down).retransmits = 4;
    status(down).killSwitch = { table: 'inet tsvpn_left', dropped: 7 };
    const s1 = diagnoseSteps(down)[0];
    expect(s1.summary).toMatch(/the kill switch blocks all other traffic until the tunnel is up \(7 packets dropped so far\)/);
    expect(s1.evidence.killSwitch).toEqual({ table: 'inet tsvpn_left', dropped: 7 });
    const gone = healthy();
    status(gone).killSwitch = { table: 'inet tsvpn_left', dropped: null };
    expect(first(gone)).toMatchObject({ step: 6, summary: expect.stringMatching(/nft table inet tsvpn_left is gone: traffic that misses the tunnel leaves in the clear/), fix: expect.stringMatching(/restart `tsvpn up`/) });
  });

  it('step 7: the largest DF probe below the TUN MTU fails with the MTU to set', () => {
    const f = healthy();
    f.mtu = { largest: 1292, mtu: 1438, tried: [{ size: 1438, ok: false }, { size: 761, ok: true }] };
    expect(first(f)).toMatchObject({ step: 7, summary: 'DF probes over 1292 bytes are lost, the TUN MTU is 1438', fix: expect.stringMatching(/"mtu": 1292/) });
  });

  it('the first failing step is the lowest, whatever fails after it', () => {
    const f = healthy();
    f.routes[0]!.route = { dev: 'veth0' };
    f.firewall = { rules: [{ text: 'x', concerns: 'inner' }] };
    f.mtu = { largest: 1000, mtu: 1438, tried: [] };
    const steps = diagnoseSteps(f);
    expect(steps.filter((s) => s.result === 'fail').map((s) => s.step)).toEqual([4, 6, 7]);
    expect(firstFailing(steps)).toBe(4);
    const text = formatSteps('left', steps);
    expect(text).toMatch(/^4 selectors and routes \.+ fail +\(/m);
    expect(text).toContain('step 4 (selectors and routes) fails:');
    expect(text).toMatch(/^fix: /m);
  });
});

// ---- gathering, from recorded command outputs --------------------------------------------

const NFT = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6' } },
    { rule: { family: 'inet', table: 't', chain: 'input', handle: 2, expr: [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'tsvpn-*' } }, { drop: null }] } },
    { rule: { family: 'inet', table: 't', chain: 'input', handle: 3, expr: [{ match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: { set: [500, 4500] } } }, { counter: { packets: 0, bytes: 0 } }, { drop: null }] } },
    { rule: { family: 'inet', table: 't', chain: 'input', handle: 4, expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: { prefix: { addr: '203.0.113.128', len: 26 } } } }, { reject: { type: 'icmp' } }] } },
    { rule: { family: 'inet', table: 't', chain: 'input', handle: 5, expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '192.0.2.7' } }, { drop: null }] } },
    { rule: { family: 'inet', table: 't', chain: 'input', handle: 6, expr: [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'tsvpn-left' } }, { accept: null }] } },
  ],
});

/** A host answering the commands diagnose runs from a table of recorded outputs; a probe that answers. */
function fakeHost(over: Record<string, RunResult> = {}, s: TunnelStatus = upStatus()): HostIo & { ran: string[] } {
  const ran: string[] = [];
  const table: Record<string, RunResult> = {
    'ip -j route get 198.51.100.2': { code: 0, out: '[{"dst":"198.51.100.2","dev":"veth0","prefsrc":"198.51.100.1"}]', err: '' },
    'ip -j neigh show to 198.51.100.2 dev veth0': { code: 0, out: '[{"dst":"198.51.100.2","dev":"veth0","state":["REACHABLE"]}]', err: '' },
    'ip -j addr show': { code: 0, out: '[{"ifname":"lo","addr_info":[{"local":"127.0.0.1"},{"local":"203.0.113.1"}]},{"ifname":"veth0","addr_info":[{"local":"198.51.100.1"}]}]', err: '' },
    'ip -j route get 203.0.113.129 from 203.0.113.1': { code: 0, out: '[{"dst":"203.0.113.129","from":"203.0.113.1","dev":"tsvpn-left"}]', err: '' },
    'ip -j route get 203.0.113.1 from 203.0.113.129 iif tsvpn-left': { code: 0, out: '[{"type":"local","dst":"203.0.113.1","dev":"lo"}]', err: '' },
    'ip -j -4 route show table main': { code: 0, out: '[{"dst":"default","gateway":"198.51.100.254"},{"dst":"203.0.113.129","dev":"veth0"},{"dst":"198.51.100.0/24","dev":"veth0"}]', err: '' },
    'ip -j -6 route show table main': { code: 0, out: '[]', err: '' },
    'nft -j list ruleset': { code: 0, out: '{"nftables":[{"metainfo":{}}]}', err: '' },
    ...over,
  };
  return {
    ran,
    run: (cmd, args) => {
      const k = [cmd, ...args].join(' ');
      ran.push(k);
      if (!(k in table)) throw new Error(`unexpected command: ${k}`);
      return table[k];
    },
    status: () => Promise.resolve(s),
    probe: (o) => Promise.resolve(probe({ size: o.size, sent: o.count, received: o.size <= 1300 ? o.count : 0 })),
  };
}

describe('gatherFacts', () => {
  it('reads routes, neighbour, overlaps in main, and the DF search finds the largest size that passes', async () => {
    const io = fakeHost();
    const f = await gatherFacts('left', io);
    expect(f.peer).toEqual({ addr: '198.51.100.2', route: { dev: 'veth0', prefsrc: '198.51.100.1' }, neighbour: 'REACHABLE' });
    expect(f.routes).toEqual([{ remoteTs: '203.0.113.128/25', dst: '203.0.113.129', src: '203.0.113.1', route: { dev: 'tsvpn-left' }, back: { type: 'local', dev: 'lo' } }]);
    expect(f.mainOverlaps).toEqual(['203.0.113.129 dev veth0']);
    expect(f.mtu && 'largest' in f.mtu ? f.mtu.largest : f.mtu).toBeGreaterThan(1300 - 8);
    expect(f.mtu && 'largest' in f.mtu ? f.mtu.largest : 0).toBeLessThanOrEqual(1300);
    expect(io.ran.every((c) => /^(ip -j (route get|neigh show|addr show|-[46] route show)|nft -j list ruleset)/.test(c))).toBe(true); // read-only commands only
    expect(diagnoseSteps(f).map((s) => s.result)).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'fail']);
  });

  it('keeps the nftables drop/reject rules that concern the tunnel: the TUN (wildcards too), the selectors, IKE/ESP ports', async () => {
    const f = await gatherFacts('left', fakeHost({ 'nft -j list ruleset': { code: 0, out: NFT, err: '' } }));
    expect(f.firewall).toEqual({
      rules: [
        { text: 'inet t input: iifname tsvpn-* drop', concerns: 'inner' },
        { text: 'inet t input: udp dport { 500, 4500 } drop', concerns: 'outer' },
        { text: 'inet t input: ip saddr 203.0.113.128/26 reject', concerns: 'inner' },
      ],
    });
  });

  it('without nft the firewall is unknown; a failing command becomes its error; a stopped daemon is a status error', async () => {
    const f = await gatherFacts('left', fakeHost({ 'nft -j list ruleset': undefined, 'ip -j route get 203.0.113.129 from 203.0.113.1': { code: 2, out: '', err: 'RTNETLINK answers: Network is unreachable\n' } }));
    expect(f.firewall).toEqual({ unavailable: 'nft is not installed' });
    expect(f.routes[0]!.route).toEqual({ error: 'RTNETLINK answers: Network is unreachable' });
    const down = await gatherFacts('left', { ...fakeHost(), status: () => Promise.reject(new Error('tunnel left is not running')) });
    expect(down.status).toEqual({ error: 'tunnel left is not running' });
  });
});

describe('runDiagnose', () => {
  const io = () => {
    const o = { out: '', err: '', env: {} };
    return { o, io: { out: (t: string) => void (o.out += t), err: (t: string) => void (o.err += t), env: {} } };
  };

  it('--json: tunnel, ok, firstFailing and the steps; exit 1 when one fails', async () => {
    const { o, io: cli } = io();
    const code = await runDiagnose('left', '/nonexistent', true, cli, fakeHost());
    const j = JSON.parse(o.out) as { tunnel: string; ok: boolean; firstFailing: number; steps: { step: number; name: string; result: string; summary: string; evidence: object; fix?: string }[] };
    expect(code).toBe(1);
    expect(j).toMatchObject({ tunnel: 'left', ok: false, firstFailing: 7 });
    expect(j.steps).toHaveLength(7);
    expect(Object.keys(j.steps[6]!).sort()).toEqual(['evidence', 'fix', 'name', 'result', 'step', 'summary']);
  });

  it('text: one line per step, then the failing step\'s evidence and fix; no daemon at all fails step 1', async () => {
    const { o, io: cli } = io();
    const code = await runDiagnose('', '/nonexistent', false, cli, { ...fakeHost(), status: () => Promise.reject(new Error('no tsvpn daemon is running (no control socket in /run/tsvpn)')) });
    expect(code).toBe(1);
    expect(o.out.split('\n').slice(0, 3)).toEqual([
      'tsvpn diagnose (no tunnel running)',
      '1 outer path ........................ fail    (no tsvpn daemon answers: no tsvpn daemon is running (no control socket in /run/tsvpn))',
      '2 identity and authentication ....... unknown (the daemon is not running)',
    ]);
    expect(o.out).toMatch(/^fix: start the tunnel: sudo tsvpn up <peer\.json>/m);
  });
});
