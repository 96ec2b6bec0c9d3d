// Issue 14 item 1, virtual IPs (RFC 7296 §2.19) between tsvpn ends: a gateway with a pool of
// three addresses and four remote-access clients, each in its own namespace (each routes the
// same gateway network) behind one bridge. Three get distinct addresses with the pool's DNS
// server, carry the address on their TUN and ping the gateway's network from it; the fourth
// gets INTERNAL_ADDRESS_FAILURE, reported on both ends, and the address of a client that went
// down once it tries again. The DNS server comes with the address: each client namespace has
// its own /etc/resolv.conf (`ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf), which
// holds the gateway's server while the tunnel is up and the original, byte for byte, after
// `down`, and after a SIGKILL once the next `tsvpn up` has started.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sleep, until } from '../../interop/lab/wait.js';
import { fetchStatus } from '../../src/cli/control-client.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { delNs, ip } from '../../src/io/netns.js';
import { labOk, nsRun, ping, TSVPN_BIN } from './helpers/lab.js';

const tag = Math.random().toString(16).slice(2, 8);
const GW_NS = `tsvip-g-${tag}`;
const clientNs = (i: number) => `tsvip-${i}-${tag}`;
const GW = '198.51.100.1';
const outer = (i: number) => `198.51.100.${10 + i}`;
const GW_HOST = '10.0.0.1';
const POOL = '10.3.0.10-10.3.0.12';
const PSK = 'road-warrior-secret-0123456789';
const CLIENTS = [1, 2, 3, 4];
/** Each client namespace's own resolver file, as `ip netns exec` mounts it over /etc/resolv.conf. */
const resolvOf = (i: number) => `/etc/netns/${clientNs(i)}/resolv.conf`;
const ORIGINAL_RESOLV = (i: number) => `# client ${i}'s own resolver\nnameserver 192.0.2.${i}\noptions edns0 trust-ad\n`;

const gatewayFile = {
  name: 'gw',
  secrets: { rw: { psk: PSK } },
  pools: { rw: { addrs: POOL, dns: ['10.0.0.53'] } },
  connections: {
    rw: {
      local: { addr: GW, id: 'gw.example', auth: 'psk', ts: ['10.0.0.0/24'] },
      remote: { addr: '%any', id: '%any', auth: 'psk', ts: ['10.3.0.0/24'] },
      psk: { secret: 'rw' },
      pools: ['rw'],
      ike: { proposals: ['aes256gcm16-prfsha256-x25519'] },
      child: { proposals: ['aes256gcm16'] },
      start: 'wait',
      dpdAction: 'clear',
    },
  },
};

const clientFile = (i: number) => ({
  name: `c${i}`,
  local: { addr: outer(i), id: `c${i}.example`, auth: 'psk', ts: ['dynamic'], vips: ['0.0.0.0'] },
  remote: { addr: GW, id: 'gw.example', auth: 'psk', ts: ['10.0.0.0/24'] },
  psk: PSK,
  ike: { proposals: ['aes256gcm16-prfsha256-x25519'] },
  child: { proposals: ['aes256gcm16'] },
  start: 'initiate',
  tun: { name: `tsvip${i}` },
});

