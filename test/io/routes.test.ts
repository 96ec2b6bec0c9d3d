// Routes into a TUN device, the routing trap and the outer MTU, in a throw-away namespace.
// routes.ts runs plain `ip` in its own namespace (the daemon runs under `ip netns exec`), so
// each case runs a child `ip netns exec <ns> node -e ...` that installs, probes with
// `ip route get`, removes, and reports; this file makes the assertions.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { installRoutes, removeRoutes, RouteError, type RoutePlan } from '../../src/io/routes.js';
import { netnsSupport, listNs } from '../../src/io/netns.js';
import { repoRoot } from './helpers/netns.js';

const ok = netnsSupport().ok;
const TUN = 'tsvpn-rt0';
const WAN = 'wan0';
const GW4 = '198.51.100.1';
const GW6 = '2001:db8:100::1';
const FAR_PEER4 = '198.51.100.200'; // outside the /25 on wan0: reached via the gateway
const FAR_PEER6 = '2001:db8:200::2';
const NEAR_PEER4 = '198.51.100.2'; // on the wan0 link
const INNER = '203.0.113.1'; // the local inner address, on lo

function sh(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

const made: string[] = [];

/** A host: wan0 198.51.100.10/25 + 2001:db8:100::10/64 with default routes, a TUN, an inner address. */
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
  n('tuntap', 'add', 'dev', TUN, 'mode', 'tun');
  n('link', 'set', TUN, 'up');
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

interface Job {
  plan: RoutePlan;
  probes?: string[];
  mtu?: string[];
  setup?: string[][];
}

interface Probe {
  dst: string;
  dev?: string;
  gateway?: string;
  prefsrc?: string;
}

interface Result {
  error?: { name: string; message: string; command?: string; stderr?: string };
  items?: string[];
  before: unknown;
  during?: { probes: Probe[]; tables: unknown };
  removeErrors?: string[];
  removeAgain?: string[];
  after: { probes: Probe[]; tables: unknown };
  mtu?: number[];
}

const CHILD = `
import { spawnSync } from 'node:child_process';
const { installRoutes, removeRoutes, outerMtu } = await import(process.env.ROUTES_URL);
const job = JSON.parse(process.env.ROUTES_JOB);
const ip = (args) => { const r = spawnSync('ip', args, { encoding: 'utf8' }); return r.status === 0 ? JSON.parse(r.stdout || '[]') : { failed: r.stderr.trim() }; };
const tables = () => ({ v4: ip(['-j', '-4', 'route', 'show', 'table', 'all']), v6: ip(['-j', '-6', 'route', 'show', 'table', 'main']), rules4: ip(['-j', '-4', 'rule']), rules6: ip(['-j', '-6', 'rule']) });
const probes = () => (job.probes ?? []).map((a) => { const r = ip(['-j', 'route', 'get', a]); return Array.isArray(r) ? r[0] : { dst: a, ...r }; });
for (const s of job.setup ?? []) ip(s);
const out = { before: tables() };
let routes;
try {
  routes = installRoutes(job.plan);
  out.items = routes.items;
  out.during = { probes: probes(), tables: tables() };
  out.removeErrors = removeRoutes(routes);
  out.removeAgain = removeRoutes(routes);
} catch (e) {
  out.error = { name: e.name, message: e.message, command: e.command, stderr: e.stderr };
}
out.after = { probes: probes(), tables: tables() };
if (job.mtu) out.mtu = job.mtu.map((a) => outerMtu(a));
process.stdout.write('RESULT ' + JSON.stringify(out) + '\\n');
`;

function inNs(ns: string, job: Job): Result {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', CHILD], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 25_000,
    env: { ...process.env, ROUTES_JOB: JSON.stringify(job), ROUTES_URL: pathToFileURL(resolve(repoRoot, 'src/io/routes.ts')).href },
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`child failed (status ${r.status}): ${r.stderr}`);
  return JSON.parse(line.slice(7)) as Result;
}

/** Run a job in a fresh host namespace, always deleting it. */
function run(job: Job): Result {
  const ns = host();
  try {
    return inNs(ns, job);
  } finally {
    drop(ns);
  }
}

