// Issue 11, tsvpn as a gateway for strongSwan peers: one `tsvpn up hub.json` serves four
// strongSwan 5.9.8 charons and 20 tsvpn branches, all up at once: each charon in its own
// namespace (charon binds the IKE ports on the wildcard: one charon per namespace), one tsvpn
// branch in its own, and 19 more sharing one namespace, each on its own outer address. Topology: the hub namespace holds a bridge
// with the hub's one outer address (198.51.100.1/24); each peer namespace is joined to that
// bridge by a veth, so every peer reaches the hub on one segment from its own address. Inner
// hosts are /32 addresses on lo: the hub's network for peer i is 10.0.<i>.0/24, the peer's
// 10.100.<i>.0/24. Selection (RFC 7296 §2.15, strongSwan's peer-config match): site-a, site-b
// and the tsvpn branch are known to the hub by their addresses; alice and bob come from
// addresses the hub does not know and are told apart only by their identity (two %any
// connections with different remote ids). Every charon initiates (`swanctl --initiate`). Then a
// fifth charon with an identity no connection accepts is refused (AUTHENTICATION_FAILED) while
// the others stay up, and one charon's Delete removes only its own SAs.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { hasInstalled, startStrongswan, strongswanSupport, type ParsedSa, type Strongswan } from '../../interop/lab/strongswan.js';
import { swanctlConf } from '../../interop/lab/swanctl-conf.js';
import { until } from '../../interop/lab/wait.js';
import { fetchStatus } from '../../src/cli/control-client.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { delNs, ip, listNs, netnsSupport } from '../../src/io/netns.js';
import { nsRun, ping, TSVPN_BIN } from '../e2e/helpers/lab.js';

const reasons = [netnsSupport(), strongswanSupport()].flatMap((s) => (s.ok ? [] : [s.why]));
const ok = reasons.length === 0;

const PREFIX = 'tssg-';
const tag = Math.random().toString(16).slice(2, 8);
const HUB_NS = `${PREFIX}h-${tag}`;
const HUB = '198.51.100.1';
const PROPOSAL = 'aes256gcm16-prfsha256-x25519';
const CHILD = 'net';

interface Peer {
  /** The hub's connection name for it (and the charon instance's name). */
  name: string;
  /** Index: outer 198.51.100.<10+i>, networks 10.0.<i>.0/24 (hub) and 10.100.<i>.0/24 (peer). */
  i: number;
  /** Known to the hub by its address, or only by its identity (a %any connection). */
  known: boolean;
  /** A tsvpn branch in the namespace the many branches share (each on its own outer address). */
  shared?: boolean;
}
const PEERS: Peer[] = [
  { name: 'site-a', i: 1, known: true },
  { name: 'site-b', i: 2, known: true },
  { name: 'alice', i: 3, known: false },
  { name: 'bob', i: 4, known: false },
];
/** A peer no connection accepts: an unknown address and an identity that no %any connection names. */
const MALLORY: Peer = { name: 'mallory', i: 5, known: false };
/** A tsvpn branch among the strongSwan peers. */
const BRANCH: Peer = { name: 'branch', i: 6, known: true };
/** 19 more tsvpn branches (b1..b19), in one namespace: with `branch`, 20 tsvpn peers beside the 4 charons (issue 11's proof). */
const MANY: Peer[] = Array.from({ length: 19 }, (_, k) => ({ name: `b${k + 1}`, i: 11 + k, known: true, shared: true }));
const TSVPN_BRANCHES = [BRANCH, ...MANY];
/** Every connection of the hub. */
const HUB_PEERS = [...PEERS, ...TSVPN_BRANCHES];

const MANY_NS = `${PREFIX}m-${tag}`;
const ns = (p: Peer) => (p.shared ? MANY_NS : `${PREFIX}${p.i}-${tag}`);
const outer = (p: Peer) => `198.51.100.${10 + p.i}`;
const idOf = (p: Peer) => `${p.name}.example`;
const hubNet = (p: Peer) => `10.0.${p.i}.0/24`;
const peerNet = (p: Peer) => `10.100.${p.i}.0/24`;
const hubHost = (p: Peer) => `10.0.${p.i}.1`;
const peerHost = (p: Peer) => `10.100.${p.i}.1`;
const pskOf = (p: Peer) => (p.known ? 'sites-secret-0123456789' : `${p.name}-secret-0123456789`);

