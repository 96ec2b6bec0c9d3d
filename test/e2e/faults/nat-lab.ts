// Two tsvpn daemons through a masquerading router (interop/lab/nat.ts, with random source
// ports) for the F8 fault tests, and the fault itself: the router forgets its NAT mappings
// (its public link goes down and up: the kernel drops the conntrack entries masqueraded
// through it, as a NAT reboot or a short UDP timeout does), so the inside host's next packet
// gets a new public port. Also a pinger that timestamps every reply, to measure how long
// traffic stopped. Left (inside, initiator) and right (outside, remote %any).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '../../../src/daemon/control.js';
import type { TunnelStatus } from '../../../src/daemon/status.js';
import { ip } from '../../../src/io/netns.js';
import { createNatLab, type NatLab } from '../../../interop/lab/nat.js';

const RUNNER = fileURLToPath(new URL('../../daemon/helpers/run-daemon.ts', import.meta.url));

export interface NatTunnel {
  lab: NatLab;
  status(name: 'left' | 'right'): Promise<TunnelStatus | undefined>;
  logs(): string;
  /** Both daemons down, the namespaces and files removed (also after a failure). */
  destroy(): Promise<void>;
}

/** Left (behind the NAT) initiates to right; `left` and `right` are merged into each peer.json. */
export async function startNatTunnel(o: { left?: object; right?: object } = {}): Promise<NatTunnel> {
  const lab = createNatLab({ prefix: 'tsvf8', randomPorts: true });
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-f8-'));
  const ctl = join(dir, 'ctl');
  const procs: ChildProcess[] = [];
  const base = { psk: 'f8-test-secret-0123456789abcdef', ike: { proposals: ['aes128gcm16-prfsha256-x25519'], dpd: '300s' }, child: { proposals: ['aes128gcm16'] } };
  const peers = {
    right: { ...base, name: 'right', start: 'wait', local: { addr: lab.outside.outer, id: 'right.example', auth: 'psk', ts: [`${lab.outside.inner}/32`] }, remote: { addr: '%any', id: '%any', auth: 'psk', ts: [`${lab.inside.inner}/32`] }, ...o.right },
    left: { ...base, name: 'left', start: 'initiate', local: { addr: lab.inside.outer, id: 'left.example', auth: 'psk', ts: [`${lab.inside.inner}/32`] }, remote: { addr: lab.outside.outer, id: 'right.example', auth: 'psk', ts: [`${lab.outside.inner}/32`] }, ...o.left },
  };
  const logs = (): string => ['left', 'right'].map((n) => `--- ${n}\n${existsSync(join(dir, `${n}.log`)) ? readFileSync(join(dir, `${n}.log`), 'utf8').split('\n').slice(-60).join('\n') : ''}`).join('\n');
  const destroy = async (): Promise<void> => {
    for (const name of ['left', 'right']) await controlRequest(join(ctl, `${name}.sock`), { cmd: 'down' }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    for (const p of procs) if (p.exitCode === null && p.pid) spawnSync('kill', ['-KILL', String(p.pid)]);
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const [name, ns] of [['right', lab.outside.ns], ['left', lab.inside.ns]] as const) {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(peers[name]), { mode: 0o600 });
      procs.push(spawn('sh', ['-c', `exec ip netns exec ${ns} "${process.execPath}" --import tsx "${RUNNER}" "${file}" "${ctl}" >"${join(dir, `${name}.log`)}" 2>&1`]));
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  const status = async (name: string): Promise<TunnelStatus | undefined> => {
    const r = await controlRequest(join(ctl, `${name}.sock`), { cmd: 'status' }).catch(() => undefined);
    return r?.ok ? (r.status as TunnelStatus) : undefined;
  };
  return { lab, status, logs, destroy };
}

/** The NAT forgets every mapping it made (link down/up on its public side); the next packet from inside gets a new random port. */
export function forgetMappings(lab: NatLab): void {
  ip(['link', 'set', 'wan0', 'down'], lab.router.ns);
  ip(['link', 'set', 'wan0', 'up'], lab.router.ns);
}

export interface Pinger {
  /** When each reply arrived (ms since the epoch, ping -D). */
  readonly replies: number[];
  /** The longest time without a reply after `since` (ms), up to now. */
  longestGapAfter(since: number): number;
  stop(): void;
}

/** A ping every `intervalMs` from `from` to `to` in `ns`, until stop(). */
export function pinger(ns: string, from: string, to: string, intervalMs = 10): Pinger {
  const p = spawn('ip', ['netns', 'exec', ns, 'ping', '-n', '-D', '-i', String(intervalMs / 1000), '-W', '1', '-I', from, to]);
  const replies: number[] = [];
  let rest = '';
  p.stdout.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      const m = /^\[(\d+\.\d+)\] \d+ bytes from/.exec(l);
      if (m) replies.push(Number(m[1]) * 1000);
    }
  });
  return {
    replies,
    longestGapAfter(since: number): number {
      const after = [since, ...replies.filter((t) => t > since), Date.now()];
      let gap = 0;
      for (let i = 1; i < after.length; i++) gap = Math.max(gap, after[i]! - after[i - 1]!);
      return gap;
    },
    stop: () => void p.kill('SIGINT'),
  };
}
