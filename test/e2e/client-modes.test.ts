// Issue 14 items 2 and 3 between tsvpn ends: a road-warrior client with a virtual IP in full
// tunnel (remote.ts 0.0.0.0/0) with the kill switch, then in split tunnel. The gateway hands
// out a pool and protects everything (local.ts 0.0.0.0/0); the client namespace also has a
// default route of its own on the outer link, which the full tunnel must win over without
// deleting. tcpdump on the client's outer interface must see no inner packet in clear while
// the tunnel is up, nor after the gateway is SIGKILLed (the kill switch holds), and must see
// the clear ping once `tsvpn down` removed the nft table. With allowLan the outer link stays
// reachable in clear and out of the tunnel routes. Split: only the chosen network goes
// into the tunnel (ip route get). A kill switch left by a SIGKILLed client is removed by the
// next start that no longer asks for one. A client whose remote.ts leaves the choice to the
// gateway (0.0.0.0/0) routes only the subnets the gateway's pool announces (`subnets`,
// INTERNAL_IP4_SUBNET). The pools have no DNS server: no resolver file changes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sleep, until } from '../../interop/lab/wait.js';
import { fetchStatus } from '../../src/cli/control-client.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { delNs, ip } from '../../src/io/netns.js';
import { labOk, nsRun, nsStart, TSVPN_BIN } from './helpers/lab.js';

const tag = Math.random().toString(16).slice(2, 8);
const GW_NS = `tskg-${tag}`;
const CL_NS = `tskc-${tag}`;
const GW = '198.51.100.1';
/** An address on the outer link's other side that is not the gateway's IKE address. */
const OTHER = '198.51.100.3';
const CLIENT = '198.51.100.10';
const GW_HOST = '10.0.0.1';
const TUN = 'tsks0';
const PSK = 'road-warrior-secret-0123456789';
const TABLE = (name: string) => `tsvpn_${name}`;

/** A remote-access connection of the gateway: it protects everything, for peers proving `remoteId`, with addresses of `pool`. */
const roadWarriors = (remoteId: string, remoteTs: string, pool: string) => ({
  local: { addr: GW, id: 'gw.example', auth: 'psk', ts: ['0.0.0.0/0'] },
  remote: { addr: '%any', id: remoteId, auth: 'psk', ts: [remoteTs] },
  psk: { secret: 'rw' },
  pools: [pool],
  ike: { proposals: ['aes256gcm16-prfsha256-x25519'] },
  child: { proposals: ['aes256gcm16'] },
  start: 'wait',
  dpdAction: 'clear',
});

const gatewayFile = {
  name: 'kgw',
  secrets: { rw: { psk: PSK } },
  pools: { rw: { addrs: '10.3.0.10-10.3.0.12' }, announced: { addrs: '10.3.1.10-10.3.1.12', subnets: ['10.0.0.0/24'] } },
  connections: {
    rw: roadWarriors('%any', '10.3.0.0/24', 'rw'),
    // for one client, a pool that announces the network behind the gateway (INTERNAL_IP4_SUBNET)
    announced: roadWarriors('split.example', '10.3.1.0/24', 'announced'),
  },
};

const clientFile = (name: string, remoteTs: string[], extra: object = {}) => ({
  name,
  local: { addr: CLIENT, id: 'laptop.example', auth: 'psk', ts: ['dynamic'], vips: ['0.0.0.0'] },
  remote: { addr: GW, id: 'gw.example', auth: 'psk', ts: remoteTs },
  psk: PSK,
  ike: { proposals: ['aes256gcm16-prfsha256-x25519'], dpd: '2s' },
  child: { proposals: ['aes256gcm16'] },
  retransmit: { timeout: 0.5, base: 1.5, tries: 2 },
  start: 'initiate',
  tun: { name: TUN },
  ...extra,
});