function hubFile() {
  return {
    name: 'hub',
    secrets: { sites: { psk: pskOf(PEERS[0]!) }, alice: { psk: pskOf(PEERS[2]!) }, bob: { psk: pskOf(PEERS[3]!) } },
    connections: Object.fromEntries(
      HUB_PEERS.map((p) => [
        p.name,
        {
          local: { addr: HUB, id: 'hub.example', auth: 'psk', ts: [hubNet(p)] },
          remote: { addr: p.known ? outer(p) : '%any', id: idOf(p), auth: 'psk', ts: [peerNet(p)] },
          psk: { secret: p.known ? 'sites' : p.name },
          ike: { proposals: [PROPOSAL] },
          child: { proposals: ['aes256gcm16'] },
          start: 'wait',
        },
      ]),
    ),
  };
}

function charonConf(p: Peer): string {
  return swanctlConf({
    name: 'hub',
    localAddrs: outer(p),
    remoteAddrs: HUB,
    proposals: [PROPOSAL],
    local: { auth: 'psk', id: idOf(p) },
    remote: { auth: 'psk', id: 'hub.example' },
    child: { name: CHILD, localTs: [peerNet(p)], remoteTs: [hubNet(p)], espProposals: ['aes256gcm16'] },
    psk: pskOf(p),
  });
}

function branchFile(p: Peer) {
  return {
    name: p.name,
    local: { addr: outer(p), id: idOf(p), auth: 'psk', ts: [peerNet(p)] },
    remote: { addr: HUB, id: 'hub.example', auth: 'psk', ts: [hubNet(p)] },
    psk: pskOf(p),
    ike: { proposals: [PROPOSAL] },
    child: { proposals: ['aes256gcm16'] },
    start: 'initiate',
  };
}

const tail = (text: string, n: number) => text.split('\n').slice(-n).join('\n');

