// Issue 14 item 1, virtual IPs (RFC 7296 §2.19: CP(CFG_REQUEST) in IKE_AUTH) against strongSwan
// 5.9.8 in both roles. First, road warriors: charons with `vips = 0.0.0.0` initiate to one
// `tsvpn up gw.json` whose connection hands out addresses from a pool of three. Each charon
// runs in its own namespace (charon binds the IKE ports on the wildcard), joined to the
// gateway's bridge by a veth. The first three get distinct addresses of the pool (swanctl
// --list-sas: local-vips) and the DNS server, and ping the gateway's network from their
// address; the fourth is refused with INTERNAL_ADDRESS_FAILURE, which both sides report.
// Then the other way: a charon gateway with a pool and a DNS server, and a tsvpn client with
// `local.vips`, in split and full tunnel (issue 14 item 2), checked with `ip route get` in the
// client's namespace, which has a default route of its own: split by the client's remote.ts,
// full (both sides 0.0.0.0/0: everything into the TUN from the virtual IP, the default route
// kept), split by charon narrowing 0.0.0.0/0 to what it protects, and split by the subnet
// charon's pool announces (INTERNAL_IP4_SUBNET).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createBridgeLab, createClientGatewayLab, type BridgeLab, type ClientGatewayLab } from '../../interop/lab/bridge.js';
import { hasInstalled, localVips, startStrongswan, strongswanSupport, type Strongswan } from '../../interop/lab/strongswan.js';
import { swanctlConf } from '../../interop/lab/swanctl-conf.js';
import { until } from '../../interop/lab/wait.js';
import { fetchStatus } from '../../src/cli/control-client.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { ip, listNs, netnsSupport } from '../../src/io/netns.js';
import { nsRun, ping, TSVPN_BIN } from '../e2e/helpers/lab.js';

const reasons = [netnsSupport(), strongswanSupport()].flatMap((s) => (s.ok ? [] : [s.why]));
const ok = reasons.length === 0;

const PREFIX = 'tsvs-';
const tag = Math.random().toString(16).slice(2, 8);
const GW = '198.51.100.1';
const GW_HOST = '10.0.0.1';
const POOL = '10.3.0.10-10.3.0.12';
const DNS = '10.0.0.53';
const PSK = 'road-warrior-secret-0123456789';
const PROPOSAL = 'aes256gcm16-prfsha256-x25519';
const CHILD = 'net';
const WARRIORS = [1, 2, 3, 4];
const outer = (i: number) => `198.51.100.${10 + i}`;
const idOf = (i: number) => `rw${i}.example`;

const gatewayFile = {
  name: 'gw',
  secrets: { rw: { psk: PSK } },
  pools: { rw: { addrs: POOL, dns: [DNS] } },
  connections: {
    rw: {
      local: { addr: GW, id: 'gw.example', auth: 'psk', ts: ['10.0.0.0/24'] },
      remote: { addr: '%any', id: '%any', auth: 'psk', ts: ['10.3.0.0/24'] },
      psk: { secret: 'rw' },
      pools: ['rw'],
      ike: { proposals: [PROPOSAL] },
      child: { proposals: ['aes256gcm16'] },
      start: 'wait',
      dpdAction: 'clear',
    },
  },
};

const charonConf = (i: number) =>
  swanctlConf({
    name: 'gw',
    localAddrs: outer(i),
    remoteAddrs: GW,
    proposals: [PROPOSAL],
    vips: ['0.0.0.0'],
    local: { auth: 'psk', id: idOf(i) },
    remote: { auth: 'psk', id: 'gw.example' },
    // swanctl's default: the client's side is its virtual IP
    child: { name: CHILD, localTs: ['dynamic'], remoteTs: ['10.0.0.0/24'], espProposals: ['aes256gcm16'] },
    psk: PSK,
  });

const tail = (text: string, n: number) => text.split('\n').slice(-n).join('\n');

