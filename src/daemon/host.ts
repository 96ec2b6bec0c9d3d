// What the daemon asks of the host before it starts: privileges, the TUN MTU for the path
// to the peer, and which local address routes into the tunnel should prefer as source.
import { existsSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { PeerConfig } from '../config/types.js';
import { bytesToIp, parseIp } from '../wire/ip-text.js';
import { outerMtu } from '../io/routes.js';
import { DaemonError } from './control.js';
import type { Logger } from './log.js';
import { deriveTunMtu } from './tun-mtu.js';

export const FALLBACK_OUTER_MTU = 1500; // Ethernet (RFC 894), when the route to the peer is unknown

/** Root and /dev/net/tun, checked before anything is opened. */
export function checkPrivileges(): void {
  if (process.getuid?.() !== 0) throw new DaemonError('tsvpn up needs root (or CAP_NET_ADMIN): it creates a TUN device, binds UDP 500/4500 and adds routes');
  if (!existsSync('/dev/net/tun')) throw new DaemonError('/dev/net/tun is missing: load the tun module (modprobe tun)');
}

/**
 * Route sources: for each family, an address of this machine inside local.ts (a selector that
 * is one address first, then the others in order), so the host's own traffic to the remote
 * network leaves through the tunnel with a source the peer's selectors accept. Loopback and
 * link-local addresses are never chosen. Empty when no local address is inside local.ts.
 */
export function routeSources(peer: PeerConfig, here: readonly string[] = hostAddresses()): string[] {
  const mine = here.map((a) => ({ text: a, bytes: parseIp(a) })).filter((a) => a.bytes && !LOOPBACK_OR_LINK_LOCAL.test(a.text));
  const single = peer.local.ts.filter((t) => Buffer.compare(t.startAddr, t.endAddr) === 0);
  const out: string[] = [];
  for (const ts of [...single, ...peer.local.ts.filter((t) => !single.includes(t))]) {
    const inside = mine.find((a) => a.bytes!.length === ts.startAddr.length && Buffer.compare(a.bytes!, ts.startAddr) >= 0 && Buffer.compare(a.bytes!, ts.endAddr) <= 0);
    if (inside && !out.some((o) => o.includes(':') === inside.text.includes(':'))) out.push(bytesToIp(inside.bytes!));
  }
  return out;
}

const LOOPBACK_OR_LINK_LOCAL = /^(127\.|::1$|fe[89ab][0-9a-f]:)/i;

/** Every address on this host's interfaces (in the daemon's namespace). */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address));
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
