// Restarts and fatal errors, with daemons in namespaces: an initiator that crashes and comes
// back gets a working tunnel again and the responder drops the IKE SA it replaced; a daemon
// whose TUN device is deleted under it goes down on its own with exit code 1.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTwoHosts, netnsSupport, nsExec, type LabHost, type TwoHosts } from '../../src/io/netns.js';
import { installed, runDaemon, until, type DaemonProc } from './helpers/lab.js';

const ok = netnsSupport().ok;

const peer = (name: string, me: LabHost, other: LabHost, start: 'initiate' | 'wait') => ({
  name,
  start,
  local: { addr: me.outer, id: `${name}.example`, auth: 'psk', ts: [`${me.inner}/32`] },
  remote: { addr: other.outer, id: '%any', auth: 'psk', ts: [`${other.inner}/32`] },
  psk: 'restart-test-secret-0123456789',
  ike: { proposals: ['aes256gcm16-prfsha256-x25519'] },
  child: { proposals: ['aes256gcm16'] },
  retransmit: { timeout: 0.5, base: 1.5, tries: 3 },
});

async function lab(fn: (hosts: TwoHosts, dir: string, procs: DaemonProc[], logs: () => string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-restart-'));
  const hosts = createTwoHosts({ prefix: 'tsvdr' });
  const procs: DaemonProc[] = [];
  const logs = () => procs.map((p) => `--- ${p.name}\n${p.log()}`).join('\n');
  try {
    await fn(hosts, dir, procs, logs);
  } finally {
    for (const p of procs) p.kill('KILL');
    await Promise.race([Promise.all(procs.map((p) => p.exited)), new Promise((r) => setTimeout(r, 3000))]);
    hosts.destroy();
    if (!process.env.TSVPN_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!ok)('restarts and fatal errors (needs root and /dev/net/tun)', () => {
  it('an initiator that crashed comes back, and the responder deletes the IKE SA it replaced', async () => {
    await lab(async (hosts, dir, procs, logs) => {
      const ctl = join(dir, 'ctl');
      const ping = () => nsExec(hosts.left.ns, 'ping', ['-n', '-c', '1', '-W', '1', '-I', hosts.left.inner, hosts.right.inner]).status === 0;
      const right = runDaemon(hosts.right.ns, peer('right', hosts.right, hosts.left, 'wait'), dir, ctl);
      procs.push(right);
      const leftPeer = peer('left', hosts.left, hosts.right, 'initiate');
      const left1 = runDaemon(hosts.left.ns, leftPeer, dir, ctl);
      procs.push(left1);
      await until('the tunnel', 30_000, async () => (installed(await left1.status()) ? true : undefined), logs);
      const first = (await right.status())!.ikeSas[0].remoteSpi;
      left1.kill('KILL');
      await left1.exited;
      const left2 = runDaemon(hosts.left.ns, leftPeer, dir, ctl);
      procs.push(left2);
      await until('the new tunnel', 30_000, async () => (installed(await left2.status()) ? true : undefined), logs);
      await until('a ping through it', 15_000, () => (ping() ? true : undefined), logs);
      // the old IKE SA on right is deleted (its Delete goes unanswered, then it times out)
      const st = await until('right to keep only the new IKE SA', 30_000, async () => {
        const s = await right.status();
        return s && s.ikeSas.length === 1 ? s : undefined;
      }, logs);
      expect(st.ikeSas[0].remoteSpi).not.toBe(first);
      expect(right.log()).toMatch(/the peer replaced IKE SA/);
      for (const p of [left2, right]) expect(await p.request('down')).toEqual({ ok: true });
      expect(await Promise.all([left2.exited, right.exited])).toEqual([0, 0]);
    });
  }, 150_000);

  it('goes down with exit code 1 when its TUN device is deleted, removing its control socket', async () => {
    await lab(async (hosts, dir, procs, logs) => {
      const ctl = join(dir, 'ctl');
      const left = runDaemon(hosts.left.ns, peer('left', hosts.left, hosts.right, 'wait'), dir, ctl);
      procs.push(left);
      await until('the daemon', 20_000, async () => ((await left.status())?.tun ? true : undefined), logs);
      expect(nsExec(hosts.left.ns, 'ip', ['link', 'del', 'tsvpn-left']).status).toBe(0);
      expect(await left.exited).toBe(1);
      expect(left.log()).toMatch(/fatal/);
      expect(existsSync(join(ctl, 'left.sock'))).toBe(false);
    });
  }, 60_000);
});