describe.skipIf(!ok)(`a tsvpn gateway hands strongSwan road warriors their virtual IPs ${ok ? '(needs root, netns, strongSwan)' : `(skipped: ${reasons.join('; ')})`}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-vips-'));
  const ctl = join(dir, 'ctl');
  let lab: BridgeLab | undefined;
  const charons = new Map<number, Strongswan>();
  let gw: ChildProcess | undefined;
  const gwLog = () => readFileSync(join(dir, 'gw.log'), 'utf8');
  const status = (): Promise<TunnelStatus> => fetchStatus(ctl, 'gw');
  const why = (i: number) => `--- gw ---\n${tail(gwLog(), 30)}\n--- charon rw${i} ---\n${tail(charons.get(i)?.log() ?? '(not started)', 30)}`;

  beforeAll(async () => {
    lab = await createBridgeLab({ prefix: PREFIX, tag, gw: GW, gwHost: GW_HOST, warriors: WARRIORS, outer });
    const file = join(dir, 'gw.json');
    writeFileSync(file, JSON.stringify(gatewayFile, null, 2), { mode: 0o600 });
    const fd = openSync(join(dir, 'gw.log'), 'a', 0o600);
    gw = spawn('ip', ['netns', 'exec', lab!.gwNs, process.execPath, TSVPN_BIN, 'up', file, '-v'], { stdio: ['ignore', fd, fd], env: { ...process.env, TSVPN_CONTROL_DIR: ctl } });
    closeSync(fd);
    await until(async () => (await status().catch(() => undefined)) !== undefined, { timeout: 15_000, interval: 100, what: 'the gateway daemon' });
    // charon puts its virtual IP on an interface, as a road warrior does (the lab's default is not to), so its route into ipsec0 can use it as source
    for (const i of WARRIORS) charons.set(i, await startStrongswan({ ns: lab!.nsOf(i), name: `rw${i}`, conf: charonConf(i), charonConf: 'install_virtual_ip = yes' }));
  }, 90_000);

  afterAll(async () => {
    for (const c of charons.values()) await c.stop();
    if (gw && gw.exitCode === null) {
      gw.kill('SIGTERM');
      await until(() => gw!.exitCode !== null || gw!.signalCode !== null, { timeout: 3000, interval: 100, what: 'the gateway to exit' }).catch(() => gw!.kill('SIGKILL'));
    }
    lab?.remove();
    rmSync(dir, { recursive: true, force: true });
    expect(listNs().filter((n) => n.startsWith(PREFIX) && n.endsWith(`-${tag}`)), 'namespaces left behind').toEqual([]);
  }, 30_000);

  it('three charons each get a distinct address of the pool and the DNS server, and ping the gateway network from it', async () => {
    const vips: string[] = [];
    for (const i of [1, 2, 3]) {
      const c = charons.get(i)!;
      const r = await c.initiate(CHILD);
      if (!r.ok) expect.fail(`swanctl --initiate in rw${i}: ${r.output}\n${why(i)}`);
      await c.waitFor((s) => hasInstalled(s, CHILD), 10_000, 'INSTALLED');
      const [vip] = localVips(c);
      expect(vip, why(i)).toMatch(/^10\.3\.0\.1[012]$/);
      vips.push(vip!);
      // strongSwan's Child SA: its side is the address it was given
      const ch = c.listSas().find((s) => s.state === 'ESTABLISHED')!.children.find((x) => x.name === CHILD)!;
      expect(ch.localTs).toEqual([`${vip}/32`]);
      // charon logged the DNS attribute of the reply (it has no DNS handler in the lab: no resolv.conf is touched)
      expect(c.log(), why(i)).toMatch(/INTERNAL_IP4_DNS/);
    }
    expect(new Set(vips).size).toBe(3);
    const s = await status();
    const leased = s.ikeSas.filter((sa) => sa.state === 'ESTABLISHED').map((sa) => [sa.remoteId, sa.vips?.leased?.[0]]);
    expect(leased.sort()).toEqual([1, 2, 3].map((i) => [idOf(i), vips[i - 1]]).sort());
    expect(s.pools).toEqual([{ name: 'rw', addrs: POOL, size: 3, online: 3, offline: 0 }]);
    expect(s.lastFailure, why(1)).toBeNull();
    for (const i of [1, 2, 3]) expect(ip(['-o', 'addr', 'show'], lab!.nsOf(i)), `rw${i}`).toContain(`inet ${vips[i - 1]}/32`);
    const pings = await Promise.all([1, 2, 3].map((i) => ping(lab!.nsOf(i), vips[i - 1]!, GW_HOST, ['-c', '3', '-i', '0.2', '-W', '2'])));
    pings.forEach((p, k) => expect(p.code, `rw${k + 1}: ${p.out}\n${why(k + 1)}`).toBe(0));
    // ... and the gateway reaches each of them at its virtual IP
    const back = await Promise.all(vips.map((v) => ping(lab!.gwNs, GW_HOST, v, ['-c', '2', '-i', '0.2', '-W', '2'])));
    back.forEach((p, k) => expect(p.code, `gw -> rw${k + 1}: ${p.out}`).toBe(0));
  }, 90_000);

  it('a fourth charon finds the pool used up: INTERNAL_ADDRESS_FAILURE on both sides, the others stay up', async () => {
    const c = charons.get(4)!;
    const r = await c.initiate(CHILD, { timeoutS: 15 });
    expect(r.ok, r.output).toBe(false);
    await until(() => /INTERNAL_ADDRESS_FAILURE/.test(c.log()), { timeout: 10_000, interval: 200, what: 'charon rw4 logging INTERNAL_ADDRESS_FAILURE' }).catch((e) => {
      throw new Error(`${(e as Error).message}\n${why(4)}`);
    });
    expect(hasInstalled(c.listSas(), CHILD)).toBe(false);
    const s = await status();
    expect(s.connections.find((x) => x.name === 'rw')!.lastFailure, why(4)).toMatchObject({ row: 'F4', message: `no virtual IP for ${idOf(4)}: every address is leased (rw ${POOL}: 3 of 3 online)` });
    expect(s.pools![0]).toMatchObject({ online: 3 });
    for (const i of [1, 2, 3]) expect(hasInstalled(charons.get(i)!.listSas(), CHILD), `rw${i}`).toBe(true);
  }, 60_000);
});

describe.skipIf(!ok)(`a strongSwan gateway gives a tsvpn client its virtual IP, in split and full tunnel ${ok ? '(needs root, netns, strongSwan)' : `(skipped: ${reasons.join('; ')})`}`, () => {
  let lab: ClientGatewayLab | undefined;
  const SG = '198.51.100.2';
  const CL = '198.51.100.3';
  const TUN = 'tsvipc';
  /** Outside every network charon protects in the split cases: the client's own default route takes it. */
  const ELSEWHERE = '203.0.113.9';
  const ORIGINAL_RESOLV = 'nameserver 192.0.2.99\n';
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-vipc-'));
  const ctl = join(dir, 'ctl');
  let charon: Strongswan | undefined;
  let client: ChildProcess | undefined;
  let run = '';
  const clientLog = () => readFileSync(join(dir, `${run}.log`), 'utf8');
  const why = () => `--- tsvpn client ---\n${tail(clientLog(), 30)}\n--- charon gateway ---\n${tail(charon?.log() ?? '', 30)}`;
  const routeGet = (to: string) => ip(['route', 'get', to], lab!.clientNs);
  const pingHost = () => nsRun(lab!.clientNs, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', GW_HOST]); // no -I: the routes' source is the virtual IP

  /** charon's connection: what it protects (local_ts), and its pool (a new name for each shape: a loaded pool cannot change). */
  const gatewayConf = (pool: string, localTs: string[], subnet?: string[]) =>
    swanctlConf({
      name: 'rw',
      localAddrs: SG,
      remoteAddrs: '%any',
      proposals: [PROPOSAL],
      pools: { [pool]: { addrs: '10.4.0.0/28', dns: [DNS], ...(subnet ? { subnet } : {}) } },
      local: { auth: 'psk', id: 'gw.example' },
      remote: { auth: 'psk', id: 'client.example' },
      child: { name: CHILD, localTs, remoteTs: ['dynamic'], espProposals: ['aes256gcm16'] },
      psk: PSK,
    });

  /** `tsvpn up` of a client asking for `remoteTs`, until its Child SA is installed: its IKE SA's status. */
  async function clientUp(name: string, remoteTs: string[]): Promise<TunnelStatus['ikeSas'][number]> {
    run = name;
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        name: 'client',
        local: { addr: CL, id: 'client.example', auth: 'psk', ts: ['dynamic'], vips: ['0.0.0.0'] },
        remote: { addr: SG, id: 'gw.example', auth: 'psk', ts: remoteTs },
        psk: PSK,
        ike: { proposals: [PROPOSAL] },
        child: { proposals: ['aes256gcm16'] },
        start: 'initiate',
        tun: { name: TUN },
      }),
      { mode: 0o600 },
    );
    const fd = openSync(join(dir, `${name}.log`), 'a', 0o600);
    client = spawn('ip', ['netns', 'exec', lab!.clientNs, process.execPath, TSVPN_BIN, 'up', file, '-v'], { stdio: ['ignore', fd, fd], env: { ...process.env, TSVPN_CONTROL_DIR: ctl } });
    closeSync(fd);
    const up = (s: TunnelStatus | undefined) => s?.ikeSas.find((sa) => sa.state === 'ESTABLISHED' && sa.children.some((c) => c.state === 'INSTALLED'));
    await until(async () => up(await fetchStatus(ctl, 'client').catch(() => undefined)), { timeout: 20_000, interval: 200, what: `the ${name} client up` }).catch((e) => {
      throw new Error(`${(e as Error).message}\n${why()}`);
    });
    return up(await fetchStatus(ctl, 'client'))!;
  }

  /** `tsvpn down`, until the client has exited and charon has no IKE SA left. */
  async function clientDown(): Promise<void> {
    const c = client!;
    const down = await nsRun(lab!.clientNs, process.execPath, [TSVPN_BIN, 'down', 'client'], 15_000, { TSVPN_CONTROL_DIR: ctl });
    expect(down.code, down.out + down.err).toBe(0);
    await until(() => c.exitCode !== null, { timeout: 10_000, interval: 100, what: 'the client exits' });
    await until(() => charon!.listSas().length === 0, { timeout: 10_000, interval: 200, what: 'charon without IKE SAs' });
  }

  beforeAll(async () => {
    lab = createClientGatewayLab({ prefix: PREFIX, tag, gw: SG, client: CL, gwHost: GW_HOST, resolvConf: ORIGINAL_RESOLV });
    // the client's own default route on the outer link: a full tunnel must win over it without deleting it
    ip(['route', 'add', 'default', 'via', SG, 'dev', 'eth0'], lab.clientNs);
    charon = await startStrongswan({ ns: lab.gwNs, name: 'sgw', conf: gatewayConf('rw', ['10.0.0.0/24']) });
  }, 60_000);

  afterAll(async () => {
    await charon?.stop();
    if (client && client.exitCode === null) {
      client.kill('SIGTERM');
      await until(() => client!.exitCode !== null || client!.signalCode !== null, { timeout: 3000, interval: 100, what: 'the client to exit' }).catch(() => client!.kill('SIGKILL'));
    }
    lab?.remove();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('the client gets an address of the charon\'s pool and its DNS server, puts it on its TUN and reaches the gateway network from it', async () => {
    const sa = await clientUp('client', ['10.0.0.0/24']);
    const vip = sa.vips?.own?.[0];
    expect(vip, why()).toMatch(/^10\.4\.0\.(\d+)$/);
    expect(sa.vips?.dns).toEqual([DNS]);
    expect(sa.children[0]!.localTs).toEqual([vip]);
    // strongSwan leased it to this identity
    const ss = charon!.listSas().find((x) => x.state === 'ESTABLISHED')!;
    const remoteVips = ss.raw['remote-vips'];
    expect(Array.isArray(remoteVips) ? remoteVips : [remoteVips]).toEqual([vip]);
    expect(ip(['-o', 'addr', 'show', 'dev', TUN], lab!.clientNs)).toContain(`inet ${vip}/32`);
    const p = await pingHost();
    expect(p.code, `${p.out}\n${why()}`).toBe(0);
    // the DNS server strongSwan handed out is the client's resolver while the tunnel is up
    expect(readFileSync(lab!.resolvConfPath, 'utf8')).toContain(`nameserver ${DNS}\n`);
    // ... and the original once it is down
    await clientDown();
    expect(readFileSync(lab!.resolvConfPath, 'utf8')).toBe(ORIGINAL_RESOLV);
  }, 60_000);

  it('full tunnel: both sides 0.0.0.0/0, everything into the TUN from the virtual IP, the client\'s own default route kept, DNS applied while up and the original back after down and after SIGKILL plus restart', async () => {
    const loaded = charon!.load(gatewayConf('full', ['0.0.0.0/0']));
    expect(loaded.ok, loaded.output).toBe(true);
    const sa = await clientUp('full', ['0.0.0.0/0']);
    const vip = sa.vips!.own![0]!;
    expect(sa.children[0]!.remoteTs).toEqual(['0.0.0.0/0']);
    for (const to of [GW_HOST, ELSEWHERE]) expect(routeGet(to), to).toMatch(new RegExp(`dev ${TUN} .*src ${vip.replace(/\./g, '\\.')}`));
    expect(ip(['route', 'show', 'default'], lab!.clientNs)).toContain(`default via ${SG} dev eth0`);
    expect(ip(['route', 'get', SG, 'ipproto', 'udp', 'sport', '4500'], lab!.clientNs)).toContain('dev eth0'); // tsvpn's own ESP in UDP to charon
    const p = await pingHost();
    expect(p.code, `${p.out}\n${why()}`).toBe(0);
    expect(readFileSync(lab!.resolvConfPath, 'utf8')).toContain(`nameserver ${DNS}\n`);
    // SIGKILL leaves charon's DNS server in place; the next `tsvpn up` puts the original back before its own
    const killed = client!;
    killed.kill('SIGKILL');
    await until(() => killed.signalCode !== null, { timeout: 5000, interval: 50, what: 'the client killed' });
    expect(readFileSync(lab!.resolvConfPath, 'utf8')).toContain(`nameserver ${DNS}\n`);
    await clientUp('full-again', ['0.0.0.0/0']);
    expect(clientLog()).toContain('restored /etc/resolv.conf, which a previous run left holding a gateway\'s DNS servers');
    await clientDown();
    expect(readFileSync(lab!.resolvConfPath, 'utf8')).toBe(ORIGINAL_RESOLV);
    expect(routeGet(ELSEWHERE)).toContain(`via ${SG} dev eth0`);
  }, 60_000);

  it('split by narrowing: the client asks for 0.0.0.0/0, charon protects 10.0.0.0/24 (RFC 7296 §2.9): only it goes into the TUN', async () => {
    const loaded = charon!.load(gatewayConf('narrow', ['10.0.0.0/24']));
    expect(loaded.ok, loaded.output).toBe(true);
    const sa = await clientUp('narrow', ['0.0.0.0/0']);
    expect(sa.children[0]!.remoteTs).toEqual(['10.0.0.0/24']);
    expect(routeGet(GW_HOST)).toContain(`dev ${TUN}`);
    expect(routeGet(ELSEWHERE)).toContain(`via ${SG} dev eth0`);
    expect(ip(['route', 'show', 'table', '7481'], lab!.clientNs).trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^10\\.0\\.0\\.0/24 dev ${TUN} `))]);
    const p = await pingHost();
    expect(p.code, `${p.out}\n${why()}`).toBe(0);
    await clientDown();
  }, 60_000);

  it('split by announcement: charon protects 0.0.0.0/0 but its pool announces 10.0.0.0/24 (INTERNAL_IP4_SUBNET, RFC 7296 §3.15.2): only it goes into the TUN', async () => {
    const loaded = charon!.load(gatewayConf('announced', ['0.0.0.0/0'], ['10.0.0.0/24']));
    expect(loaded.ok, loaded.output).toBe(true);
    const sa = await clientUp('announced', ['0.0.0.0/0']);
    expect(sa.children[0]!.remoteTs).toEqual(['0.0.0.0/0']);
    expect(sa.vips?.subnets, why()).toEqual(['10.0.0.0/24']);
    expect(routeGet(GW_HOST)).toContain(`dev ${TUN}`);
    expect(routeGet(ELSEWHERE)).toContain(`via ${SG} dev eth0`);
    expect(clientLog()).toContain('routing 10.0.0.0/24 of 0.0.0.0/0: the subnets the gateway announced');
    const p = await pingHost();
    expect(p.code, `${p.out}\n${why()}`).toBe(0);
    await clientDown();
  }, 60_000);
});
