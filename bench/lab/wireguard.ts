// wireguard-go between the two lab hosts (LAB.md "wireguard-go as a comparison"): one
// `wireguard-go <ifname>` per namespace in the foreground, keys from `wg genkey`/`wg pubkey`,
// configured with `wg set`, MTU 1420, the far inner /25 routed into it. Its control sockets
// live in /var/run/wireguard, which all namespaces share, so every interface name carries
// a random tag. stop() ends both processes and removes their sockets and key files.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabHost, TwoHosts } from '../../src/io/netns.js';
import { until } from '../../interop/lab/wait.js';
import { BenchError, must, onCleanup, run, start, type Started } from './proc.js';

export interface WireguardPair {
  /** Interface names (left, right). */
  readonly ifnames: [string, string];
  readonly version: string;
  /** Bytes the left interface sent and received (`wg show <if> transfer`). */
  carried(): Promise<number>;
  stop(): Promise<void>;
}

const PORT = 51820;
const MTU = 1420;

/** Bring up wireguard-go on both hosts; `remote` prefixes are routed into the tunnel. */
export async function startWireguard(h: TwoHosts, o: { leftNet: string; rightNet: string }): Promise<WireguardPair> {
  const tag = randomBytes(3).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-bench-wg-'));
  const ifnames: [string, string] = [`wgb${tag}l`, `wgb${tag}r`];
  const procs: Started[] = [];
  const stop = onCleanup(`wireguard-go ${ifnames.join(' ')}`, async () => {
    await Promise.all(procs.map((p) => p.stop(2000)));
    for (const n of ifnames) rmSync(`/var/run/wireguard/${n}.sock`, { force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const v = await run(undefined, 'wireguard-go', ['--version']);
    if (v.code === 127) throw new BenchError('wireguard-go was not found (apt-get install wireguard-go wireguard-tools)');
    const version = v.stdout.trim().split('\n')[0] ?? 'wireguard-go';
    const keys = [];
    for (const side of ['l', 'r']) {
      const priv = (await must(undefined, 'wg', ['genkey'])).trim();
      const pub = (await must(undefined, 'wg', ['pubkey'], { input: `${priv}\n` })).trim();
      const file = join(dir, `${side}.key`);
      writeFileSync(file, `${priv}\n`, { mode: 0o600 });
      keys.push({ file, pub });
    }
    const sides: [LabHost, string, string][] = [
      [h.left, ifnames[0], o.rightNet],
      [h.right, ifnames[1], o.leftNet],
    ];
    for (const [host, ifname] of sides) {
      const p = start(host.ns, 'wireguard-go', [ifname], { WG_PROCESS_FOREGROUND: '1' });
      procs.push(p);
      await until(
        async () => {
          if (p.child.exitCode !== null) throw new BenchError(`wireguard-go ${ifname} exited: ${p.output().trim()}`);
          return (await run(host.ns, 'wg', ['show', ifname])).code === 0;
        },
        { timeout: 5000, what: `wireguard-go ${ifname} in ${host.ns}` },
      );
    }
    for (let i = 0; i < 2; i++) {
      const [host, ifname, farNet] = sides[i]!;
      const [peerHost] = sides[1 - i]!;
      await must(host.ns, 'wg', [
        'set', ifname,
        'private-key', keys[i]!.file,
        'listen-port', String(PORT),
        'peer', keys[1 - i]!.pub,
        'endpoint', `${peerHost.outer}:${PORT}`,
        'allowed-ips', farNet,
      ]);
      await must(host.ns, 'ip', ['link', 'set', ifname, 'mtu', String(MTU), 'up']);
      await must(host.ns, 'ip', ['route', 'add', farNet, 'dev', ifname, 'src', host.inner]);
    }
    const carried = async (): Promise<number> => {
      // one line per peer: "<public key>\t<received bytes>\t<sent bytes>"
      const out = await must(h.left.ns, 'wg', ['show', ifnames[0], 'transfer']);
      return out.split('\n').reduce((n, l) => n + l.split('\t').slice(1).reduce((m, v) => m + (Number(v) || 0), 0), 0);
    };
    return { ifnames, version, carried, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
