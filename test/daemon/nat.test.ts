// Left behind a NAT (a third namespace masquerading with nftables, LAB.md), right waiting
// for anyone (remote %any). NAT-T must kick in (RFC 7296 §2.23: IKE floats to 4500, RFC 3948
// UDP-encapsulated ESP) and a ping must cross; status shows who is behind the NAT.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/daemon/control.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { delNs, ip, netnsSupport, nsExec } from '../../src/io/netns.js';
import { until } from './helpers/lab.js';

const ok = netnsSupport().ok && spawnSync('nft', ['--version']).status === 0;
const RUNNER = fileURLToPath(new URL('./helpers/run-daemon.ts', import.meta.url));

describe.skipIf(!ok)('NAT traversal between two daemons (needs root, /dev/net/tun and nft)', () => {
  it('floats to UDP 4500, encapsulates ESP and carries a ping', async () => {
    const tag = randomBytes(3).toString('hex');
    const [L, N, R] = ['l', 'n', 'r'].map((s) => `tsvdn-${s}-${tag}`);
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-nat-'));
    const ctl = join(dir, 'ctl');
    const procs: ChildProcess[] = [];
    const exits: Promise<number | null>[] = [];
    const logs = () => ['left', 'right'].map((n) => `--- ${n}\n${existsSync(join(dir, `${n}.log`)) ? readFileSync(join(dir, `${n}.log`), 'utf8') : ''}`).join('\n');
    try {
      for (const ns of [L, N, R]) ip(['netns', 'add', ns]);
      ip(['link', 'add', `tn${tag}a`, 'netns', L, 'type', 'veth', 'peer', 'name', `tn${tag}b`, 'netns', N]);
      ip(['link', 'add', `tn${tag}c`, 'netns', N, 'type', 'veth', 'peer', 'name', `tn${tag}d`, 'netns', R]);
      const up = (ns: string, dev: string, addr: string) => {
        ip(['addr', 'add', addr, 'dev', dev], ns);
        ip(['link', 'set', dev, 'up'], ns);
      };
      up(L, `tn${tag}a`, '192.0.2.2/24'); // private side
      up(N, `tn${tag}b`, '192.0.2.1/24');
      up(N, `tn${tag}c`, '198.51.100.1/24'); // the NAT's public address
      up(R, `tn${tag}d`, '198.51.100.2/24');
      for (const ns of [L, N, R]) ip(['link', 'set', 'lo', 'up'], ns);
      ip(['addr', 'add', '203.0.113.1/32', 'dev', 'lo'], L);
      ip(['addr', 'add', '203.0.113.129/32', 'dev', 'lo'], R);
      ip(['route', 'add', 'default', 'via', '192.0.2.1'], L);
      expect(nsExec(N, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']).status).toBe(0);
      const nft = nsExec(N, 'nft', ['-f', '-'], {
        input: `table ip nat {\n  chain post {\n    type nat hook postrouting priority 100;\n    oifname "tn${tag}c" masquerade\n  }\n}\n`,
      });
      expect(nft.status, String(nft.stderr)).toBe(0);

      const base = { psk: 'nat-test-secret-0123456789', ike: { proposals: ['aes128gcm16-prfsha256-x25519'] }, child: { proposals: ['aes128gcm16'] } };
      const peers = {
        right: { ...base, name: 'right', start: 'wait', local: { addr: '198.51.100.2', id: 'right.example', auth: 'psk', ts: ['203.0.113.129/32'] }, remote: { addr: '%any', id: '%any', auth: 'psk', ts: ['203.0.113.1/32'] } },
        left: { ...base, name: 'left', start: 'initiate', local: { addr: '192.0.2.2', id: 'left.example', auth: 'psk', ts: ['203.0.113.1/32'] }, remote: { addr: '198.51.100.2', id: 'right.example', auth: 'psk', ts: ['203.0.113.129/32'] } },
      };
      for (const [name, ns] of [['right', R], ['left', L]] as const) {
        const file = join(dir, `${name}.json`);
        writeFileSync(file, JSON.stringify(peers[name]), { mode: 0o600 });
        const p = spawn('sh', ['-c', `exec ip netns exec ${ns} "${process.execPath}" --import tsx "${RUNNER}" "${file}" "${ctl}" >"${join(dir, `${name}.log`)}" 2>&1`]);
        procs.push(p);
        exits.push(new Promise((r) => p.once('exit', (c) => r(c))));
      }
      const status = async (name: string) => {
        const r = await controlRequest(join(ctl, `${name}.sock`), { cmd: 'status' }).catch(() => undefined);
        return r?.ok ? (r.status as TunnelStatus) : undefined;
      };
      const inst = (s?: TunnelStatus) => s?.ikeSas.some((sa) => sa.children.some((c) => c.state === 'INSTALLED'));
      let [l, r] = await until('a tunnel through the NAT', 30_000, async () => {
        const both = [await status('left'), await status('right')] as const;
        return inst(both[0]) && inst(both[1]) ? both : undefined;
      }, logs);
      const ping = nsExec(L, 'ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', '-I', '203.0.113.1', '203.0.113.129'], { timeout: 15_000 });
      expect(ping.status, `${ping.stdout}\n${logs()}`).toBe(0);
      [l, r] = [await status('left'), await status('right')];
      expect(l!.ikeSas[0].nat).toEqual({ local: true, remote: false });
      expect(r!.ikeSas[0].nat).toEqual({ local: false, remote: true });
      expect(l!.ikeSas[0].local).toBe('192.0.2.2:4500'); // floated (RFC 7296 §2.23)
      expect(r!.ikeSas[0].remote).toMatch(/^198\.51\.100\.1:\d+$/); // the NAT's public address
      expect(l!.encap).toBe('udp');
      expect(r!.encap).toBe('udp');
      expect(r!.ikeSas[0].children[0].packetsIn).toBeGreaterThanOrEqual(3);
      for (const name of ['left', 'right']) expect(await controlRequest(join(ctl, `${name}.sock`), { cmd: 'down' })).toEqual({ ok: true });
      expect(await Promise.all(exits)).toEqual([0, 0]);
    } finally {
      for (const p of procs) if (p.exitCode === null && p.pid) spawnSync('kill', ['-KILL', String(p.pid)]);
      for (const ns of [L, N, R]) delNs(ns);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
