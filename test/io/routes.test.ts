// Routes into a TUN device in tsvpn's own table, the guard, the routing trap, the sweep of a
// killed run's leftovers and the outer MTU, in a throw-away namespace. routes.ts runs plain
// `ip` in its own namespace (the daemon runs under `ip netns exec`), so each case runs a child
// `ip netns exec <ns> node -e ...` that performs a list of steps (install, tamper, probe with
// `ip route get`, check, sweep, remove) and reports each step's result; this file asserts.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { RoutePlan } from '../../src/io/routes.js';
import { netnsSupport, listNs } from '../../src/io/netns.js';
import { repoRoot } from './helpers/netns.js';

const ok = netnsSupport().ok;
const TUN = 'tsvpn-rt0';
const TUN2 = 'tsvpn-rt1';
const WAN = 'wan0';
const GW4 = '198.51.100.1';
const GW6 = '2001:db8:100::1';
const FAR_PEER4 = '198.51.100.200'; // outside the /25 on wan0: reached via the gateway
const FAR_PEER6 = '2001:db8:200::2';
const INNER = '203.0.113.1'; // the local inner address, on lo
const INNER6 = '2001:db8:1::1';

function sh(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

const made: string[] = [];

/** A host: wan0 198.51.100.10/25 + 2001:db8:100::10/64 with default routes, two TUNs, inner addresses on lo. */
function host(): string {
  const ns = `tsvpn-rt-${randomBytes(3).toString('hex')}`;
  sh(['netns', 'add', ns]);
  made.push(ns);
  const n = (...a: string[]) => sh(['-n', ns, ...a]);
  n('link', 'set', 'lo', 'up');
  n('link', 'add', 'name', WAN, 'type', 'veth', 'peer', 'name', 'wan0p');
  n('addr', 'add', '198.51.100.10/25', 'dev', WAN);
  n('addr', 'add', '2001:db8:100::10/64', 'dev', WAN, 'nodad');
  n('link', 'set', WAN, 'up');
  n('link', 'set', 'wan0p', 'up');
  n('route', 'add', 'default', 'via', GW4, 'dev', WAN);
  n('-6', 'route', 'add', 'default', 'via', GW6, 'dev', WAN);
  n('addr', 'add', `${INNER}/32`, 'dev', 'lo');
  n('addr', 'add', `${INNER6}/128`, 'dev', 'lo', 'nodad');
  for (const t of [TUN, TUN2]) {
    n('tuntap', 'add', 'dev', t, 'mode', 'tun');
    n('link', 'set', t, 'up');
  }
  return ns;
}

function drop(ns: string): void {
  spawnSync('ip', ['netns', 'del', ns]);
  const i = made.indexOf(ns);
  if (i >= 0) made.splice(i, 1);
}

afterAll(() => {
  for (const ns of [...made]) drop(ns);
});

type Step =
  | { op: 'install'; as: string; plan: RoutePlan }
  | { op: 'remove'; as: string }
  | { op: 'check'; of: string[] }
  | { op: 'sweep'; dev: string }
  | { op: 'ip'; args: string[] }
  | { op: 'probe'; to: string[] } // each "ADDR [ipproto udp sport N]"
  | { op: 'ping'; to: string }
  | { op: 'tables' }
  | { op: 'mtu'; to: string[] }
  | { op: 'kill' }; // SIGKILL the child: nothing removed

interface Probe {
  dst: string;
  dev?: string;
  gateway?: string;
  prefsrc?: string;
  table?: string;
  failed?: string;
}
interface RouteRow {
  dst: string;
  dev?: string;
  type?: string;
  gateway?: string;
  prefsrc?: string;
  table?: string;
  protocol?: string;
}
interface RuleRow {
  priority: number;
  table: string;
  dst?: string;
  protocol?: string;
}
interface Tables {
  v4: RouteRow[];
  v6: RouteRow[];
  rules4: RuleRow[];
  rules6: RuleRow[];
}
interface Done {
  op: string;
  error?: { name: string; message: string; command?: string; stderr?: string };
  items?: string[];
  lines?: string[];
  probes?: Probe[];
  tables?: Tables;
  ping?: { code: number; out: string };
  mtu?: number[];
}

const CHILD = `
import { spawnSync } from 'node:child_process';
const routes = await import(process.env.ROUTES_URL);
const steps = JSON.parse(process.env.ROUTES_STEPS);
const ip = (args) => { const r = spawnSync('ip', args, { encoding: 'utf8' }); return r.status === 0 ? JSON.parse(r.stdout || '[]') : { failed: r.stderr.trim() }; };
const tables = () => ({ v4: ip(['-j', '-4', 'route', 'show', 'table', 'all']), v6: ip(['-j', '-6', 'route', 'show', 'table', 'all']).filter((r) => r.table !== 'local'), rules4: ip(['-j', '-4', 'rule']), rules6: ip(['-j', '-6', 'rule']) });
const held = {};
const say = (o) => process.stdout.write('STEP ' + JSON.stringify(o) + '\\n');
for (const s of steps) {
  const out = { op: s.op };
  try {
    if (s.op === 'install') { held[s.as] = routes.installRoutes(s.plan); out.items = held[s.as].items; }
    else if (s.op === 'remove') out.lines = routes.removeRoutes(held[s.as]);
    else if (s.op === 'check') out.lines = routes.checkRoutes(...s.of.map((h) => held[h]));
    else if (s.op === 'sweep') out.lines = routes.sweepStaleRoutes(s.dev);
    else if (s.op === 'ip') { const r = spawnSync('ip', s.args, { encoding: 'utf8' }); if (r.status !== 0) throw new Error('ip ' + s.args.join(' ') + ': ' + r.stderr); }
    else if (s.op === 'probe') out.probes = s.to.map((t) => { const a = t.split(' '); const r = ip(['-j', 'route', 'get', ...a]); return Array.isArray(r) ? r[0] : { dst: a[0], ...r }; });
    else if (s.op === 'ping') { const r = spawnSync('ping', ['-c', '1', '-W', '1', s.to], { encoding: 'utf8' }); out.ping = { code: r.status, out: r.stdout + r.stderr }; }
    else if (s.op === 'tables') out.tables = tables();
    else if (s.op === 'mtu') out.mtu = s.to.map((a) => routes.outerMtu(a));
    else if (s.op === 'kill') process.kill(process.pid, 'SIGKILL');
  } catch (e) {
    out.error = { name: e.name, message: e.message, command: e.command, stderr: e.stderr };
  }
  say(out);
}
`;

/** Run the steps in a child inside `ns`; one result per step. */
function inNs(ns: string, steps: Step[]): Done[] {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', CHILD], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 25_000,
    env: { ...process.env, ROUTES_STEPS: JSON.stringify(steps), ROUTES_URL: pathToFileURL(resolve(repoRoot, 'src/io/routes.ts')).href },
  });
  const done = r.stdout.split('\n').filter((l) => l.startsWith('STEP ')).map((l) => JSON.parse(l.slice(5)) as Done);
  const expected = steps.findIndex((s) => s.op === 'kill');
  if (done.length !== (expected < 0 ? steps.length : expected)) throw new Error(`child stopped after ${done.length} steps (status ${r.status}, ${r.signal ?? ''}): ${r.stderr}`);
  return done;
}

