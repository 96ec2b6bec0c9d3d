// What the daemon asks of the host before it starts: privileges, the TUN MTU for the path
// to the peer, and which local address routes into the tunnel should prefer as source.
import { existsSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { PeerConfig } from '../config/types.js';
import { bytesToIp } from '../wire/ip-text.js';
import { outerMtu } from '../io/routes.js';
import { DaemonError } from './control.js';
import type { Logger } from './log.js';
import { deriveTunMtu } from './tun-mtu.js';

const FALLBACK_OUTER_MTU = 1500; // Ethernet (RFC 894), when the route to the peer is unknown

/** Root and /dev/net/tun, checked before anything is opened. */
export function checkPrivileges(): void {
  if (process.getuid?.() !== 0) throw new DaemonError('tsvpn up needs root (or CAP_NET_ADMIN): it creates a TUN device, binds UDP 500/4500 and adds routes');
  if (!existsSync('/dev/net/tun')) throw new DaemonError('/dev/net/tun is missing: load the tun module (modprobe tun)');
}

/** Route source: the only local selector, when it is one IPv4 host address of this machine. */
export function routeSource(peer: PeerConfig): string | undefined {
  if (peer.local.ts.length !== 1) return undefined;
  const ts = peer.local.ts[0];
  if (ts.startAddr.length !== 4 || !ts.startAddr.every((b, i) => b === ts.endAddr[i])) return undefined;
  const addr = bytesToIp(ts.startAddr);
  const here = Object.values(networkInterfaces()).some((l) => l?.some((a) => a.address === addr));
  return here ? addr : undefined;
}

/** The TUN MTU when peer.json gives none: from the route to the peer (tun-mtu.ts). */
export function tunMtuFor(peer: PeerConfig, log: Logger): number {
  let outer = FALLBACK_OUTER_MTU;
  if (peer.remote.addr !== '%any') {
    try {
      outer = outerMtu(peer.remote.addr);
    } catch (e) {
      log.warn('daemon', `outer MTU toward ${peer.remote.addr} unknown (${e instanceof Error ? e.message : String(e)}), assuming ${FALLBACK_OUTER_MTU}`);
    }
  }
  const innerV6 = [...peer.local.ts, ...peer.remote.ts].some((t) => t.startAddr.length === 16);
  return deriveTunMtu(outer, peer.child.proposals, { outerFamily: peer.local.addr.includes(':') ? 6 : 4, mode: peer.child.mode, innerV6 });
}

/**
 * Without IPv6 selectors in any connection, switch IPv6 off on the TUN: otherwise the kernel's own router
 * solicitations and MLD reports go into it and show up as 'no-policy' drops in status,
 * noise for an operator chasing failure row F5. Best effort.
 */
export function quietIpv6(dev: string, peers: readonly PeerConfig[], log: Logger): void {
  if (peers.some((peer) => [...peer.local.ts, ...peer.remote.ts].some((t) => t.startAddr.length === 16))) return;
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, '1');
  } catch (e) {
    log.debug('daemon', `IPv6 stays on for ${dev}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
