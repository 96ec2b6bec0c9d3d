// Dead peer detection (RFC 7296 §2.4) and peer.json `dpdAction: "hold"`: when right dies
// without a word, left notices after `dpd` seconds of silence and unanswered liveness
// checks, drops the SA, keeps the remote prefix routed into its TUN, and the next packet
// there brings the tunnel back once right is running again. In tunnel mode and in transport
// mode, where the peer's own address goes into the TUN while tsvpn's IKE and ESP stay out.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTwoHosts, netnsSupport, nsExec, type LabHost } from '../../src/io/netns.js';
import { installed, runDaemon, until, type DaemonProc } from './helpers/lab.js';

const ok = netnsSupport().ok;

type Mode = 'tunnel' | 'transport';
const peer = (name: string, me: LabHost, other: LabHost, extra: object, mode: Mode) => ({
  name,
  local: { addr: me.outer, id: `${name}.example`, auth: 'psk', ts: [mode === 'tunnel' ? `${me.inner}/32` : 'dynamic'] },
  remote: { addr: other.outer, id: '%any', auth: 'psk', ts: [mode === 'tunnel' ? `${other.inner}/32` : 'dynamic'] },
  psk: 'dpd-test-secret-0123456789',
  ike: { proposals: ['aes256gcm16-prfsha256-x25519'], dpd: '1s' },
  child: { proposals: ['aes256gcm16'], mode },
  retransmit: { timeout: 0.3, base: 1, tries: 2 },
  ...extra,
});

describe.skipIf(!ok)('dead peer detection (needs root and /dev/net/tun)', () => {
  for (const mode of ['tunnel', 'transport'] as const) it(`dpdAction hold, ${mode} mode: the SA goes when the peer dies, and traffic brings it back`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvpn-dpd-'));
    const ctl = join(dir, 'ctl');
    const hosts = createTwoHosts({ prefix: 'tsvdd' });
    const procs: DaemonProc[] = [];
    const logs = () => procs.map((p) => `--- ${p.name}\n${p.log()}`).join('\n');
    // transport mode protects the hosts' own addresses (RFC 7296 §1.1.2)
    const [from, to] = mode === 'tunnel' ? [hosts.left.inner, hosts.right.inner] : [hosts.left.outer, hosts.right.outer];
    const ping = () => nsExec(hosts.left.ns, 'ping', ['-n', '-c', '1', '-W', '1', '-I', from, to]).status === 0;
    try {
      const rightPeer = peer('right', hosts.right, hosts.left, { start: 'wait' }, mode);
      procs.push(runDaemon(hosts.right.ns, rightPeer, dir, ctl));
      const left = runDaemon(hosts.left.ns, peer('left', hosts.left, hosts.right, { start: 'initiate', dpdAction: 'hold' }, mode), dir, ctl);
      procs.push(left);
      await until('the tunnel', 30_000, async () => (installed(await left.status()) ? true : undefined), logs);
      expect(ping()).toBe(true);

      procs[0].kill('KILL'); // right vanishes without a Delete
      await procs[0].exited;
      await until('left to declare the peer dead', 20_000, async () => ((await left.status())?.ikeSas.length === 0 ? true : undefined), logs);
      expect(left.log()).toMatch(/dead peer: dpdAction hold/);
      // status says why there is no IKE SA: the DPD requests that went unanswered (1 + 2 retransmits) and the last packet seen
      const dead = (await left.status())!.lastFailure;
      expect(dead).toMatchObject({ row: 'F1', evidence: { dpdRequestsUnanswered: 3, peer: `${hosts.right.outer}:500`, dpdAction: 'hold' } });
      expect(dead!.message).toMatch(new RegExp(`^peer ${hosts.right.outer}:500 declared dead: 3 DPD requests unanswered, last packet from it \\d+ s ago \\(dpdAction hold\\)$`));
      expect((dead!.evidence as { lastPacketAgoS: number }).lastPacketAgoS).toBeGreaterThanOrEqual(1); // dpd is 1s
      // the remote prefix still goes into the TUN (on-demand), with no SA behind it
      expect(nsExec(hosts.left.ns, 'ip', ['route', 'get', to]).stdout).toContain('tsvpn-left');
      if (mode === 'transport') {
        // ... while the IKE that will bring it back still leaves on the wire (policy rules, pref 7480)
        expect(nsExec(hosts.left.ns, 'ip', ['route', 'get', to, 'ipproto', 'udp', 'sport', '500']).stdout).not.toContain('tsvpn-left');
      }

      const right2 = runDaemon(hosts.right.ns, rightPeer, dir, ctl); // its stale control socket is replaced
      procs.push(right2);
      await until('right to listen again', 20_000, async () => ((await right2.status()) ? true : undefined), logs);
      // nothing but tunnel traffic springs the trap (the kernel's own IPv6 chatter into the TUN does not)
      expect(left.log()).not.toMatch(/hold: traffic for the tunnel/);
      await until('a ping through the re-established tunnel', 30_000, () => (ping() ? true : undefined), logs);
      expect(left.log()).toMatch(/hold: traffic for the tunnel, initiating/);
      expect(installed(await left.status())).toBe(true);

      for (const p of [left, right2]) expect(await p.request('down')).toEqual({ ok: true });
      expect(await Promise.all([left.exited, right2.exited])).toEqual([0, 0]);
    } finally {
      for (const p of procs) p.kill('KILL');
      await Promise.race([Promise.all(procs.map((p) => p.exited)), new Promise((r) => setTimeout(r, 3000))]);
      hosts.destroy();
      if (!process.env.TSVPN_KEEP) rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
