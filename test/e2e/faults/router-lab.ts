// A router between the two lab hosts (failure map F7): left -- 1500 -- router -- <farMtu> --
// right, the way a lower-MTU link sits in a real path. Optionally the router drops the ICMP
// "fragmentation needed" it would send (nftables), which is what makes the link a black hole
// (RFC 2923 §2.1). The hosts keep their outer addresses (the tunnel's peer.json names them),
// each as a /32 routed through the router. destroy() removes the router namespace; the hosts'
// ends go with the lab pair.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';

import { delNs, ip, nsExec, type TwoHosts } from '../../../src/io/netns.js';

export interface Router {
  ns: string;
  /** The router's address on the left host's link: the source of the ICMP it sends. */
  near: string;
  /** Mid-tunnel: the link to the right host becomes `mtu` octets (both ends), and, if asked, the router drops its frag-needed. */
  narrow(mtu: number, dropFragNeeded: boolean): void;
  destroy(): void;
}

export interface RouterOptions {
  /** MTU of the router's link to the right host (and of the right host's end). */
  farMtu: number;
  /** Drop the ICMP "fragmentation needed" the router sends (nftables, output hook). */
  dropFragNeeded: boolean;
}

const NEAR = '10.99.1.1';
const FAR = '10.99.2.1';

/** Re-plumbs `hosts` (before the tunnels start) so their traffic crosses a router. */
export function insertRouter(hosts: TwoHosts, o: RouterOptions): Router {
  const tag = randomBytes(3).toString('hex');
  const ns = `tsvpn-rt-${tag}`;
  const destroy = () => delNs(ns);
  try {
    ip(['netns', 'add', ns]);
    // the hosts' own veth pair goes: each gets a link to the router instead
    ip(['link', 'del', hosts.left.dev], hosts.left.ns);
    const links = [
      { host: hosts.left, mine: 'r0', addr: NEAR, mtu: 1500 },
      { host: hosts.right, mine: 'r1', addr: FAR, mtu: o.farMtu },
    ];
    for (const l of links) {
      const a = `tr${tag}${l.mine}`;
      ip(['link', 'add', a, 'netns', ns, 'type', 'veth', 'peer', 'name', l.host.dev, 'netns', l.host.ns]);
      ip(['link', 'set', a, 'name', l.mine], ns);
      ip(['link', 'set', l.mine, 'mtu', String(l.mtu)], ns);
      ip(['addr', 'add', `${l.addr}/24`, 'dev', l.mine], ns);
      ip(['link', 'set', l.mine, 'up'], ns);
      ip(['route', 'add', `${l.host.outer}/32`, 'dev', l.mine], ns);
      const h = l.host.ns;
      ip(['link', 'set', l.host.dev, 'mtu', String(l.mtu)], h);
      ip(['addr', 'add', `${l.host.outer}/32`, 'dev', l.host.dev], h);
      ip(['link', 'set', l.host.dev, 'up'], h);
      ip(['route', 'add', `${l.addr}/32`, 'dev', l.host.dev], h);
      const other = l.host === hosts.left ? hosts.right.outer : hosts.left.outer;
      ip(['route', 'add', `${other}/32`, 'via', l.addr, 'dev', l.host.dev, 'src', l.host.outer], h);
    }
    ip(['link', 'set', 'lo', 'up'], ns);
    const fwd = nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    if (fwd.status !== 0) throw new Error(`router: ip_forward: ${fwd.stderr}`);
    if (o.dropFragNeeded) dropFragNeeded(ns);
  } catch (e) {
    destroy();
    throw e;
  }
  const narrow = (mtu: number, drop: boolean): void => {
    ip(['link', 'set', 'r1', 'mtu', String(mtu)], ns);
    ip(['link', 'set', hosts.right.dev, 'mtu', String(mtu)], hosts.right.ns);
    if (drop) dropFragNeeded(ns);
  };
  return { ns, near: NEAR, narrow, destroy };
}

/** nftables on the router: the ICMP frag-needed it would send back (output), and any it would forward, are dropped and counted. */
function dropFragNeeded(ns: string): void {
  const rules = [
    'add table inet f7',
    'add chain inet f7 output_icmp { type filter hook output priority 0; }',
    'add chain inet f7 forward_icmp { type filter hook forward priority 0; }',
    'add rule inet f7 output_icmp icmp type destination-unreachable icmp code frag-needed counter drop',
    'add rule inet f7 forward_icmp icmp type destination-unreachable icmp code frag-needed counter drop',
  ].join('\n');
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`router: nft: ${r.stderr}`);
}

/** Packets the router's nftables rules dropped (the ICMP it did not send). */
export function droppedFragNeeded(r: Router): number {
  const out = nsExec(r.ns, 'nft', ['list', 'table', 'inet', 'f7']).stdout ?? '';
  return [...String(out).matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}
