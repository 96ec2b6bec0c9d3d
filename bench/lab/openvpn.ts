// The OpenVPN leg of the throughput bench: OpenVPN 2.6 (Debian's package) in each lab
// namespace, point-to-point over UDP 1194 between the outer addresses, TLS with a CA and two
// certificates made at run time (openvpn-certs.ts; right is the TLS server, left the
// client, each checks the other's extendedKeyUsage), ECDHE only (--dh none), data channel
// AES-256-GCM, DCO off (--disable-dco: the userspace datapath, as people run it without the
// kernel module), a tun device per end with its own /30, the far inner /25 routed into it.
// Up when both ends log "Initialization Sequence Completed"; stop() ends both processes
// (which removes their tun devices) and the temp directory with the keys.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabHost, TwoHosts } from '../../src/io/netns.js';
import { until } from '../../interop/lab/wait.js';
import { makeOpenvpnCerts } from './openvpn-certs.js';
import { BenchError, must, onCleanup, run, start, type Started } from './proc.js';
import { PathSkipped, type Leg } from './leg.js';

const PORT = 1194;
const CIPHER = 'AES-256-GCM';
export const OPENVPN_INSTALL = 'apt-get install -y --no-install-recommends openvpn';
// the tunnel's own point-to-point addresses (RFC 5737 TEST-NET-1), not used by the lab otherwise
const TUN_ADDR = { left: '192.0.2.1', right: '192.0.2.2' };

export async function startOpenvpn(h: TwoHosts, o: { leftNet: string; rightNet: string }): Promise<Leg> {
  const v = await run(undefined, 'openvpn', ['--version']); // exits 1 after printing the version
  if (v.code === 127) throw new PathSkipped(`openvpn was not found (${OPENVPN_INSTALL})`);
  const version = /OpenVPN \d+\.\d+\.\d+/.exec(v.stdout)?.[0] ?? 'OpenVPN';
  const tag = randomBytes(2).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-bench-ovpn-'));
  const procs: Started[] = [];
  const stop = onCleanup(`openvpn ${tag}`, async () => {
    await Promise.all(procs.map((p) => p.stop(3000)));
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const certs = await makeOpenvpnCerts(dir);
    const sides: { host: LabHost; peer: LabHost; dev: string; me: string; them: string; farNet: string; tls: string[] }[] = [
      { host: h.right, peer: h.left, dev: `ovb${tag}r`, me: TUN_ADDR.right, them: TUN_ADDR.left, farNet: o.leftNet,
        tls: ['--tls-server', '--dh', 'none', '--cert', certs.server.cert, '--key', certs.server.key, '--remote-cert-tls', 'client'] },
      { host: h.left, peer: h.right, dev: `ovb${tag}l`, me: TUN_ADDR.left, them: TUN_ADDR.right, farNet: o.rightNet,
        tls: ['--tls-client', '--cert', certs.client.cert, '--key', certs.client.key, '--remote-cert-tls', 'server'] },
    ];
    for (const s of sides) {
      procs.push(
        start(s.host.ns, 'openvpn', [
          '--dev-type', 'tun', '--dev', s.dev,
          '--proto', 'udp', '--local', s.host.outer, '--lport', String(PORT), '--remote', s.peer.outer, '--rport', String(PORT),
          '--ifconfig', s.me, s.them,
          '--ca', certs.ca, ...s.tls,
          '--data-ciphers', CIPHER,
          '--disable-dco',
          '--verb', '3',
        ]),
      );
    }
    for (const [i, s] of sides.entries()) {
      const p = procs[i]!;
      await until(
        () => {
          if (p.child.exitCode !== null) throw new BenchError(`openvpn ${s.dev} exited ${p.child.exitCode}: ${tail(p.output())}`);
          return p.output().includes('Initialization Sequence Completed');
        },
        { timeout: 20_000, interval: 100, what: `openvpn ${s.dev} in ${s.host.ns}: Initialization Sequence Completed` },
      );
      await must(s.host.ns, 'ip', ['route', 'add', s.farNet, 'dev', s.dev, 'src', s.host.inner]);
    }
    const left = procs[1]!.output();
    // 2.6 logs "Data Channel: cipher 'AES-256-GCM', ..." (and in p2p mode "P2P mode NCP negotiation result: ..., cipher=AES-256-GCM")
    const m = /Data Channel: cipher '([^']+)'|NCP negotiation result:.*cipher=([\w-]+)/.exec(left);
    const cipher = m?.[1] ?? m?.[2] ?? '?';
    if (cipher !== CIPHER) throw new BenchError(`openvpn negotiated data channel cipher ${cipher}, not ${CIPHER}`);
    const mtu = JSON.parse(await must(h.left.ns, 'ip', ['-j', 'link', 'show', 'dev', sides[1]!.dev])) as { mtu?: number }[];
    const carried = async (): Promise<number> => {
      // the left tun device's counters: what went into and came out of the tunnel
      const l = JSON.parse(await must(h.left.ns, 'ip', ['-j', '-s', 'link', 'show', 'dev', sides[1]!.dev])) as {
        stats64?: { rx?: { bytes?: number }; tx?: { bytes?: number } };
      }[];
      return (l[0]?.stats64?.rx?.bytes ?? 0) + (l[0]?.stats64?.tx?.bytes ?? 0);
    };
    const detail = `${version}, UDP ${PORT}, TLS (ECDSA P-256 certificates, ECDHE), data channel ${cipher}, DCO off, tun MTU ${mtu[0]?.mtu ?? '?'}`;
    return { detail, carried, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-6).join(' / ');
}