/** Run steps in a fresh host namespace, always deleting it. */
function run(...batches: Step[][]): Done[][] {
  const ns = host();
  try {
    return batches.map((b) => inNs(ns, b));
  } finally {
    drop(ns);
  }
}

const ours = (t: Tables) => ({
  rules: [...t.rules4, ...t.rules6].filter((r) => r.protocol === '74').map((r) => `${r.priority} ${r.dst ?? 'all'} ${r.table}`),
  routes: [...t.v4, ...t.v6].filter((r) => r.table === '7481' || r.table === '7482').map((r) => `${r.table} ${r.type ?? ''} ${r.dst} ${r.type ? '' : (r.dev ?? '')} ${r.prefsrc ?? ''}`.replace(/ +/g, ' ').trim()),
});

describe.skipIf(!ok)('routes into the TUN device (needs root and /dev/net/tun)', () => {
  it('puts the remote prefixes of both families into table 7481 with the inner source, behind rules before main, and removes exactly them', () => {
    const [[before, install, during, probe, check, remove, again, after]] = run([
      { op: 'tables' },
      { op: 'install', as: 'a', plan: { dev: TUN, remote: ['203.0.113.128/25', '2001:db8:2::/48'], peer: FAR_PEER4, src: INNER } },
      { op: 'tables' },
      { op: 'probe', to: ['203.0.113.130', '2001:db8:2::7', FAR_PEER4] },
      { op: 'check', of: ['a'] },
      { op: 'remove', as: 'a' },
      { op: 'remove', as: 'a' },
      { op: 'tables' },
    ]);
    expect(install.error).toBeUndefined();
    expect(ours(during.tables!)).toEqual({
      rules: ['7481 all 7481', '7482 all 7482', '7481 all 7481', '7482 all 7482'],
      routes: ['7481 203.0.113.128/25 tsvpn-rt0 203.0.113.1', '7482 unreachable 203.0.113.128/25', '7481 2001:db8:2::/48 tsvpn-rt0', '7482 unreachable 2001:db8:2::/48'],
    });
    const [v4, v6, peer] = probe.probes!;
    expect([v4.dev, v4.prefsrc, v4.table]).toEqual([TUN, INNER, '7481']);
    expect(v6.dev).toBe(TUN);
    expect(peer.dev).toBe(WAN); // not covered: no exemption needed, none added
    expect(ours(during.tables!).rules.some((r) => r.startsWith('7480'))).toBe(false);
    expect(check.lines).toEqual([]);
    expect(remove.lines).toEqual([]);
    expect(again.lines).toEqual([]); // idempotent
    expect(after.tables).toEqual(before.tables); // nothing left: no rule, no route
  }, 60_000);

  it('0.0.0.0/0 and ::/0: everything goes into the TUN but tsvpn\'s own IKE and ESP to the peer, and main is left alone', () => {
    for (const peer of [FAR_PEER4, FAR_PEER6]) {
      const [[before, install, probe, during, remove, after]] = run([
        { op: 'tables' },
        { op: 'install', as: 'a', plan: { dev: TUN, remote: ['0.0.0.0/0', '::/0'], peer, src: INNER } },
        { op: 'probe', to: [`${peer} ipproto udp sport 500`, `${peer} ipproto udp sport 4500`, peer, '192.0.2.55', '2001:db8:77::1', 'fe80::1'] },
        { op: 'tables' },
        { op: 'remove', as: 'a' },
        { op: 'tables' },
      ]);
      expect(install.error).toBeUndefined();
      const [ike, natt, other, any4, any6, linkLocal] = probe.probes!;
      expect([ike.dev, ike.gateway]).toEqual([WAN, peer.includes(':') ? GW6 : GW4]); // the routing trap is avoided
      expect(natt.dev).toBe(WAN);
      expect(other.dev).toBe(TUN); // anything else to the peer is protected traffic
      expect(any4.dev).toBe(TUN);
      expect(any6.dev).toBe(TUN);
      expect(['wan0', 'wan0p']).toContain(linkLocal.dev); // fe80::/10 stays on its link (either veth end here)
      const main = (t: Tables) => t.v4.filter((r) => !r.table);
      expect(main(during.tables!)).toEqual(main(before.tables!)); // main, default route included, untouched
      expect(remove.lines).toEqual([]);
      expect(after.tables).toEqual(before.tables);
    }
  }, 60_000);

  it('never in clear: a more specific route in main does not win, and a deleted tunnel route drops (unreachable) instead of leaking, which checkRoutes reports', () => {
    const [[install, hijacked, , deleted, ping, check, , gone, check2, remove, after]] = run([
      { op: 'install', as: 'a', plan: { dev: TUN, remote: ['203.0.113.128/25'], peer: FAR_PEER4, src: INNER } },
      { op: 'ip', args: ['route', 'add', '203.0.113.130/32', 'via', GW4, 'dev', WAN] }, // a hijack in main
      { op: 'ip', args: ['route', 'del', '203.0.113.128/25', 'dev', TUN, 'table', '7481'] },
      { op: 'probe', to: ['203.0.113.130', '203.0.113.200'] },
      { op: 'ping', to: '203.0.113.200' },
      { op: 'check', of: ['a'] },
      { op: 'ip', args: ['link', 'del', TUN] }, // the device goes (a killed daemon)
      { op: 'probe', to: ['203.0.113.130'] },
      { op: 'check', of: [] }, // everything the process holds
      { op: 'remove', as: 'a' },
      { op: 'tables' },
    ]);
    expect(install.error).toBeUndefined();
    expect(hijacked.error).toBeUndefined();
    for (const p of [...deleted.probes!, ...gone.probes!]) {
      expect(p.dev).toBeUndefined(); // not wan0, not anywhere
      expect(p.failed).toMatch(/No route to host|unreachable/i);
    }
    expect(ping.ping!.code).not.toBe(0);
    expect(ping.ping!.out).toMatch(/unreachable|No route to host/i);
    expect(check.lines).toEqual([`missing: ip -4 route 203.0.113.128/25 dev ${TUN} table 7481 src ${INNER} (into the tunnel)`]);
    expect(check2.lines).toEqual(check.lines);
    expect(remove.lines).toEqual([]);
    expect(ours(after.tables!)).toEqual({ rules: [], routes: [] });
  }, 60_000);

  it('a more specific route in main does not win while the tunnel route is there', () => {
    const [[, , probe]] = run([
      { op: 'install', as: 'a', plan: { dev: TUN, remote: ['203.0.113.128/25'], peer: FAR_PEER4 } },
      { op: 'ip', args: ['route', 'add', '203.0.113.130/32', 'via', GW4, 'dev', WAN] },
      { op: 'probe', to: ['203.0.113.130'] },
    ]);
    expect(probe.probes![0].dev).toBe(TUN);
  }, 60_000);

  it('two tunnels share the lookup rules: removing one leaves the other working; one prefix cannot go into two devices', () => {
    const [[before, a, b, clash, removeA, probe, check, removeB, after]] = run([
      { op: 'tables' },
      { op: 'install', as: 'a', plan: { dev: TUN, remote: ['203.0.113.128/25'], peer: FAR_PEER4, src: INNER } },
      { op: 'install', as: 'b', plan: { dev: TUN2, remote: ['192.0.2.0/24', '2001:db8:3::/48'], peer: '198.51.100.201', src: INNER6 } },
      { op: 'install', as: 'c', plan: { dev: TUN2, remote: ['203.0.113.128/25'], peer: '198.51.100.201' } },
      { op: 'remove', as: 'a' },
      { op: 'probe', to: ['192.0.2.9', '2001:db8:3::9', '203.0.113.130'] },
      { op: 'check', of: ['a', 'b'] },
      { op: 'remove', as: 'b' },
      { op: 'tables' },
    ]);
    expect(a.error).toBeUndefined();
    expect(b.error).toBeUndefined();
    expect(clash.error?.name).toBe('RouteError');
    expect(clash.error?.message).toMatch(/203\.0\.113\.128\/25 is already routed into tsvpn-rt0/);
    expect(removeA.lines).toEqual([]);
    const [v4, v6, gone] = probe.probes!;
    expect([v4.dev, v6.dev, v6.prefsrc]).toEqual([TUN2, TUN2, INNER6]);
    expect(gone.dev).toBe(WAN); // a's prefix is no longer protected: back to main
    expect(check.lines).toEqual([]); // a's handle is empty after removeRoutes
    expect(removeB.lines).toEqual([]);
    expect(after.tables).toEqual(before.tables);
  }, 60_000);

  it('a lookup rule another daemon\'s routes in the same namespace still need outlives the last handle of this one', () => {
    const other = [
      ['route', 'add', '198.18.0.0/15', 'dev', TUN2, 'proto', '74', 'table', '7481'],
      ['route', 'add', 'unreachable', '198.18.0.0/15', 'proto', '74', 'table', '7482'],
    ];
    const [[before], [, , , a, removeA, probe, sweep, after]] = run(
      [{ op: 'tables' }],
      [
        ...other.map((args): Step => ({ op: 'ip', args })), // another daemon's tunnel, and its lookup rules:
        { op: 'ip', args: ['rule', 'add', 'pref', '7481', 'lookup', '7481', 'protocol', '74'] },
        { op: 'install', as: 'a', plan: { dev: TUN, remote: ['203.0.113.128/25'], peer: FAR_PEER4 } },
        { op: 'remove', as: 'a' },
        { op: 'probe', to: ['198.18.0.1', '203.0.113.130'] },
        { op: 'sweep', dev: TUN2 }, // that daemon's next start
        { op: 'tables' },
      ],
    );
    expect(a.error).toBeUndefined();
    expect(removeA.lines).toEqual([]);
    expect(probe.probes!.map((p) => p.dev)).toEqual([TUN2, WAN]);
    expect(sweep.lines).toHaveLength(4); // its route, its guard, then both lookup rules nothing needs any more
    expect(after.tables).toEqual(before.tables);
  }, 60_000);

  it('after a SIGKILL the prefixes stay unreachable (not in clear) until the next start sweeps, which keeps a live tunnel\'s entries', () => {
    const [[before], , [left, probe], [other, sweep, after, probeOther, , clean]] = run(
      [{ op: 'tables' }],
      [{ op: 'install', as: 'a', plan: { dev: TUN, remote: ['0.0.0.0/0', '2001:db8:2::/48'], peer: FAR_PEER4, src: INNER } }, { op: 'kill' }],
      [
        { op: 'ip', args: ['link', 'del', TUN] }, // the TUN goes with its process...
        { op: 'probe', to: ['192.0.2.55', `${FAR_PEER4} ipproto udp sport 500`] },
      ],
      [
        { op: 'install', as: 'b', plan: { dev: TUN2, remote: ['198.18.0.0/15'], peer: '198.51.100.201' } },
        { op: 'sweep', dev: TUN },
        { op: 'tables' },
        { op: 'probe', to: ['198.18.0.1', '192.0.2.55'] },
        { op: 'remove', as: 'b' },
        { op: 'tables' },
      ],
    );
    expect(left.error).toBeUndefined();
    expect(probe.probes![0].failed).toMatch(/No route to host/); // fail closed
    expect(probe.probes![1].dev).toBe(WAN); // IKE to the peer still leaves
    expect(other.error).toBeUndefined();
    expect(sweep.error).toBeUndefined();
    expect(sweep.lines).toHaveLength(8); // 3 exemptions, the 2 IPv6 lookup rules, 3 guards (the IPv4 lookup rules serve the live tunnel)
    expect(sweep.lines!.every((l) => !l.includes('198.18.0.0'))).toBe(true);
    expect(ours(after.tables!)).toEqual({
      rules: ['7481 all 7481', '7482 all 7482'],
      routes: ['7481 198.18.0.0/15 tsvpn-rt1', '7482 unreachable 198.18.0.0/15'],
    });
    expect(probeOther.probes!.map((p) => p.dev)).toEqual([TUN2, WAN]);
    const withoutTun = (t: Tables) => ({ ...t, v4: t.v4.filter((r) => r.dev !== TUN), v6: t.v6.filter((r) => r.dev !== TUN) });
    expect(clean.tables).toEqual(withoutTun(before.tables!));
  }, 60_000);

  it('a failure midway throws RouteError naming the ip command and removes what was already added', () => {
    // the IPv6 entries go in, then the IPv4 tunnel route fails: 192.0.2.99 is no local address
    const [[before, bad, after, missing, after2]] = run([
      { op: 'tables' },
      { op: 'install', as: 'a', plan: { dev: TUN, remote: ['2001:db8:2::/48', '0.0.0.0/0'], peer: FAR_PEER4, src: '192.0.2.99' } },
      { op: 'tables' },
      { op: 'install', as: 'b', plan: { dev: 'nosuchdev0', remote: ['203.0.113.128/25'], peer: FAR_PEER4 } },
      { op: 'tables' },
    ]);
    expect(bad.error?.name).toBe('RouteError');
    expect(bad.error?.command).toBe('ip -4 route add 0.0.0.0/1 dev tsvpn-rt0 proto 74 table 7481 src 192.0.2.99');
    expect(bad.error?.stderr).toMatch(/src|source/i);
    expect(bad.error?.message).toContain(bad.error!.command!);
    expect(after.tables).toEqual(before.tables);
    expect(missing.error?.name).toBe('RouteError');
    expect(missing.error?.command).toContain('nosuchdev0');
    expect(missing.error?.stderr).toMatch(/Cannot find device/);
    expect(after2.tables).toEqual(before.tables);
  }, 60_000);

  it('on a host tsvpn never touched, the sweep finds nothing and fails on nothing (its tables do not exist yet)', () => {
    const [[sweep]] = run([{ op: 'sweep', dev: TUN }]);
    expect(sweep.error).toBeUndefined();
    expect(sweep.lines).toEqual([]);
  }, 60_000);

  it('outerMtu reads the route mtu when there is one, else the device MTU', () => {
    const [[, , mtu]] = run([
      { op: 'ip', args: ['link', 'set', WAN, 'mtu', '1450'] },
      { op: 'ip', args: ['route', 'add', '203.0.113.64/26', 'via', GW4, 'mtu', 'lock', '1300'] },
      { op: 'mtu', to: [FAR_PEER4, '203.0.113.70', FAR_PEER6] },
    ]);
    expect(mtu.mtu).toEqual([1450, 1300, 1450]);
  }, 60_000);

  it('leaves no namespace behind', () => {
    expect(listNs().filter((n) => n.startsWith('tsvpn-rt-'))).toEqual([]);
  }, 60_000);
});
