// Issue 11: one gateway daemon serving many peers (src/config/gateway.ts, src/daemon/daemon.ts,
// src/ike/select-config.ts). A hub namespace runs `tsvpn up hub.json` with 20 connections; a
// branch namespace runs 20 tsvpn branches, each on its own outer address, each with its own
// selectors (hub side 10.0.<i>.0/24, branch side 10.100.<i>.0/24). 18 are known to the hub by
// address; two come from addresses the hub does not know and are told apart only by their
// identity (two %any connections). Then a reload: one connection added, one removed, one
// changed, while 10 ms pings run through the others.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sleep, until } from '../../interop/lab/wait.js';
import { fetchStatus } from '../../src/cli/control-client.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { delNs, ip } from '../../src/io/netns.js';
import { labOk, netState, nsRun, ping, TSVPN_BIN } from './helpers/lab.js';

const BRANCHES = 20;
const ROADS = ['alice', 'bob']; // the last two branches: %any on the hub, chosen by identity
const tag = Math.random().toString(16).slice(2, 8);
const HUB_NS = `tsgw-h-${tag}`;
const BR_NS = `tsgw-b-${tag}`;
const HUB = '198.51.100.1';
const outer = (i: number) => `198.51.100.${10 + i}`; // branch i (1-based) on the wire
const hubNet = (i: number) => `10.0.${i}.0/24`;
const brNet = (i: number) => `10.100.${i}.0/24`;
const hubHost = (i: number) => `10.0.${i}.1`;
const brHost = (i: number) => `10.100.${i}.1`;
const PROPOSAL = 'aes256gcm16-prfsha256-x25519';

/** Branches 19 and 20 are the road warriors. */
const isRoad = (i: number) => i > BRANCHES - ROADS.length && i <= BRANCHES;
/** Branch i's name on both sides: b1..b18, alice, bob (and b21, which the reload adds). */
const nameOf = (i: number) => (isRoad(i) ? ROADS[i - (BRANCHES - ROADS.length) - 1]! : `b${i}`);

function hubConnection(i: number, o: { proposals?: string[]; start?: 'initiate' | 'wait' } = {}) {
  const road = isRoad(i);
  return {
    local: { addr: HUB, id: 'hub.example', auth: 'psk', ts: [hubNet(i)] },
    remote: { addr: road ? '%any' : outer(i), id: `${nameOf(i)}.example`, auth: 'psk', ts: [brNet(i)] },
    psk: { secret: road ? nameOf(i) : 'branches' },
    ike: { proposals: o.proposals ?? [PROPOSAL] },
    child: { proposals: ['aes256gcm16'] },
    start: o.start ?? 'wait',
  };
}

function hubFile(ids: number[], edit: (i: number) => Parameters<typeof hubConnection>[1] = () => ({})) {
  return {
    name: 'hub',
    secrets: { branches: { psk: 'branch-secret-0123456789' }, alice: { psk: 'alice-secret-0123456789' }, bob: { psk: 'bob-secret-0123456789' } },
    connections: Object.fromEntries(ids.map((i) => [nameOf(i), hubConnection(i, edit(i))])),
  };
}

function branchFile(i: number, start: 'initiate' | 'wait' = 'initiate') {
  const road = isRoad(i);
  return {
    name: `br-${nameOf(i)}`,
    local: { addr: outer(i), id: `${nameOf(i)}.example`, auth: 'psk', ts: [brNet(i)] },
    remote: { addr: HUB, id: 'hub.example', auth: 'psk', ts: [hubNet(i)] },
    psk: road ? `${nameOf(i)}-secret-0123456789` : 'branch-secret-0123456789',
    // a dead hub is noticed within about 10 s (the SIGKILL test): liveness check after 3 s of
    // silence, 2 tries 2 s apart; dpdAction restart (the default) then initiates again
    ike: { proposals: [PROPOSAL, 'aes128gcm16-prfsha256-ecp256'], dpd: '3s' },
    retransmit: { timeout: 2, base: 1, tries: 2 },
    child: { proposals: ['aes256gcm16'] },
    start,
    tun: { name: `tsgw-${nameOf(i)}` },
  };
}

