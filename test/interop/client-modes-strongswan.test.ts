// Issue 14 items 2 and 3 against strongSwan 5.9.8: a tsvpn road-warrior client (`local.vips`)
// and a charon gateway with a pool and a DNS server, in three shapes of tunnel, each checked
// with `ip route get` in the client's namespace (which has a default route of its own on the
// outer link):
// - full: both sides 0.0.0.0/0; everything goes into the TUN from the virtual IP, the client's
//   own default route stays in main, the gateway network answers, DNS is applied while up;
// - split by narrowing: the client asks for 0.0.0.0/0, charon protects 10.0.0.0/24 and narrows
//   the Child SA to it (RFC 7296 §2.9): only that network goes into the TUN;
// - split by announcement: charon protects 0.0.0.0/0 but its pool announces `subnet`
//   (INTERNAL_IP4_SUBNET, RFC 7296 §3.15.2): only the announced network goes into the TUN.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startStrongswan, strongswanSupport, type Strongswan } from '../../interop/lab/strongswan.js';
import { swanctlConf } from '../../interop/lab/swanctl-conf.js';
import { until } from '../../interop/lab/wait.js';
import { fetchStatus } from '../../src/cli/control-client.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { delNs, ip, netnsSupport } from '../../src/io/netns.js';
import { nsRun, TSVPN_BIN } from '../e2e/helpers/lab.js';

const reasons = [netnsSupport(), strongswanSupport()].flatMap((s) => (s.ok ? [] : [s.why]));
const ok = reasons.length === 0;

const tag = Math.random().toString(16).slice(2, 8);
const SG_NS = `tscm-g-${tag}`;
const CL_NS = `tscm-c-${tag}`;
const SG = '198.51.100.2';
const CL = '198.51.100.3';
const GW_HOST = '10.0.0.1';
const ELSEWHERE = '203.0.113.9';
const DNS = '10.0.0.53';
const PSK = 'road-warrior-secret-0123456789';
const PROPOSAL = 'aes256gcm16-prfsha256-x25519';
const TUN = 'tscm0';
const ORIGINAL_RESOLV = 'nameserver 192.0.2.99\n';

const tail = (text: string, n: number) => text.split('\n').slice(-n).join('\n');

