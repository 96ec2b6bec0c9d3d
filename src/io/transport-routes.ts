// Transport mode routing (RFC 4301 §4.1: the SA protects the two hosts' own traffic): the
// protected address is the peer's own outer address, so a plain route into the TUN would
// also carry tsvpn's own IKE and ESP packets to the peer into the TUN (routing trap). This
// is the tunnel scheme of routes.ts with the peer as the only prefix: its exemption rules
// (preference 7480) send tsvpn's IKE (RFC 7296 §2), NAT-T (RFC 3948 §2.1) and raw ESP
// (RFC 4303) to the peer through main, the rest to the peer goes through the tunnel table
// into the TUN, and the guard drops it if that route goes. Needs `ip rule ... ipproto/sport`
// (iproute2 and kernel 4.17 or later).
import { isIP } from 'node:net';
import { installRoutes, RouteError, type InstalledRoutes } from './routes.js';
import { parseIp } from '../wire/ip-text.js';

export interface TransportRoutePlan {
  /** The TUN device. */
  dev: string;
  /** The peer's outer address (an IP, never %any); also the only remote selector allowed. */
  peer: string;
  /** Remote selectors as CIDR; each must be the peer itself (host prefix). */
  remote: string[];
  /** The local IKE port (sport of tsvpn's IKE packets); 4500 is always exempt too. */
  ikePort: number;
  /** Preferred source for the route (the local outer address), or one per family. */
  src?: string | readonly string[];
}

/**
 * Install the rules and the table route for one transport-mode peer. Synchronous. On failure
 * removes what it added and throws RouteError naming the ip command; a plan whose selectors
 * are not the peer itself throws before anything is changed.
 */
export function installTransportRoutes(plan: TransportRoutePlan): InstalledRoutes {
  const family = isIP(plan.peer);
  if (family !== 4 && family !== 6) throw new RouteError(`peer address '${plan.peer}' is not an IP address`);
  const hostLen = family === 4 ? 32 : 128;
  for (const r of plan.remote) {
    const [a, l] = r.split('/');
    if (!(isIP(a) === family && Number(l ?? hostLen) === hostLen && sameAddr(a, plan.peer))) {
      throw new RouteError(`transport mode: remote selector ${r} is not the peer's own address ${plan.peer}/${hostLen}`);
    }
  }
  return installRoutes({ dev: plan.dev, remote: [`${plan.peer}/${hostLen}`], peer: plan.peer, src: plan.src, ikePort: plan.ikePort });
}

function sameAddr(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  return !!x && !!y && x.length === y.length && x.every((v, i) => v === y[i]);
}