describe.skipIf(!labOk)('virtual IPs: a tsvpn gateway with a pool of 3 and 4 tsvpn clients (needs root, namespaces, /dev/net/tun, ping)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-vip-'));
  const ctl = join(dir, 'ctl');
  const procs = new Map<string, ChildProcess>();

  function up(ns: string, name: string, body: object): void {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(body, null, 2), { mode: 0o600 });
    const fd = openSync(join(dir, `${name}.log`), 'a', 0o600);
    procs.set(name, spawn('ip', ['netns', 'exec', ns, process.execPath, TSVPN_BIN, 'up', file, '-v'], { stdio: ['ignore', fd, fd], env: { ...process.env, TSVPN_CONTROL_DIR: ctl } }));
    closeSync(fd);
  }
  const status = (name: string): Promise<TunnelStatus> => fetchStatus(ctl, name);
  const logOf = (name: string) => readFileSync(join(dir, `${name}.log`), 'utf8');
  const ownVip = (s: TunnelStatus) => s.ikeSas.find((sa) => sa.state === 'ESTABLISHED')?.vips?.own?.[0];
  const childUp = (s: TunnelStatus | undefined) => !!s && s.ikeSas.some((sa) => sa.state === 'ESTABLISHED' && sa.children.some((c) => c.state === 'INSTALLED'));

  beforeAll(async () => {
    ip(['netns', 'add', GW_NS]);
    ip(['link', 'set', 'lo', 'up'], GW_NS);
    ip(['link', 'add', 'br0', 'type', 'bridge'], GW_NS);
    ip(['link', 'set', 'br0', 'up'], GW_NS);
    ip(['addr', 'add', `${GW}/24`, 'dev', 'br0'], GW_NS);
    ip(['addr', 'add', `${GW_HOST}/32`, 'dev', 'lo'], GW_NS);
    for (const i of CLIENTS) {
      const ns = clientNs(i);
      ip(['netns', 'add', ns]);
      ip(['link', 'add', `vg${i}${tag}`, 'netns', GW_NS, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['link', 'set', `vg${i}${tag}`, 'master', 'br0', 'up'], GW_NS);
      ip(['link', 'set', 'lo', 'up'], ns);
      ip(['link', 'set', 'eth0', 'up'], ns);
      ip(['addr', 'add', `${outer(i)}/24`, 'dev', 'eth0'], ns);
      mkdirSync(`/etc/netns/${ns}`, { recursive: true });
      writeFileSync(resolvOf(i), ORIGINAL_RESOLV(i));
    }
    up(GW_NS, 'gw', gatewayFile);
    await until(async () => (await status('gw').catch(() => undefined)) !== undefined, { timeout: 15_000, interval: 100, what: 'the gateway daemon' });
  }, 60_000);

  afterAll(async () => {
    for (const p of procs.values()) p.kill('SIGTERM');
    await sleep(2500);
    for (const p of procs.values()) if (p.exitCode === null) p.kill('SIGKILL');
    delNs(GW_NS);
    for (const i of CLIENTS) {
      delNs(clientNs(i));
      rmSync(`/etc/netns/${clientNs(i)}`, { recursive: true, force: true });
    }
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('three clients get distinct addresses of the pool and its DNS server, carry them on their TUN, and reach the gateway network from them', async () => {
    for (const i of [1, 2, 3]) {
      up(clientNs(i), `c${i}`, clientFile(i));
      // one at a time: the lease order is then the clients' order
      await until(async () => childUp(await status(`c${i}`).catch(() => undefined)), { timeout: 20_000, interval: 200, what: `c${i} up` }).catch((e) => {
        throw new Error(`${(e as Error).message}\n--- c${i} ---\n${logOf(`c${i}`).slice(-3000)}\n--- gw ---\n${logOf('gw').slice(-3000)}`);
      });
    }
    const vips: string[] = [];
    for (const i of [1, 2, 3]) {
      const s = await status(`c${i}`);
      const sa = s.ikeSas.find((x) => x.state === 'ESTABLISHED')!;
      expect(sa.vips).toEqual({ own: [`10.3.0.${9 + i}`], dns: ['10.0.0.53'] });
      expect(sa.children[0]!.localTs).toEqual([`10.3.0.${9 + i}`]); // the client's side is its address alone
      vips.push(ownVip(s)!);
      expect(ip(['-o', 'addr', 'show', 'dev', `tsvip${i}`], clientNs(i))).toContain(`inet 10.3.0.${9 + i}/32`);
    }
    const gw = await status('gw');
    expect(gw.ikeSas.filter((sa) => sa.state === 'ESTABLISHED').map((sa) => [sa.remoteId, sa.vips?.leased?.[0]]).sort()).toEqual([1, 2, 3].map((i) => [`c${i}.example`, `10.3.0.${9 + i}`]));
    expect(gw.pools).toEqual([{ name: 'rw', addrs: POOL, size: 3, online: 3, offline: 0 }]);
    const pings = await Promise.all([1, 2, 3].map((i) => ping(clientNs(i), vips[i - 1]!, GW_HOST, ['-c', '2', '-W', '2'])));
    pings.forEach((p, k) => expect(p.code, `c${k + 1}: ${p.out}`).toBe(0));
    // the host's own traffic leaves from the virtual IP (the routes' source), no -I needed
    const plain = await nsRun(clientNs(1), 'ping', ['-c', '1', '-W', '2', GW_HOST]);
    expect(plain.code, plain.out).toBe(0);
    // the DNS server is the clients' resolver while the tunnel is up; the original is kept beside the control socket
    for (const i of [1, 2, 3]) {
      expect(readFileSync(resolvOf(i), 'utf8'), `c${i}`).toMatch(/^# written by tsvpn: .*\nnameserver 10\.0\.0\.53\n$/);
      expect(readFileSync(join(ctl, `c${i}.resolv.conf`), 'utf8')).toBe(ORIGINAL_RESOLV(i));
    }
    const text = await nsRun(GW_NS, process.execPath, [TSVPN_BIN, 'status', 'gw'], 15_000, { TSVPN_CONTROL_DIR: ctl });
    expect(text.out).toContain('  virtual IP 10.3.0.10 leased to the peer');
    expect(text.out).toContain(`pool rw ${POOL}: 3 of 3 addresses online, 0 kept for peers gone`);
  }, 90_000);

  it('a fourth client finds the pool used up: INTERNAL_ADDRESS_FAILURE, F4 on both ends, and no Child SA', async () => {
    up(clientNs(4), 'c4', clientFile(4));
    await until(async () => (await status('c4').catch(() => undefined))?.lastFailure?.row === 'F4', { timeout: 20_000, interval: 200, what: 'F4 on c4' });
    const c4 = await status('c4');
    expect(c4.lastFailure).toMatchObject({ row: 'F4', message: expect.stringContaining('INTERNAL_ADDRESS_FAILURE'), evidence: { notify: 'INTERNAL_ADDRESS_FAILURE' } });
    expect(childUp(c4)).toBe(false);
    expect(ownVip(c4)).toBeUndefined();
    const gw = await status('gw');
    const rw = gw.connections.find((c) => c.name === 'rw')!;
    expect(rw.lastFailure).toMatchObject({ row: 'F4', message: `no virtual IP for c4.example: every address is leased (rw ${POOL}: 3 of 3 online)` });
    expect(gw.pools![0]).toMatchObject({ online: 3 });
  }, 60_000);

  it('a client that goes down frees its address: the fourth gets it when it connects again', async () => {
    const down = await nsRun(clientNs(1), process.execPath, [TSVPN_BIN, 'down', 'c1'], 15_000, { TSVPN_CONTROL_DIR: ctl });
    expect(down.code, down.out).toBe(0);
    expect(readFileSync(resolvOf(1), 'utf8')).toBe(ORIGINAL_RESOLV(1)); // byte for byte
    expect(existsSync(join(ctl, 'c1.resolv.conf'))).toBe(false);
    await until(async () => (await status('gw')).pools![0]!.online === 2, { timeout: 10_000, interval: 200, what: 'c1\'s address offline' });
    expect((await status('gw')).pools![0]).toMatchObject({ online: 2, offline: 1 });
    // c4 connects afresh (its F4 retry would come only after 30 s)
    await nsRun(clientNs(4), process.execPath, [TSVPN_BIN, 'down', 'c4'], 15_000, { TSVPN_CONTROL_DIR: ctl });
    up(clientNs(4), 'c4b', { ...clientFile(4), name: 'c4b' });
    await until(async () => childUp(await status('c4b').catch(() => undefined)), { timeout: 20_000, interval: 200, what: 'c4 up again' });
    expect(ownVip(await status('c4b'))).toBe('10.3.0.10');
    const p = await ping(clientNs(4), '10.3.0.10', GW_HOST, ['-c', '2', '-W', '2']);
    expect(p.code, p.out).toBe(0);
  }, 60_000);

  it('a client killed with SIGKILL leaves its DNS server in place; the next tsvpn up puts the original back first, and down leaves it as it was', async () => {
    expect(readFileSync(resolvOf(2), 'utf8')).toContain('nameserver 10.0.0.53');
    procs.get('c2')!.kill('SIGKILL');
    await until(() => procs.get('c2')!.exitCode !== null || procs.get('c2')!.signalCode !== null, { timeout: 5000, interval: 50, what: 'c2 killed' });
    expect(readFileSync(resolvOf(2), 'utf8')).toContain('nameserver 10.0.0.53'); // nobody restored it
    up(clientNs(2), 'c2b', { ...clientFile(2), name: 'c2' });
    await until(async () => childUp(await status('c2').catch(() => undefined)), { timeout: 20_000, interval: 200, what: 'c2 up again' });
    expect(logOf('c2b')).toContain('restored /etc/resolv.conf, which a previous run left holding a gateway\'s DNS servers');
    expect(readFileSync(resolvOf(2), 'utf8')).toContain('nameserver 10.0.0.53'); // and its own again
    const down = await nsRun(clientNs(2), process.execPath, [TSVPN_BIN, 'down', 'c2'], 15_000, { TSVPN_CONTROL_DIR: ctl });
    expect(down.code, down.out).toBe(0);
    expect(readFileSync(resolvOf(2), 'utf8')).toBe(ORIGINAL_RESOLV(2));
  }, 60_000);
});