describe.skipIf(!ok)(`a tsvpn road-warrior client against a strongSwan gateway: full and split tunnel ${ok ? '(needs root, netns, strongSwan)' : `(skipped: ${reasons.join('; ')})`}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-cm-'));
  const ctl = join(dir, 'ctl');
  let charon: Strongswan | undefined;
  let client: ChildProcess | undefined;
  let run = '';
  const clientLog = () => readFileSync(join(dir, `${run}.log`), 'utf8');
  const why = () => `--- tsvpn client ---\n${tail(clientLog(), 30)}\n--- charon gateway ---\n${tail(charon?.log() ?? '', 30)}`;
  const routeGet = (to: string) => ip(['route', 'get', to], CL_NS);

  /** charon's connection for this shape: what it protects, and the pool's attributes. */
  const gatewayConf = (pool: string, localTs: string[], subnet?: string[]) =>
    swanctlConf({
      name: 'rw',
      localAddrs: SG,
      remoteAddrs: '%any',
      proposals: [PROPOSAL],
      pools: { [pool]: { addrs: '10.4.0.0/28', dns: [DNS], ...(subnet ? { subnet } : {}) } },
      local: { auth: 'psk', id: 'gw.example' },
      remote: { auth: 'psk', id: 'client.example' },
      child: { name: 'net', localTs, remoteTs: ['dynamic'], espProposals: ['aes256gcm16'] },
      psk: PSK,
    });

  /** `tsvpn up` of a client asking for remote.ts, until its Child SA is installed. */
  async function clientUp(name: string, remoteTs: string[]): Promise<NonNullable<TunnelStatus['ikeSas'][number]>> {
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
    client = spawn('ip', ['netns', 'exec', CL_NS, process.execPath, TSVPN_BIN, 'up', file, '-v'], { stdio: ['ignore', fd, fd], env: { ...process.env, TSVPN_CONTROL_DIR: ctl } });
    closeSync(fd);
    const up = (s: TunnelStatus | undefined) => s?.ikeSas.find((sa) => sa.state === 'ESTABLISHED' && sa.children.some((c) => c.state === 'INSTALLED'));
    await until(async () => up(await fetchStatus(ctl, 'client').catch(() => undefined)), { timeout: 20_000, interval: 200, what: `the ${name} client up` }).catch((e) => {
      throw new Error(`${(e as Error).message}\n${why()}`);
    });
    return up(await fetchStatus(ctl, 'client'))!;
  }

  async function clientDown(): Promise<void> {
    const c = client!;
    const down = await nsRun(CL_NS, process.execPath, [TSVPN_BIN, 'down', 'client'], 15_000, { TSVPN_CONTROL_DIR: ctl });
    expect(down.code, down.out + down.err).toBe(0);
    await until(() => c.exitCode !== null, { timeout: 10_000, interval: 100, what: 'the client exits' });
    await until(() => charon!.listSas().length === 0, { timeout: 10_000, interval: 200, what: 'charon without IKE SAs' });
  }

  beforeAll(async () => {
    for (const n of [SG_NS, CL_NS]) {
      ip(['netns', 'add', n]);
      ip(['link', 'set', 'lo', 'up'], n);
    }
    ip(['link', 'add', 'eth0', 'netns', SG_NS, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', CL_NS]);
    ip(['addr', 'add', `${SG}/24`, 'dev', 'eth0'], SG_NS);
    ip(['addr', 'add', `${CL}/24`, 'dev', 'eth0'], CL_NS);
    for (const n of [SG_NS, CL_NS]) ip(['link', 'set', 'eth0', 'up'], n);
    ip(['route', 'add', 'default', 'via', SG, 'dev', 'eth0'], CL_NS);
    ip(['addr', 'add', `${GW_HOST}/32`, 'dev', 'lo'], SG_NS);
    // the client's own resolver file (`ip netns exec` mounts it over /etc/resolv.conf)
    mkdirSync(`/etc/netns/${CL_NS}`, { recursive: true });
    writeFileSync(`/etc/netns/${CL_NS}/resolv.conf`, ORIGINAL_RESOLV);
    charon = await startStrongswan({ ns: SG_NS, name: 'sgw-cm', conf: gatewayConf('full', ['0.0.0.0/0']) });
  }, 60_000);

  afterAll(async () => {
    await charon?.stop();
    if (client && client.exitCode === null) {
      client.kill('SIGTERM');
      await until(() => client!.exitCode !== null || client!.signalCode !== null, { timeout: 3000, interval: 100, what: 'the client to exit' }).catch(() => client!.kill('SIGKILL'));
    }
    delNs(SG_NS);
    delNs(CL_NS);
    rmSync(`/etc/netns/${CL_NS}`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('full tunnel: everything into the TUN from the virtual IP, the client\'s own default route kept, DNS applied while up', async () => {
    const sa = await clientUp('full', ['0.0.0.0/0']);
    const vip = sa.vips!.own![0]!;
    expect(vip, why()).toMatch(/^10\.4\.0\.\d+$/);
    expect(sa.children[0]!.remoteTs).toEqual(['0.0.0.0/0']);
    for (const to of [GW_HOST, ELSEWHERE]) expect(routeGet(to), to).toMatch(new RegExp(`dev ${TUN} .*src ${vip.replace(/\./g, '\\.')}`));
    expect(ip(['route', 'show', 'default'], CL_NS)).toContain(`default via ${SG} dev eth0`);
    expect(ip(['route', 'get', SG, 'ipproto', 'udp', 'sport', '4500'], CL_NS)).toContain('dev eth0'); // tsvpn's own NAT-T/ESP in UDP to charon
    const p = await nsRun(CL_NS, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', GW_HOST]);
    expect(p.code, `${p.out}\n${why()}`).toBe(0);
    expect(readFileSync(`/etc/netns/${CL_NS}/resolv.conf`, 'utf8')).toContain(`nameserver ${DNS}\n`);
    await clientDown();
    expect(readFileSync(`/etc/netns/${CL_NS}/resolv.conf`, 'utf8')).toBe(ORIGINAL_RESOLV);
    expect(routeGet(ELSEWHERE)).toContain(`via ${SG} dev eth0`);
  }, 60_000);

  it('split by narrowing: charon protects 10.0.0.0/24 only, so only it goes into the TUN', async () => {
    const loaded = charon!.load(gatewayConf('narrow', ['10.0.0.0/24']));
    expect(loaded.ok, loaded.output).toBe(true);
    const sa = await clientUp('narrow', ['0.0.0.0/0']);
    expect(sa.children[0]!.remoteTs).toEqual(['10.0.0.0/24']);
    expect(routeGet(GW_HOST)).toContain(`dev ${TUN}`);
    expect(routeGet(ELSEWHERE)).toContain(`via ${SG} dev eth0`);
    expect(ip(['route', 'show', 'table', '7481'], CL_NS).trim().split('\n')).toEqual([expect.stringMatching(/^10\.0\.0\.0\/24 dev tscm0 /)]);
    const p = await nsRun(CL_NS, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', GW_HOST]);
    expect(p.code, `${p.out}\n${why()}`).toBe(0);
    await clientDown();
  }, 60_000);

  it('split by announcement: charon protects everything but announces 10.0.0.0/24 (INTERNAL_IP4_SUBNET): only it goes into the TUN', async () => {
    const loaded = charon!.load(gatewayConf('announced', ['0.0.0.0/0'], ['10.0.0.0/24']));
    expect(loaded.ok, loaded.output).toBe(true);
    const sa = await clientUp('announced', ['0.0.0.0/0']);
    expect(sa.children[0]!.remoteTs).toEqual(['0.0.0.0/0']);
    expect(sa.vips?.subnets, why()).toEqual(['10.0.0.0/24']);
    expect(routeGet(GW_HOST)).toContain(`dev ${TUN}`);
    expect(routeGet(ELSEWHERE)).toContain(`via ${SG} dev eth0`);
    expect(clientLog()).toContain('routing 10.0.0.0/24 of 0.0.0.0/0: the subnets the gateway announced');
    const p = await nsRun(CL_NS, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', GW_HOST]);
    expect(p.code, `${p.out}\n${why()}`).toBe(0);
    await clientDown();
  }, 60_000);
});