describe.skipIf(!ok)(`a tsvpn gateway serving strongSwan 5.9.8 peers ${ok ? '(needs root, netns, strongSwan)' : `(skipped: ${reasons.join('; ')})`}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-ssgw-'));
  const ctl = join(dir, 'ctl');
  const procs = new Map<string, ChildProcess>();
  const logOf = (name: string) => readFileSync(join(dir, `${name}.log`), 'utf8');
  const charons = new Map<string, Strongswan>();
  const made: string[] = [];

  const hubStatus = () => fetchStatus(ctl, 'hub');
  /** `tsvpn status hub --json`, as an operator runs it in the hub's namespace. */
  const statusCli = async (): Promise<TunnelStatus> => {
    const r = await nsRun(HUB_NS, process.execPath, [TSVPN_BIN, 'status', 'hub', '--json'], 15_000, { TSVPN_CONTROL_DIR: ctl });
    if (r.code !== 0) throw new Error(`tsvpn status hub --json exited ${r.code}: ${r.err}`);
    return JSON.parse(r.out) as TunnelStatus;
  };
  /** Each connection's established peers on the hub: remote id, address and the installed Child SA's SPIs. */
  const upOnHub = (s: TunnelStatus) => {
    const m = new Map<string, { remoteId: string; remote: string; spiIn: string; spiOut: string }>();
    for (const sa of s.ikeSas) {
      const ch = sa.children.find((c) => c.state === 'INSTALLED');
      if (sa.state === 'ESTABLISHED' && ch) m.set(sa.connection, { remoteId: sa.remoteId, remote: sa.remote, spiIn: ch.spiIn, spiOut: ch.spiOut });
    }
    return m;
  };
  const why = async (names: string[] = PEERS.map((p) => p.name)) => {
    const s = await hubStatus().catch((e) => String(e));
    const head = typeof s === 'string' ? s : JSON.stringify({ up: [...upOnHub(s).keys()], drops: s.drops, lastFailure: s.lastFailure, lastUnauthenticatedFailure: s.lastUnauthenticatedFailure });
    return [`hub: ${head}`, `--- hub log ---\n${tail(logOf('hub'), 40)}`, ...names.map((n) => (TSVPN_BRANCHES.some((b) => b.name === n) ? `--- tsvpn ${n} ---\n${tail(logOf(n), 20)}` : `--- charon ${n} ---\n${tail(charons.get(n)?.log() ?? '(not started)', 20)}`))].join('\n');
  };

  /** A namespace for peer p (the many branches share one), on the hub's bridge by a veth, with its outer and inner addresses. */
  function addPeerNs(p: Peer): void {
    const v = p.shared ? `sgmp${tag}` : `sg${p.i}p${tag}`;
    if (!made.includes(ns(p))) {
      ip(['netns', 'add', ns(p)]);
      made.push(ns(p));
      const h = p.shared ? `sgmh${tag}` : `sg${p.i}h${tag}`;
      ip(['link', 'add', h, 'netns', HUB_NS, 'type', 'veth', 'peer', 'name', v, 'netns', ns(p)]);
      ip(['link', 'set', h, 'master', 'br0', 'up'], HUB_NS);
      ip(['link', 'set', 'lo', 'up'], ns(p));
      ip(['link', 'set', v, 'up'], ns(p));
    }
    ip(['addr', 'add', `${outer(p)}/24`, 'dev', v], ns(p));
    ip(['addr', 'add', `${peerHost(p)}/32`, 'dev', 'lo'], ns(p));
    ip(['addr', 'add', `${hubHost(p)}/32`, 'dev', 'lo'], HUB_NS);
  }

  /** `tsvpn up <name>.json -v` in namespace nsName, logging to <name>.log. */
  function up(nsName: string, name: string, body: object): void {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(body, null, 2), { mode: 0o600 });
    const fd = openSync(join(dir, `${name}.log`), 'a', 0o600);
    procs.set(name, spawn('ip', ['netns', 'exec', nsName, process.execPath, TSVPN_BIN, 'up', file, '-v'], { stdio: ['ignore', fd, fd], env: { ...process.env, TSVPN_CONTROL_DIR: ctl } }));
    closeSync(fd);
  }

  async function startCharon(p: Peer): Promise<Strongswan> {
    const c = await startStrongswan({ ns: ns(p), name: p.name, conf: charonConf(p) });
    charons.set(p.name, c);
    return c;
  }

  beforeAll(async () => {
    ip(['netns', 'add', HUB_NS]);
    made.push(HUB_NS);
    ip(['link', 'set', 'lo', 'up'], HUB_NS);
    ip(['link', 'add', 'br0', 'type', 'bridge'], HUB_NS);
    ip(['addr', 'add', `${HUB}/24`, 'dev', 'br0'], HUB_NS);
    ip(['link', 'set', 'br0', 'up'], HUB_NS);
    for (const p of [...HUB_PEERS, MALLORY]) addPeerNs(p);
    // the bridge forwards once its ports are up: every peer reaches the hub's outer address
    for (const p of [...HUB_PEERS, MALLORY]) {
      await until(async () => (await nsRun(ns(p), 'ping', ['-c', '1', '-W', '1', HUB])).code === 0, { timeout: 10_000, interval: 200, what: `${p.name} reaching ${HUB} over the bridge` });
    }

    up(HUB_NS, 'hub', hubFile());
    await until(async () => (await hubStatus().catch(() => undefined)) !== undefined, { timeout: 15_000, interval: 100, what: 'the hub daemon' }).catch((e) => {
      throw new Error(`${(e as Error).message}\n--- hub log ---\n${tail(logOf('hub'), 40)}`);
    });
    for (const p of PEERS) await startCharon(p);
    for (const p of TSVPN_BRANCHES) up(ns(p), p.name, branchFile(p));
  }, 90_000);

  afterAll(async () => {
    for (const c of charons.values()) await c.stop();
    const running = () => [...procs.values()].filter((p) => p.exitCode === null && p.signalCode === null);
    for (const p of running()) p.kill('SIGTERM');
    await until(() => running().length === 0, { timeout: 3000, interval: 100, what: 'the daemons to exit' }).catch(() => running().forEach((p) => p.kill('SIGKILL')));
    for (const n of made) delNs(n);
    rmSync(dir, { recursive: true, force: true });
    expect(listNs().filter((n) => n.endsWith(`-${tag}`) && n.startsWith(PREFIX)), 'namespaces left behind').toEqual([]);
  }, 30_000);

  it('four charons initiate beside 20 tsvpn branches, all up at once; each is INSTALLED on both sides under its own connection (22 by address, two %any by identity) and pings its own network both ways', async () => {
    const results = await Promise.all(PEERS.map((p) => charons.get(p.name)!.initiate(CHILD)));
    for (const [k, r] of results.entries()) if (!r.ok) expect.fail(`swanctl --initiate in ${PEERS[k]!.name}: ${r.output}\n${await why([PEERS[k]!.name])}`);

    // strongSwan's view: every charon has an ESTABLISHED IKE SA to the hub with the child INSTALLED
    const ssSas = new Map<string, ParsedSa>();
    for (const p of PEERS) {
      const sas = await charons.get(p.name)!.waitFor((s) => hasInstalled(s, CHILD), 10_000, 'INSTALLED');
      ssSas.set(p.name, sas.find((sa) => sa.state === 'ESTABLISHED')!);
    }
    // the hub's view, as `tsvpn status hub --json` shows it
    await until(async () => upOnHub(await hubStatus()).size === HUB_PEERS.length, { timeout: 45_000, interval: 300, what: `${HUB_PEERS.length} peers up on the hub` }).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await why()}`);
    });
    const s = await statusCli();
    const up = upOnHub(s);
    expect(s.connections.map((c) => c.name)).toEqual(HUB_PEERS.map((p) => p.name));
    // the tsvpn branches beside them: each its own connection, no NAT, no fake one
    for (const b of TSVPN_BRANCHES) {
      const br = s.ikeSas.find((x) => x.connection === b.name && x.state === 'ESTABLISHED');
      expect(br?.remoteId, await why([b.name])).toBe(idOf(b));
      expect(br?.nat, b.name).toEqual({ local: false, remote: false });
    }
    for (const p of PEERS) {
      const got = up.get(p.name);
      // under the right connection: the peer's identity, from its own address
      expect(got?.remoteId, `${p.name}\n${await why([p.name])}`).toBe(idOf(p));
      expect(got?.remote.split(':')[0], p.name).toBe(outer(p));
      // both ends agree on the Child SA (tsvpn's inbound is charon's outbound)
      const ch = ssSas.get(p.name)!.children.find((c) => c.name === CHILD && c.state === 'INSTALLED')!;
      expect(ch.spiOut, p.name).toBe(got!.spiIn);
      expect(ch.spiIn, p.name).toBe(got!.spiOut);
      expect(ch.localTs, p.name).toEqual([peerNet(p)]);
      expect(ch.remoteTs, p.name).toEqual([hubNet(p)]);
      expect(ssSas.get(p.name)!.remoteId, p.name).toBe('hub.example');
      // NAT detection over the bridge (RFC 7296 §2.23): kernel-libipsec fakes a NAT to get ESP in
      // UDP. A peer known by its address that speaks from it on port 500 is reported as forcing
      // UDP encapsulation, with no NAT between (issue 12); a %any peer cannot be told from one
      // behind a NAT. Either way the hub talks to port 4500.
      const sa = s.ikeSas.find((x) => x.connection === p.name && x.state === 'ESTABLISHED')!;
      expect(sa.nat, p.name).toEqual(p.known ? { local: false, remote: true, peerForcesEncap: true } : { local: false, remote: true });
      expect(sa.remote, p.name).toBe(`${outer(p)}:4500`);
      expect(ssSas.get(p.name)!.nat.fake, p.name).toBe(true);
    }
    // alice and bob: two %any peers, each chosen by its identity (the hub logs why, at debug)
    const log = logOf('hub');
    console.log(`gateway-strongswan: ${JSON.stringify(s.ikeSas.map((sa) => ({ connection: sa.connection, remote: sa.remote, remoteId: sa.remoteId, nat: sa.nat, role: sa.role })))}\n${log.split('\n').filter((l) => / chosen for the peer/.test(l)).join('\n')}`);
    for (const p of PEERS.filter((x) => !x.known)) expect(log, `hub log names the choice of ${p.name}`).toMatch(new RegExp(`connection ${p.name} chosen for the peer`));
    expect(s.lastFailure, await why()).toBeNull();

    // charon routes the hub's network for this peer into ipsec0 (kernel-libipsec) in table 220, from the peer's inner address
    for (const p of PEERS) {
      const routes = ip(['route', 'show', 'table', '220'], ns(p)).split('\n');
      expect(routes.find((r) => r.startsWith(`${hubNet(p)} `) && r.includes(' dev ipsec0 ') && r.includes(` src ${peerHost(p)}`)), `${p.name}: table 220 ${JSON.stringify(routes)}`).toBeDefined();
    }
    // each peer reaches its own network behind the hub through its tunnel
    const out = await Promise.all(HUB_PEERS.map((p) => ping(ns(p), peerHost(p), hubHost(p), ['-c', '3', '-i', '0.2', '-W', '2'])));
    out.forEach((r, k) => expect(r.code, `${HUB_PEERS[k]!.name} -> hub: ${r.out}${r.err}`).toBe(0));
    // ... and the hub reaches each peer's network from itself
    const back = await Promise.all(HUB_PEERS.map((p) => ping(HUB_NS, hubHost(p), peerHost(p), ['-c', '3', '-i', '0.2', '-W', '2'])));
    for (const [k, r] of back.entries()) expect(r.code, `hub -> ${HUB_PEERS[k]!.name}: ${r.out}${r.err}\n${await why([HUB_PEERS[k]!.name])}`).toBe(0);
    // strongSwan counted the pings on each Child SA
    for (const p of PEERS) {
      const sas = await charons.get(p.name)!.waitFor((x) => (x[0]?.children.find((c) => c.name === CHILD)?.packetsIn ?? 0) >= 6, 3000, 'ping counters');
      expect(sas[0]!.children.find((c) => c.name === CHILD)!.packetsOut, p.name).toBeGreaterThanOrEqual(6);
    }
    expect((await statusCli()).lastFailure, await why()).toBeNull();
  }, 90_000);

  it('a charon whose identity no connection accepts gets AUTHENTICATION_FAILED, the hub shows it as lastUnauthenticatedFailure, and the others stay up', async () => {
    const before = upOnHub(await hubStatus());
    const m = await startCharon(MALLORY);
    const r = await m.initiate(CHILD, { timeoutS: 15 });
    expect(r.ok, r.output).toBe(false);
    // RFC 7296 §2.21.2: the responder answers IKE_AUTH with AUTHENTICATION_FAILED
    await until(() => /received AUTHENTICATION_FAILED notify error/.test(m.log()), { timeout: 10_000, interval: 200, what: 'charon mallory logging AUTHENTICATION_FAILED' }).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await why(['mallory'])}`);
    });
    expect(hasInstalled(m.listSas())).toBe(false);
    const s = await statusCli();
    console.log(`gateway-strongswan: lastUnauthenticatedFailure ${JSON.stringify(s.lastUnauthenticatedFailure)}`);
    expect(s.lastUnauthenticatedFailure?.from.split(':')[0], await why(['mallory'])).toBe(outer(MALLORY));
    expect(s.lastFailure, await why(['mallory'])).toBeNull();
    // a stranger's failure is no connection's failure: the %any connections it was tried against stay clean
    for (const c of s.connections) expect(c.lastFailure, `connections[${c.name}].lastFailure\n${await why(['mallory'])}`).toBeNull();
    // nothing of mallory's reached a connection, and the others kept their SAs
    const after = upOnHub(s);
    expect([...after.keys()].sort()).toEqual(HUB_PEERS.map((p) => p.name).sort());
    for (const p of HUB_PEERS) expect(after.get(p.name)?.spiIn, p.name).toBe(before.get(p.name)?.spiIn);
    const out = await Promise.all(HUB_PEERS.map((p) => ping(ns(p), peerHost(p), hubHost(p), ['-c', '2', '-i', '0.2', '-W', '2'])));
    out.forEach((x, k) => expect(x.code, `${HUB_PEERS[k]!.name} -> hub: ${x.out}`).toBe(0));
  }, 60_000);

  it('a charon that deletes its IKE SA is gone from the hub, the others stay up, and it comes back when it initiates again', async () => {
    const [alice, bob] = [PEERS[2]!, PEERS[3]!];
    const before = upOnHub(await hubStatus());
    // RFC 7296 §1.4.1: an INFORMATIONAL with a Delete for the IKE SA closes its Child SAs too
    const t = await charons.get(alice.name)!.terminate('hub');
    expect(t.ok, t.output).toBe(true);
    await until(async () => !upOnHub(await hubStatus()).has(alice.name), { timeout: 10_000, interval: 200, what: 'the hub to drop alice after her Delete' }).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await why([alice.name])}`);
    });
    const s = await statusCli();
    expect(s.ikeSas.filter((sa) => sa.connection === alice.name), 'alice\'s IKE SAs on the hub after her Delete').toEqual([]);
    expect(s.lastFailure, await why([alice.name])).toBeNull();
    const after = upOnHub(s);
    for (const p of HUB_PEERS.filter((x) => x !== alice)) expect(after.get(p.name)?.spiIn, p.name).toBe(before.get(p.name)?.spiIn);
    const b = await ping(ns(bob), peerHost(bob), hubHost(bob), ['-c', '2', '-i', '0.2', '-W', '2']);
    expect(b.code, `bob -> hub: ${b.out}`).toBe(0);
    // alice initiates again: a new IKE SA under the same %any connection, and her network is reachable again
    const r = await charons.get(alice.name)!.initiate(CHILD);
    expect(r.ok, `${r.output}\n${await why([alice.name])}`).toBe(true);
    await until(async () => upOnHub(await hubStatus()).has(alice.name), { timeout: 10_000, interval: 200, what: 'alice up again on the hub' });
    const again = upOnHub(await statusCli()).get(alice.name)!;
    expect(again.remoteId).toBe(idOf(alice));
    expect(again.spiIn).not.toBe(before.get(alice.name)?.spiIn);
    const back = await ping(HUB_NS, hubHost(alice), peerHost(alice), ['-c', '2', '-i', '0.2', '-W', '2']);
    expect(back.code, `hub -> alice: ${back.out}\n${await why([alice.name])}`).toBe(0);
  }, 60_000);
});
