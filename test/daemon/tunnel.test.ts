// Smoke test of two real daemons (root): each runs in its own network namespace as a child
// process; left initiates, right waits. A ping between the inner hosts crosses the tunnel,
// both control sockets report the Child SA and its counters, and `down` leaves no route,
// TUN device, control socket or process behind. The full suite is test/e2e (CLI helper).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/daemon/control.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { createTwoHosts, netnsSupport, nsExec, type LabHost } from '../../src/io/netns.js';
import { until } from './helpers/lab.js';

const ok = netnsSupport().ok;
const RUNNER = fileURLToPath(new URL('./helpers/run-daemon.ts', import.meta.url));

function peerJson(name: string, me: LabHost, other: LabHost, start: 'initiate' | 'wait', meTs: string, otherTs: string, extra: object = {}) {
  return {
    ...extra,
    name,
    local: { addr: me.outer, id: `${name}.example`, auth: 'psk', ts: [meTs] },
    remote: { addr: other.outer, id: '%any', auth: 'psk', ts: [otherTs] },
    psk: 'smoke-test-secret-0123456789',
    ike: { proposals: ['aes256gcm16-prfsha256-x25519'], dpd: '30s' },
    child: { proposals: ['aes256gcm16'] },
    start,
  };
}

describe.skipIf(!ok)('two daemons in namespaces (needs root and /dev/net/tun)', () => {
  it('carries a ping between the inner hosts and tears down cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-daemon-'));
    const ctl = join(dir, 'ctl');
    const hosts = createTwoHosts({ prefix: 'tsvd' });
    const procs: ChildProcess[] = [];
    const exits: Promise<number | null>[] = [];
    const logs = () => ['left', 'right'].map((n) => `--- ${n}\n${existsSync(join(dir, `${n}.log`)) ? readFileSync(join(dir, `${n}.log`), 'utf8') : ''}`).join('\n');
    try {
      const sides = [
        ['left', hosts.left, hosts.right, 'initiate', '203.0.113.1/32', '203.0.113.129/32'],
        ['right', hosts.right, hosts.left, 'wait', '203.0.113.129/32', '203.0.113.1/32'],
      ] as const;
      for (const [name, me, other, start, a, b] of [...sides].reverse()) {
        const file = join(dir, `${name}.json`);
        writeFileSync(file, JSON.stringify(peerJson(name, me, other, start, a, b)), { mode: 0o600 });
        const log = join(dir, `${name}.log`);
        const p = spawn('sh', ['-c', `exec ip netns exec ${me.ns} "${process.execPath}" --import tsx "${RUNNER}" "${file}" "${ctl}" >"${log}" 2>&1`]);
        procs.push(p);
        exits.push(new Promise((r) => p.once('exit', (c) => r(c))));
      }
      const status = async (name: string) => {
        const r = await controlRequest(join(ctl, `${name}.sock`), { cmd: 'status' });
        return r.ok ? (r.status as TunnelStatus) : undefined;
      };
      const installed = (s: TunnelStatus | undefined) => s?.ikeSas.some((sa) => sa.state === 'ESTABLISHED' && sa.children.some((c) => c.state === 'INSTALLED'));
      await until('both Child SAs', 30_000, async () => {
        const [l, r] = [await status('left'), await status('right')];
        return installed(l) && installed(r) ? true : undefined;
      }, logs);

      const ping = nsExec(hosts.left.ns, 'ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', '-I', hosts.left.inner, hosts.right.inner], { timeout: 15_000 });
      expect(ping.status, `${ping.stdout}\n${ping.stderr}\n${logs()}`).toBe(0);

      const l = (await status('left'))!;
      const child = l.ikeSas[0].children[0];
      expect(l.ikeSas[0].role).toBe('initiator');
      expect(child.remoteTs).toEqual(['203.0.113.129']);
      expect(child.packetsOut).toBeGreaterThanOrEqual(3);
      expect(child.packetsIn).toBeGreaterThanOrEqual(3);
      expect(l.encap).toBe('raw'); // no NAT between the namespaces: ESP over IP protocol 50
      expect(l.tun?.name).toBe('tsvpn-left');
      expect(JSON.stringify(l)).not.toContain('smoke-test-secret');
      expect(logs()).not.toContain('smoke-test-secret'); // debug-level logs included
      const r = (await status('right'))!;
      expect(r.ikeSas[0].role).toBe('responder');
      expect(r.ikeSas[0].children[0].packetsIn).toBeGreaterThanOrEqual(3);

      // routes steer the far inner host into the TUN while the tunnel is up
      expect(nsExec(hosts.left.ns, 'ip', ['route', 'get', hosts.right.inner]).stdout).toContain('tsvpn-left');

      expect(await controlRequest(join(ctl, 'left.sock'), { cmd: 'down' })).toEqual({ ok: true });
      expect(await exits[1]).toBe(0); // left (started second)
      expect(existsSync(join(ctl, 'left.sock'))).toBe(false);
      expect(nsExec(hosts.left.ns, 'ip', ['link', 'show', 'tsvpn-left']).status).not.toBe(0);
      expect(nsExec(hosts.left.ns, 'ip', ['route', 'get', hosts.right.inner]).stdout).not.toContain('tsvpn-left');
      // the Delete reached right: its Child SA is gone and its routes with it
      await until('right to drop the SA', 5_000, async () => ((await status('right'))?.ikeSas.length === 0 ? true : undefined), logs);
      expect(nsExec(hosts.right.ns, 'ip', ['route', 'get', hosts.left.inner]).stdout).not.toContain('tsvpn-right');
      expect(await controlRequest(join(ctl, 'right.sock'), { cmd: 'down' })).toEqual({ ok: true });
      expect(await exits[0]).toBe(0);
    } finally {
      for (const p of procs) if (p.exitCode === null && p.pid) spawnSync('kill', ['-TERM', String(p.pid)]);
      await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 4000))]);
      for (const p of procs) if (p.exitCode === null && p.pid) spawnSync('kill', ['-KILL', String(p.pid)]);
      hosts.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('with nobody answering, status names failure row F1 with its evidence, and down still works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-daemon-'));
    const ctl = join(dir, 'ctl');
    const hosts = createTwoHosts({ prefix: 'tsvd' });
    const log = join(dir, 'left.log');
    const logs = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
    let proc: ChildProcess | undefined;
    try {
      const file = join(dir, 'left.json');
      // fast retransmits: 0.2 s, two of them, then F1
      const peer = peerJson('left', hosts.left, hosts.right, 'initiate', '203.0.113.1/32', '203.0.113.129/32', { retransmit: { timeout: 0.2, base: 1, tries: 2 } });
      writeFileSync(file, JSON.stringify(peer), { mode: 0o600 });
      proc = spawn('sh', ['-c', `exec ip netns exec ${hosts.left.ns} "${process.execPath}" --import tsx "${RUNNER}" "${file}" "${ctl}" >"${log}" 2>&1`]);
      const exited = new Promise((r) => proc!.once('exit', (c) => r(c)));
      const sock = join(ctl, 'left.sock');
      const failed = await until('failure row F1', 20_000, async () => {
        const r = await controlRequest(sock, { cmd: 'status' });
        const st = r.ok ? (r.status as TunnelStatus) : undefined;
        return st?.lastFailure && !('pending' in (st.lastFailure.evidence as object)) ? st : undefined;
      }, logs);
      expect(failed.lastFailure).toMatchObject({ row: 'F1', evidence: { retransmits: 2, to: { addr: '198.51.100.2', port: 500 }, exchange: 'IKE_SA_INIT' } });
      expect(Date.parse(failed.lastFailure!.at)).not.toBeNaN();
      expect(logs()).toMatch(/F1: no response to IKE_SA_INIT/);
      expect(logs()).toMatch(/retrying in 30 s/);
      expect(await controlRequest(sock, { cmd: 'down' })).toEqual({ ok: true });
      expect(await exited).toBe(0);
      expect(existsSync(sock)).toBe(false);
    } finally {
      if (proc && proc.exitCode === null && proc.pid) spawnSync('kill', ['-KILL', String(proc.pid)]);
      hosts.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);

  it('answers a DF packet too big for the path with ICMP "fragmentation needed" naming the tunnel MTU (F7)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-daemon-'));
    const ctl = join(dir, 'ctl');
    const hosts = createTwoHosts({ prefix: 'tsvd' });
    const procs: ChildProcess[] = [];
    const exits: Promise<number | null>[] = [];
    const logs = () => ['left', 'right'].map((n) => `--- ${n}\n${existsSync(join(dir, `${n}.log`)) ? readFileSync(join(dir, `${n}.log`), 'utf8') : ''}`).join('\n');
    try {
      // left's TUN claims 1500, more than ESP in a 1500-byte path leaves for inner packets
      const sides = [
        ['right', hosts.right, hosts.left, 'wait', '203.0.113.129/32', '203.0.113.1/32', {}],
        ['left', hosts.left, hosts.right, 'initiate', '203.0.113.1/32', '203.0.113.129/32', { tun: { mtu: 1500 } }],
      ] as const;
      for (const [name, me, other, start, a, b, extra] of sides) {
        const file = join(dir, `${name}.json`);
        writeFileSync(file, JSON.stringify(peerJson(name, me, other, start, a, b, extra)), { mode: 0o600 });
        const p = spawn('sh', ['-c', `exec ip netns exec ${me.ns} "${process.execPath}" --import tsx "${RUNNER}" "${file}" "${ctl}" >"${join(dir, `${name}.log`)}" 2>&1`]);
        procs.push(p);
        exits.push(new Promise((r) => p.once('exit', (c) => r(c))));
      }
      const status = async (name: string) => {
        const r = await controlRequest(join(ctl, `${name}.sock`), { cmd: 'status' });
        return r.ok ? (r.status as TunnelStatus) : undefined;
      };
      await until('the tunnel', 30_000, async () => ((await status('left'))?.ikeSas[0]?.children.length ? true : undefined), logs);
      const l0 = (await status('left'))!;
      expect(l0.tun?.mtu).toBe(1500);
      // 1472 + 28 = 1500 bytes with DF set (-M do): over the 1438 that fits
      const ping = nsExec(hosts.left.ns, 'ping', ['-n', '-M', 'do', '-s', '1472', '-c', '2', '-i', '0.3', '-W', '1', '-I', hosts.left.inner, hosts.right.inner], { timeout: 15_000 });
      expect(`${ping.stdout}${ping.stderr}`, logs()).toMatch(/mtu ?= ?1438/i);
      const l = (await status('left'))!;
      expect(l.drops.outbound['icmp-too-big-sent']).toBeGreaterThanOrEqual(1);
      // and a packet that fits still goes through
      const small = nsExec(hosts.left.ns, 'ping', ['-n', '-M', 'do', '-s', '1410', '-c', '1', '-W', '2', '-I', hosts.left.inner, hosts.right.inner], { timeout: 15_000 });
      expect(small.status, `${small.stdout}${small.stderr}`).toBe(0);
    } finally {
      for (const p of procs) if (p.exitCode === null && p.pid) spawnSync('kill', ['-TERM', String(p.pid)]);
      await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 4000))]);
      for (const p of procs) if (p.exitCode === null && p.pid) spawnSync('kill', ['-KILL', String(p.pid)]);
      hosts.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