describe.skipIf(!labOk || spawnSync('nft', ['--version']).error !== undefined)('road-warrior client: full tunnel with kill switch, split tunnel (needs root, namespaces, /dev/net/tun, ping, tcpdump, nft)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-ks-'));
  const ctl = join(dir, 'ctl');
  const procs = new Map<string, ChildProcess>();

  function up(ns: string, run: string, body: { name: string } & Record<string, unknown>): ChildProcess {
    const file = join(dir, `${run}.json`);
    writeFileSync(file, JSON.stringify(body, null, 2), { mode: 0o600 });
    const fd = openSync(join(dir, `${run}.log`), 'a', 0o600);
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, TSVPN_BIN, 'up', file, '-v'], { stdio: ['ignore', fd, fd], env: { ...process.env, TSVPN_CONTROL_DIR: ctl } });
    closeSync(fd);
    procs.set(run, p);
    return p;
  }
  const status = (name: string): Promise<TunnelStatus> => fetchStatus(ctl, name);
  const logOf = (run: string) => readFileSync(join(dir, `${run}.log`), 'utf8');
  const childUp = (s: TunnelStatus | undefined) => !!s && s.ikeSas.some((sa) => sa.state === 'ESTABLISHED' && sa.children.some((c) => c.state === 'INSTALLED'));
  const waitUp = async (name: string, run: string) =>
    until(async () => childUp(await status(name).catch(() => undefined)), { timeout: 20_000, interval: 200, what: `${name} up` }).catch((e) => {
      throw new Error(`${(e as Error).message}\n--- ${run} ---\n${logOf(run).slice(-3000)}`);
    });
  const killed = async (p: ChildProcess) => {
    p.kill('SIGKILL');
    await until(() => p.exitCode !== null || p.signalCode !== null, { timeout: 5000, interval: 50, what: 'process killed' });
  };
  const down = (name: string) => nsRun(CL_NS, process.execPath, [TSVPN_BIN, 'down', name], 15_000, { TSVPN_CONTROL_DIR: ctl });
  const routeGet = (to: string) => ip(['route', 'get', to], CL_NS);
  const nftTables = () => spawnSync('ip', ['netns', 'exec', CL_NS, 'nft', 'list', 'tables'], { encoding: 'utf8' }).stdout;
  const run = (cmd: string, args: string[]) => nsRun(CL_NS, cmd, args, 15_000);
  const pingOnce = (to: string, extra: string[] = []) => run('ping', ['-n', '-c', '2', '-i', '0.2', '-W', '1', ...extra, to]);
  // one UDP datagram each way the host would send it (routing decides the interface)
  const udpTo = (to: string) => run('python3', ['-c', `import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry: s.sendto(b'inner-udp', ('${to}', 9))\nexcept OSError as e: print(e)`]);
  /** Everything the client sends on the outer wire but IKE, ESP in UDP, ESP and ARP (IPv6 neighbour discovery is allowed by the kill switch). */
  const capture = () => nsStart(CL_NS, 'tcpdump', ['-n', '-i', 'eth0', '-Q', 'out', '-U', '-l', `(ip and not (udp port 500 or udp port 4500 or ip proto 50)) or (ip6 and not icmp6)`], 'listening on');

  /** Start the gateway daemon (as run `run`) unless one is running. */
  async function gatewayUp(run: string): Promise<void> {
    if ([...procs].some(([r, p]) => r.startsWith('gw') && p.exitCode === null && p.signalCode === null)) return;
    up(GW_NS, run, gatewayFile);
    await until(async () => (await status('kgw').catch(() => undefined)) !== undefined, { timeout: 15_000, interval: 100, what: 'the gateway daemon' });
  }

  beforeAll(async () => {
    ip(['netns', 'add', GW_NS]);
    ip(['netns', 'add', CL_NS]);
    ip(['link', 'add', 'eth0', 'netns', GW_NS, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CL_NS]);
    for (const ns of [GW_NS, CL_NS]) {
      ip(['link', 'set', 'lo', 'up'], ns);
      ip(['link', 'set', 'eth0', 'up'], ns);
    }
    ip(['addr', 'add', `${GW}/24`, 'dev', 'eth0'], GW_NS);
    ip(['addr', 'add', `${OTHER}/24`, 'dev', 'eth0'], GW_NS);
    ip(['addr', 'add', `${GW_HOST}/32`, 'dev', 'lo'], GW_NS);
    ip(['addr', 'add', `${CLIENT}/24`, 'dev', 'eth0'], CL_NS);
    ip(['route', 'add', 'default', 'via', GW, 'dev', 'eth0'], CL_NS); // the client's own default route: the full tunnel must win over it
    await gatewayUp('gw');
  }, 60_000);

  afterAll(async () => {
    for (const p of procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await sleep(2500);
    for (const p of procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    delNs(GW_NS);
    delNs(CL_NS);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('full tunnel with kill switch: everything goes into the tunnel from the virtual IP, nothing in clear while up or with the gateway killed, clear again after down', async () => {
    const client = up(CL_NS, 'full', clientFile('full', ['0.0.0.0/0'], { killSwitch: true }));
    await waitUp('full', 'full');
    expect(nftTables()).toContain(`table inet ${TABLE('full')}`);
    expect(logOf('full')).toContain(`kill switch on (nft table inet ${TABLE('full')})`);
    // the default route of main is still there; the tunnel's halves win over it, from the virtual IP
    expect(ip(['route', 'show', 'default'], CL_NS)).toContain(`default via ${GW} dev eth0`);
    for (const to of [GW_HOST, OTHER, '203.0.113.9']) expect(routeGet(to), to).toMatch(new RegExp(`dev ${TUN} .*src 10\\.3\\.0\\.10`));
    // the gateway itself too, but for tsvpn's own IKE and ESP (the routing trap)
    expect(routeGet(GW)).toContain(`dev ${TUN}`);
    expect(ip(['route', 'get', GW, 'ipproto', 'udp', 'sport', '500'], CL_NS)).toContain('dev eth0');

    const cap = await capture();
    let dropsUp = 0;
    try {
      // through the tunnel: the network behind the gateway, and the outer link's other side too
      for (const to of [GW_HOST, OTHER]) {
        const p = await pingOnce(to);
        expect(p.code, `${to}: ${p.out}${p.err}`).toBe(0);
        await udpTo(to);
      }
      // a socket bound to the outer interface gets past the routes, not past the kill switch
      const bound = await pingOnce(OTHER, ['-I', 'eth0']);
      expect(bound.code, bound.out).not.toBe(0);
      await until(async () => ((await status('full')).killSwitch?.dropped ?? 0) > 0, { timeout: 5000, interval: 200, what: 'kill switch drops counted' });
      dropsUp = (await status('full')).killSwitch!.dropped!;
      const text = await nsRun(CL_NS, process.execPath, [TSVPN_BIN, 'status', 'full'], 15_000, { TSVPN_CONTROL_DIR: ctl });
      expect(text.out).toMatch(new RegExp(`kill switch: nft table inet ${TABLE('full')}, \\d+ packets? dropped outside the tunnel`));

      // the gateway goes away without a word: the client's SAs end, the kill switch stays
      await killed(procs.get('gw')!);
      await until(async () => !childUp(await status('full')), { timeout: 20_000, interval: 250, what: 'the client notices the gateway is gone' });
      expect(nftTables()).toContain(`table inet ${TABLE('full')}`);
      for (const to of [GW_HOST, OTHER]) {
        const p = await pingOnce(to);
        expect(p.code, `${to} answered with the gateway gone: ${p.out}`).not.toBe(0);
        await udpTo(to);
      }
      const boundGone = await pingOnce(OTHER, ['-I', 'eth0']);
      expect(boundGone.code).not.toBe(0);
      await until(async () => ((await status('full')).killSwitch?.dropped ?? 0) > dropsUp, { timeout: 5000, interval: 200, what: 'more drops with the gateway gone' });
    } finally {
      cap.proc.kill('SIGINT');
    }
    const seen = await cap.result;
    expect(seen.out.trim(), 'inner packets in clear on the outer wire').toBe('');
    expect(seen.err).toMatch(/\b0 packets captured/);

    // down: the table goes, and the same ping leaves in clear (tcpdump sees it: the capture works)
    const d = await down('full');
    expect(d.code, d.out + d.err).toBe(0);
    await until(() => client.exitCode !== null, { timeout: 10_000, interval: 100, what: 'the client exits' });
    expect(nftTables()).not.toContain(TABLE('full'));
    expect(routeGet(OTHER)).toContain('dev eth0');
    const after = await capture();
    const clear = await pingOnce(OTHER);
    after.proc.kill('SIGINT');
    expect(clear.code, clear.out).toBe(0);
    expect((await after.result).out).toContain(`${CLIENT} > ${OTHER}: ICMP echo request`);
  }, 120_000);

  it('full tunnel with kill switch and allowLan: the outer link stays reachable in clear, everything else goes into the tunnel', async () => {
    await gatewayUp('gw-lan'); // the first test killed it
    const client = up(CL_NS, 'lan', clientFile('lan', ['0.0.0.0/0'], { killSwitch: true, allowLan: true }));
    await waitUp('lan', 'lan');
    expect(logOf('lan')).toContain('the LAN (198.51.100.0/24)');
    expect(ip(['rule', 'show', 'pref', '7480'], CL_NS)).toContain('to 198.51.100.0/24 lookup main');
    expect(routeGet(OTHER)).toContain('dev eth0');
    expect(routeGet('203.0.113.9')).toContain(`dev ${TUN}`);
    const cap = await capture();
    const lan = await pingOnce(OTHER);
    const inner = await pingOnce(GW_HOST);
    cap.proc.kill('SIGINT');
    expect(lan.code, lan.out).toBe(0);
    expect(inner.code, inner.out).toBe(0);
    const seen = (await cap.result).out;
    expect(seen).toContain(`${CLIENT} > ${OTHER}: ICMP echo request`); // the LAN, in clear as asked
    expect(seen).not.toContain(GW_HOST); // the network behind the gateway only inside ESP
    const d = await down('lan');
    expect(d.code, d.out + d.err).toBe(0);
    await until(() => client.exitCode !== null, { timeout: 10_000, interval: 100, what: 'the client exits' });
    expect(ip(['rule', 'show', 'pref', '7480'], CL_NS)).not.toContain('198.51.100.0/24');
  }, 60_000);

  it('split tunnel: only the chosen network goes into the tunnel; a kill switch a SIGKILLed client left stays until the next start removes it', async () => {
    const full = procs.get('full');
    if (full && full.exitCode === null && full.signalCode === null) {
      await down('full'); // the full-tunnel test failed before its own down
      await until(() => full.exitCode !== null, { timeout: 10_000, interval: 100, what: 'the full-tunnel client exits' });
    }
    await gatewayUp('gw-split');
    const client = up(CL_NS, 'split', clientFile('split', ['10.0.0.0/24'], { killSwitch: true }));
    await waitUp('split', 'split');
    const s = await status('split');
    expect(s.ikeSas.find((sa) => sa.state === 'ESTABLISHED')!.children[0]!.remoteTs).toEqual(['10.0.0.0/24']);
    expect(routeGet(GW_HOST)).toMatch(new RegExp(`dev ${TUN} .*src 10\\.3\\.0\\.1\\d`));
    expect(routeGet(OTHER)).toContain('dev eth0');
    expect(routeGet('203.0.113.9')).toContain(`via ${GW} dev eth0`);
    const p = await pingOnce(GW_HOST);
    expect(p.code, p.out).toBe(0);
    // outside the tunnel the kill switch drops: a split tunnel with killSwitch reaches only the chosen network
    const outside = await pingOnce(OTHER);
    expect(outside.code).not.toBe(0);

    await killed(client);
    expect(nftTables()).toContain(`table inet ${TABLE('split')}`); // nothing leaks while no daemon runs
    expect((await pingOnce(OTHER)).code).not.toBe(0);
    const again = up(CL_NS, 'split2', clientFile('split', ['10.0.0.0/24']));
    await waitUp('split', 'split2');
    expect(logOf('split2')).toContain(`removed the kill switch (nft table inet ${TABLE('split')}) a previous run left`);
    expect(nftTables()).not.toContain(TABLE('split'));
    expect((await status('split')).killSwitch).toBeUndefined();
    const clear = await pingOnce(OTHER);
    expect(clear.code, clear.out).toBe(0);
    const d = await down('split');
    expect(d.code, d.out + d.err).toBe(0);
    await until(() => again.exitCode !== null, { timeout: 10_000, interval: 100, what: 'the client exits' });

    // remote.ts 0.0.0.0/0 leaves the choice to the gateway: its pool announces 10.0.0.0/24, and only that is routed
    const base = clientFile('announced', ['0.0.0.0/0']);
    const announced = up(CL_NS, 'announced', { ...base, local: { ...base.local, id: 'split.example' } });
    await waitUp('announced', 'announced');
    const sa = (await status('announced')).ikeSas.find((x) => x.state === 'ESTABLISHED')!;
    expect(sa.vips).toMatchObject({ own: [expect.stringMatching(/^10\.3\.1\.1\d$/)], subnets: ['10.0.0.0/24'] });
    expect(sa.children[0]!.remoteTs).toEqual(['0.0.0.0/0']);
    expect(routeGet(GW_HOST)).toContain(`dev ${TUN}`);
    expect(routeGet(OTHER)).toContain('dev eth0');
    expect(routeGet('203.0.113.9')).toContain(`via ${GW} dev eth0`);
    expect((await pingOnce(GW_HOST)).code).toBe(0);
    const d2 = await down('announced');
    expect(d2.code, d2.out + d2.err).toBe(0);
    await until(() => announced.exitCode !== null, { timeout: 10_000, interval: 100, what: 'the client exits' });
  }, 90_000);
});