describe.skipIf(!labOk)('a gateway: 20 peers in one daemon (needs root, namespaces, /dev/net/tun, ping)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-gw-'));
  const ctl = join(dir, 'ctl');
  const procs = new Map<string, ChildProcess>();
  const logs = new Map<string, string>();

  function up(ns: string, name: string, body: object): void {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(body, null, 2), { mode: 0o600 });
    const log = join(dir, `${name}.log`);
    const fd = openSync(log, 'a', 0o600);
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, TSVPN_BIN, 'up', file, '-v'], { stdio: ['ignore', fd, fd], env: { ...process.env, TSVPN_CONTROL_DIR: ctl } });
    closeSync(fd);
    procs.set(name, p);
    logs.set(name, log);
  }
  const logOf = (name: string) => readFileSync(logs.get(name)!, 'utf8');
  const hubStatus = () => fetchStatus(ctl, 'hub');
  /** Each connection's established peers: remote id and the inbound SPI of its installed Child SA. */
  const peersOf = (s: TunnelStatus) => {
    const m = new Map<string, { remoteId: string; remote: string; spiIn: string }>();
    for (const sa of s.ikeSas) {
      const ch = sa.children.find((c) => c.state === 'INSTALLED');
      if (sa.state === 'ESTABLISHED' && ch) m.set(sa.connection, { remoteId: sa.remoteId, remote: sa.remote, spiIn: ch.spiIn });
    }
    return m;
  };
  const all = Array.from({ length: BRANCHES }, (_, k) => k + 1);

  beforeAll(async () => {
    ip(['netns', 'add', HUB_NS]);
    ip(['netns', 'add', BR_NS]);
    ip(['link', 'add', `tg${tag}h`, 'netns', HUB_NS, 'type', 'veth', 'peer', 'name', `tg${tag}b`, 'netns', BR_NS]);
    for (const [ns, dev] of [[HUB_NS, `tg${tag}h`], [BR_NS, `tg${tag}b`]] as const) {
      ip(['link', 'set', 'lo', 'up'], ns);
      ip(['link', 'set', dev, 'up'], ns);
    }
    ip(['addr', 'add', `${HUB}/24`, 'dev', `tg${tag}h`], HUB_NS);
    for (const i of [...all, BRANCHES + 1]) {
      ip(['addr', 'add', `${outer(i)}/24`, 'dev', `tg${tag}b`], BR_NS);
      ip(['addr', 'add', `${hubHost(i)}/32`, 'dev', 'lo'], HUB_NS);
      ip(['addr', 'add', `${brHost(i)}/32`, 'dev', 'lo'], BR_NS);
    }
    up(HUB_NS, 'hub', hubFile(all));
    await until(async () => (await hubStatus().catch(() => undefined)) !== undefined, { timeout: 15_000, interval: 100, what: 'the hub daemon' });
    for (const i of all) up(BR_NS, `br-${nameOf(i)}`, branchFile(i));
    // the branch the reload adds waits for the hub to initiate
    up(BR_NS, `br-b${BRANCHES + 1}`, { ...branchFile(BRANCHES + 1, 'wait'), name: `br-b${BRANCHES + 1}` });
  }, 60_000);

  afterAll(async () => {
    for (const p of procs.values()) p.kill('SIGTERM');
    await sleep(2500);
    for (const p of procs.values()) if (p.exitCode === null) p.kill('SIGKILL');
    delNs(HUB_NS);
    delNs(BR_NS);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const why = async () => {
    const s = await hubStatus().catch((e) => String(e));
    const up = typeof s === 'string' ? new Map() : peersOf(s);
    const down = all.filter((i) => !up.has(nameOf(i))).slice(0, 3);
    const tail = (name: string, n: number) => `--- ${name} log ---\n${logOf(name).split('\n').slice(-n).join('\n')}`;
    return [`hub: ${up.size} peers up, ${JSON.stringify(typeof s === 'string' ? s : { drops: s.drops, lastFailure: s.lastFailure, lastUnauthenticatedFailure: s.lastUnauthenticatedFailure })}`, tail('hub', 40), ...down.map((i) => tail(`br-${nameOf(i)}`, 25))].join('\n');
  };

  it('all 20 peers come up at once, each pings its own network through the gateway, and two %any peers are told apart by ID', async () => {
    await until(async () => peersOf(await hubStatus()).size === BRANCHES, { timeout: 60_000, interval: 500, what: `${BRANCHES} peers up on the hub` }).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await why()}`);
    });
    const s = await hubStatus();
    const peers = peersOf(s);
    expect(s.connections.map((c) => c.name)).toEqual(all.map(nameOf));
    for (const i of all) expect(peers.get(nameOf(i))?.remoteId, nameOf(i)).toBe(`${nameOf(i)}.example`);
    // the two %any connections each hold the peer with their identity, from its own address
    for (const [k, road] of ROADS.entries()) expect(peers.get(road)?.remote).toBe(`${outer(BRANCHES - ROADS.length + 1 + k)}:500`);
    expect(s.lastFailure, await why()).toBeNull();
    // each branch reaches its own network behind the hub, through its own tunnel
    const pings = await Promise.all(all.map((i) => ping(BR_NS, brHost(i), hubHost(i), ['-c', '2', '-W', '2'])));
    pings.forEach((p, k) => expect(p.code, `${nameOf(k + 1)}: ${p.out}`).toBe(0));
    // ... and not another's: branch 1's address has no tunnel to branch 2's hub network
    const cross = await ping(BR_NS, brHost(1), hubHost(2), ['-c', '1', '-W', '1']);
    expect(cross.code).not.toBe(0);
    // the gateway reaches a branch network from itself
    const fromHub = await ping(HUB_NS, hubHost(3), brHost(3), ['-c', '2', '-W', '2']);
    expect(fromHub.code, fromHub.out).toBe(0);
    const text = await nsRun(HUB_NS, process.execPath, [TSVPN_BIN, 'status', 'hub'], 15_000, { TSVPN_CONTROL_DIR: ctl });
    expect(text.out).toContain('alice: 198.51.100.1 <-> %any \'alice.example\'');
    expect(text.out).toMatch(/b7: .* 1 peer up/);
  }, 120_000);

  it('reload: one added, one removed, one changed; the others keep their SAs and lose no ping', async () => {
    const before = peersOf(await hubStatus());
    const untouched = all.filter((i) => i !== 1 && i !== 2);
    // 10 ms pings through every untouched tunnel while the file is reloaded
    const pinging = untouched.map((i) => ping(BR_NS, brHost(i), hubHost(i), ['-i', '0.01', '-c', '400', '-W', '1']));
    await sleep(1000);
    // b1 removed, b2 with another IKE proposal, b21 added (the hub initiates to it)
    const next = hubFile([...all.filter((i) => i !== 1), BRANCHES + 1], (i) => (i === 2 ? { proposals: ['aes128gcm16-prfsha256-ecp256'] } : i === BRANCHES + 1 ? { start: 'initiate' } : {}));
    writeFileSync(join(dir, 'hub.json'), JSON.stringify(next, null, 2));
    const r = await nsRun(HUB_NS, process.execPath, [TSVPN_BIN, 'reload', 'hub'], 15_000, { TSVPN_CONTROL_DIR: ctl });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('added 1 (b21), removed 1 (b1), changed 1 (b2), unchanged 18');
    const results = await Promise.all(pinging);
    results.forEach((p, k) => expect(p.out, nameOf(untouched[k]!)).toMatch(/400 packets transmitted, 400 received/));
    await until(async () => {
      const p = peersOf(await hubStatus());
      return p.has(`b${BRANCHES + 1}`) && p.has('b2') && !p.has('b1');
    }, { timeout: 20_000, interval: 300, what: 'b21 up, b2 replaced, b1 gone' }).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await why()}`);
    });
    const s = await hubStatus();
    const after = peersOf(s);
    for (const i of untouched) expect(after.get(nameOf(i))?.spiIn, nameOf(i)).toBe(before.get(nameOf(i))?.spiIn);
    // b2 runs on a new IKE SA with the new proposal
    expect(s.ikeSas.find((sa) => sa.connection === 'b2' && sa.state === 'ESTABLISHED')?.proposal).toBe('aes128gcm16-prfsha256-ecp256');
    // the removed peer was told: its IKE SA was deleted by the peer (RFC 7296 §1.4.1)
    await until(async () => /IKE SA deleted \(peer\)/.test(logOf('br-b1')), { timeout: 5_000, interval: 200, what: 'br-b1 sees the Delete' });
    for (const i of [2, BRANCHES + 1]) {
      const p = await ping(BR_NS, brHost(i), hubHost(i), ['-c', '2', '-W', '2']);
      expect(p.code, `${nameOf(i)}: ${p.out}`).toBe(0);
    }
    // a file that fails validation changes nothing and says why
    writeFileSync(join(dir, 'hub.json'), JSON.stringify({ ...next, connections: { ...next.connections, b3: { ...next.connections.b3, remote: { ...next.connections.b3!.remote, ts: ['not-a-prefix'] } } } }));
    const bad = await nsRun(HUB_NS, process.execPath, [TSVPN_BIN, 'reload', 'hub'], 15_000, { TSVPN_CONTROL_DIR: ctl });
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('/connections/b3/remote/ts/0');
    expect(peersOf(await hubStatus()).get('b3')?.spiIn).toBe(before.get('b3')?.spiIn);
    writeFileSync(join(dir, 'hub.json'), JSON.stringify(next, null, 2)); // the good file again, for the restart below
  }, 120_000);

  it('SIGKILL: the tunnels fail closed (nothing in clear), and a restart sweeps what was left and brings every peer back', async () => {
    const s0 = await hubStatus();
    const want = [...peersOf(s0).keys()].sort();
    const rules = (ns: string) => netState(ns).rules.filter((r) => /lookup 748|unreachable|7480/.test(r)).sort();
    const before = rules(HUB_NS);
    const hub = procs.get('hub')!;
    hub.kill('SIGKILL');
    await new Promise((r) => (hub.exitCode !== null || hub.signalCode !== null ? r(undefined) : hub.once('exit', r)));
    // the TUN is gone with the process; the rules and the guard stay: a branch network is unreachable, not routed in clear
    const get = await nsRun(HUB_NS, 'ip', ['route', 'get', brHost(3), 'from', hubHost(3)]);
    expect(`${get.out}${get.err}`).toMatch(/unreachable|No route to host/);
    up(HUB_NS, 'hub', JSON.parse(readFileSync(join(dir, 'hub.json'), 'utf8')) as object);
    await until(async () => {
      const s = await hubStatus().catch(() => undefined);
      return s !== undefined && [...peersOf(s).keys()].sort().join() === want.join();
    }, {
      timeout: 60_000,
      interval: 500,
      what: `the ${want.length} peers back on the restarted hub`,
    }).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await why()}`);
    });
    // what the killed run left was swept: the rules are the same set as before, not twice over
    expect(rules(HUB_NS)).toEqual(before);
    expect(logOf('hub')).toMatch(/removed what a previous run left/);
    for (const i of [3, 7, BRANCHES - 1, BRANCHES + 1]) {
      const p = await ping(BR_NS, brHost(i), hubHost(i), ['-c', '2', '-W', '2']);
      expect(p.code, `${nameOf(i)}: ${p.out}`).toBe(0);
    }
  }, 120_000);
});
