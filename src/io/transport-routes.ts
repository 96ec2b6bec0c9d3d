// Transport mode routing (RFC 4301 §4.1: the SA protects the two hosts' own traffic): the
// protected address is the peer's own outer address, so a plain route into the TUN would
// also carry tsvpn's own IKE and ESP packets to the peer into the TUN (routing trap).
// Policy routing tells them apart, without touching the main table:
//   pref P    to <peer> ipproto udp sport <ike port>  lookup main   (tsvpn's IKE, RFC 7296 §2)
//   pref P    to <peer> ipproto udp sport 4500        lookup main   (NAT-T / ESP in UDP, RFC 3948 §2.1)
//   pref P    to <peer> ipproto esp                   lookup main   (raw ESP, RFC 4303, protocol 50)
//   pref P+1  to <peer>                               lookup T      (everything else)
//   table T:  <peer> dev <tun> [src <local>]
// P and T are fixed here and differ from strongSwan's 220 and from the main/local/default
// rules; several tunnels share them (each rule names its own peer). Exactly the rules and
// route added are recorded by applyIpSteps and removed by removeRoutes (routes.ts). Needs `ip rule ... ipproto/sport`
// (iproute2 and kernel 4.17 or later).
import { isIP } from 'node:net';
import { applyIpSteps, RouteError, type InstalledRoutes, type IpStep } from './routes.js';
import { parseIp } from '../wire/ip-text.js';
import { NAT_T_PORT } from '../wire/constants.js';

/** Priority of the exemption rules; the rule into TRANSPORT_TABLE is the next one. */
export const TRANSPORT_RULE_PREF = 7470;
/** The routing table holding the peers' host routes into the TUN devices. */
export const TRANSPORT_TABLE = 7470;

export interface TransportRoutePlan {
  /** The TUN device. */
  dev: string;
  /** The peer's outer address (an IP, never %any); also the only remote selector allowed. */
  peer: string;
  /** Remote selectors as CIDR; each must be the peer itself (host prefix). */
  remote: string[];
  /** The local IKE port (sport of tsvpn's IKE packets); 4500 is always exempt too. */
  ikePort: number;
  /** Preferred source for the route (the local outer address). */
  src?: string;
}

/**
 * Install the rules and the table route for one transport-mode peer. Synchronous. On failure
 * removes what it added and throws RouteError naming the ip command; a plan whose selectors
 * are not the peer itself throws before anything is changed.
 */
export function installTransportRoutes(plan: TransportRoutePlan): InstalledRoutes {
  if (!/^[^\s/]{1,15}$/.test(plan.dev)) throw new RouteError(`'${plan.dev}' is not a network device name`);
  const family = isIP(plan.peer);
  if (family !== 4 && family !== 6) throw new RouteError(`peer address '${plan.peer}' is not an IP address`);
  const hostLen = family === 4 ? 32 : 128;
  for (const r of plan.remote) {
    const [a, l] = r.split('/');
    if (!(isIP(a) === family && Number(l ?? hostLen) === hostLen && sameAddr(a, plan.peer))) {
      throw new RouteError(`transport mode: remote selector ${r} is not the peer's own address ${plan.peer}/${hostLen}`);
    }
  }
  if (!Number.isInteger(plan.ikePort) || plan.ikePort < 1 || plan.ikePort > 65535) throw new RouteError(`IKE port ${plan.ikePort} is not a port`);
  const src = plan.src && isIP(plan.src) === family ? ['src', plan.src] : [];
  const to = ['to', plan.peer];
  const ports = [...new Set([plan.ikePort, NAT_T_PORT])];
  const steps: IpStep[] = [];
  for (const p of ports) {
    const sel = [...to, 'ipproto', 'udp', 'sport', String(p)];
    steps.push(rule(family, sel, 'main', TRANSPORT_RULE_PREF, `tsvpn's UDP ${p} to the peer stays out of ${plan.dev}`));
  }
  steps.push(rule(family, [...to, 'ipproto', 'esp'], 'main', TRANSPORT_RULE_PREF, `tsvpn's ESP to the peer stays out of ${plan.dev}`));
  const host = `${plan.peer}/${hostLen}`;
  steps.push({
    family,
    add: ['route', 'add', host, 'dev', plan.dev, ...src, 'table', String(TRANSPORT_TABLE)],
    del: ['route', 'del', host, 'dev', plan.dev, 'table', String(TRANSPORT_TABLE)],
    item: `${host} dev ${plan.dev}${src.length ? ` src ${src[1]}` : ''} table ${TRANSPORT_TABLE}`,
  });
  steps.push(rule(family, to, String(TRANSPORT_TABLE), TRANSPORT_RULE_PREF + 1, `the rest to the peer goes into ${plan.dev}`));

  return applyIpSteps(steps);
}

function rule(family: 4 | 6, sel: string[], table: string, pref: number, why: string): IpStep {
  const tail = [...sel, 'lookup', table, 'pref', String(pref)];
  return { family, add: ['rule', 'add', ...tail], del: ['rule', 'del', ...tail], item: `rule pref ${pref} ${sel.join(' ')} lookup ${table} (${why})` };
}

function sameAddr(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  return !!x && !!y && x.length === y.length && x.every((v, i) => v === y[i]);
}