describe.skipIf(!ok)('routes into the TUN device (needs root and /dev/net/tun)', () => {
  it('routes the remote prefixes of both families into the TUN with the inner source, and removes exactly them', () => {
    const r = run({
      plan: { dev: TUN, remote: ['203.0.113.128/25', '2001:db8:2::/48'], peer: FAR_PEER4, src: INNER },
      probes: ['203.0.113.130', '2001:db8:2::7', FAR_PEER4],
    });
    expect(r.error).toBeUndefined();
    const [v4, v6, peer] = r.during!.probes;
    expect(v4.dev).toBe(TUN);
    expect(v4.prefsrc).toBe(INNER);
    expect(v6.dev).toBe(TUN);
    expect(peer.dev).toBe(WAN); // not covered: no host route needed, none added
    expect(r.items).toHaveLength(2);
    expect(r.removeErrors).toEqual([]);
    expect(r.removeAgain).toEqual([]); // idempotent
    expect(r.after.probes[0].dev).toBe(WAN);
    expect(r.after.tables).toEqual(r.before);
  }, 60_000);

  it('0.0.0.0/0 and ::/0 go into the TUN while the peers stay reachable via wan0, and the default routes are left alone', () => {
    for (const peer of [FAR_PEER4, FAR_PEER6]) {
      const r = run({
        plan: { dev: TUN, remote: ['0.0.0.0/0', '::/0'], peer, src: INNER },
        probes: [peer, '192.0.2.55', '2001:db8:77::1'],
      });
      expect(r.error).toBeUndefined();
      const [p, any4, any6] = r.during!.probes;
      expect(p.dev).toBe(WAN); // the routing trap is avoided
      expect(p.gateway).toBe(peer.includes(':') ? GW6 : GW4);
      expect(any4.dev).toBe(TUN);
      expect(any6.dev).toBe(TUN);
      // the main default routes are still there, unchanged
      const during = r.during!.tables as { v4: { dst: string; gateway?: string }[] };
      expect(during.v4.some((x) => x.dst === 'default' && x.gateway === GW4)).toBe(true);
      expect(r.items!.some((i) => i.startsWith(`${peer}/`))).toBe(true);
      expect(r.removeErrors).toEqual([]);
      expect(r.after.probes[0].dev).toBe(WAN);
      expect(r.after.probes[1].dev).toBe(WAN);
      expect(r.after.tables).toEqual(r.before);
    }
  }, 60_000);

  it('a prefix equal to an existing route (the wan0 subnet) is installed as halves that win, and the existing route survives', () => {
    const r = run({
      plan: { dev: TUN, remote: ['198.51.100.0/25'], peer: NEAR_PEER4 },
      probes: [NEAR_PEER4, '198.51.100.50', '198.51.100.100'],
    });
    expect(r.error).toBeUndefined();
    const [p, a, b] = r.during!.probes;
    expect(p.dev).toBe(WAN);
    expect(a.dev).toBe(TUN);
    expect(b.dev).toBe(TUN);
    const during = r.during!.tables as { v4: { dst: string; dev?: string }[] };
    expect(during.v4.some((x) => x.dst === '198.51.100.0/25' && x.dev === WAN)).toBe(true);
    expect(r.after.probes[1].dev).toBe(WAN);
    expect(r.after.tables).toEqual(r.before);
  }, 60_000);

  it('a failure midway throws RouteError naming the ip command and removes what was already added', () => {
    // the IPv6 route and the peer's host route go in, then the IPv4 route fails: 192.0.2.99 is no local address
    const r = run({ plan: { dev: TUN, remote: ['2001:db8:2::/48', '0.0.0.0/0'], peer: FAR_PEER4, src: '192.0.2.99' }, probes: [FAR_PEER4] });
    expect(r.error?.name).toBe('RouteError');
    expect(r.error?.command).toMatch(/^ip -4 route add 0\.0\.0\.0\/1 dev tsvpn-rt0 src 192\.0\.2\.99$/);
    expect(r.error?.stderr).toMatch(/src|source/i);
    expect(r.error?.message).toContain(r.error!.command!);
    expect(r.after.tables).toEqual(r.before);

    const missing = run({ plan: { dev: 'nosuchdev0', remote: ['203.0.113.128/25'], peer: FAR_PEER4 } });
    expect(missing.error?.name).toBe('RouteError');
    expect(missing.error?.command).toContain('nosuchdev0');
    expect(missing.error?.stderr).toMatch(/Cannot find device/);
    expect(missing.after.tables).toEqual(missing.before);
  }, 60_000);

  it('refuses a remote selector that is the peer itself, and a peer already routed into the TUN', () => {
    const self = run({ plan: { dev: TUN, remote: [`${NEAR_PEER4}/32`], peer: NEAR_PEER4 } });
    expect(self.error?.name).toBe('RouteError');
    expect(self.error?.message).toMatch(/already routed|peer's own address/);
    expect(self.after.tables).toEqual(self.before);

    const trapped = run({
      setup: [['route', 'add', '198.51.100.128/25', 'dev', TUN]],
      plan: { dev: TUN, remote: ['0.0.0.0/0'], peer: FAR_PEER4 },
    });
    expect(trapped.error?.message).toMatch(/already goes into tsvpn-rt0/);
    expect(trapped.after.tables).toEqual(trapped.before);
  }, 60_000);

  it('outerMtu reads the route mtu when there is one, else the device MTU', () => {
    const r = run({
      setup: [
        ['link', 'set', WAN, 'mtu', '1450'],
        ['route', 'add', '203.0.113.64/26', 'via', GW4, 'mtu', 'lock', '1300'],
      ],
      plan: { dev: TUN, remote: [], peer: FAR_PEER4 },
      mtu: [FAR_PEER4, '203.0.113.70', FAR_PEER6],
    });
    expect(r.mtu).toEqual([1450, 1300, 1450]);
  }, 60_000);

  it('leaves no namespace behind', () => {
    expect(listNs().filter((n) => n.startsWith('tsvpn-rt-'))).toEqual([]);
  }, 60_000);
});

describe('route plans rejected before anything is touched', () => {
  it('throws RouteError for a bad device name, peer or prefix', () => {
    const bad: RoutePlan[] = [
      { dev: 'has space', remote: ['203.0.113.0/24'], peer: FAR_PEER4 },
      { dev: 'a-name-longer-than-15', remote: ['203.0.113.0/24'], peer: FAR_PEER4 },
      { dev: TUN, remote: ['203.0.113.0/24'], peer: '%any' },
      { dev: TUN, remote: ['203.0.113.0'], peer: FAR_PEER4 },
      { dev: TUN, remote: ['203.0.113.0/33'], peer: FAR_PEER4 },
      { dev: TUN, remote: ['2001:db8::/129'], peer: FAR_PEER4 },
      { dev: TUN, remote: ['203.0.113.0/24'], peer: FAR_PEER4, src: 'inner' },
    ];
    for (const plan of bad) expect(() => installRoutes(plan)).toThrow(RouteError);
  });

  it('removeRoutes of something it did not install does nothing', () => {
    expect(removeRoutes({ items: ['203.0.113.0/24 dev x'] })).toEqual([]);
  });
});
