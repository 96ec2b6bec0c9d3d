// A NAT between two lab hosts (LAB.md: "a third namespace with nftables masquerade"):
//
//   inside host  192.0.2.2/24 --veth-- 192.0.2.1 [router] 198.51.100.1 --veth-- 198.51.100.2 outside host
//   inner 203.0.113.1/32 on lo                                           inner 203.0.113.129/32 on lo
//
// The router masquerades what the inside host sends out (its source becomes 198.51.100.1,
// and with `randomPorts` the source port changes too, as on carrier-grade NATs), and
// optionally forwards UDP 500/4500 arriving at 198.51.100.1 to the inside host, so the
// inside host can also be an IKE responder. Named nftables counters on the router count
// what crosses it: NAT-T keepalives (RFC 3948 §2.3: a UDP payload of one 0xFF byte) and
// UDP 500 / 4500 packets in each direction.
// Built on src/io/netns.ts primitives; destroy() removes all three namespaces.

import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';

import { NetnsError, delNs, ip, nsExec, type LabHost } from '../../src/io/netns.js';

export interface NatLab {
  /** Behind the NAT: outer 192.0.2.2, seen outside as 198.51.100.1. */
  inside: LabHost;
  /** On the public side: 198.51.100.2. */
  outside: LabHost;
  router: { ns: string; publicAddr: string; privateAddr: string };
  /** The inside host's address as the outside host sees it. */
  insidePublic: string;
  /** Router counters (packets) by name: keepalives-out, udp500-out, udp4500-out, udp4500-in. */
  counters(): Record<string, number>;
  /** Router conntrack entries for UDP (evidence for NAT failures). */
  conntrack(): string;
  destroy(): void;
}

export interface NatOptions {
  prefix?: string;
  /** Masquerade with random source ports (`fully-random`), so IKE arrives from a port other than 500. */
  randomPorts?: boolean;
  /** Forward UDP 500 and 4500 at the router's public address to the inside host. */
  forwardIke?: boolean;
}

function nft(ns: string, script: string): void {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
  if (r.error) throw new NetnsError(`nft: ${r.error.message} (apt-get install nftables)`);
  if (r.status !== 0) throw new NetnsError(`nft -f failed in ${ns}: ${r.stderr.trim()}\n${script}`);
}

export function createNatLab(o: NatOptions = {}): NatLab {
  const tag = randomBytes(3).toString('hex');
  const prefix = o.prefix ?? 'tsvnat';
  const inside: LabHost = { ns: `${prefix}-i-${tag}`, outer: '192.0.2.2', dev: 'veth0', inner: '203.0.113.1' };
  const outside: LabHost = { ns: `${prefix}-o-${tag}`, outer: '198.51.100.2', dev: 'veth0', inner: '203.0.113.129' };
  const router = { ns: `${prefix}-n-${tag}`, publicAddr: '198.51.100.1', privateAddr: '192.0.2.1' };
  const all = [inside.ns, outside.ns, router.ns];
  const destroy = (): void => all.forEach(delNs);
  try {
    for (const ns of all) {
      ip(['netns', 'add', ns]);
      ip(['link', 'set', 'lo', 'up'], ns);
    }
    const pair = (a: string, aNs: string, aName: string, b: string, bNs: string, bName: string) => {
      ip(['link', 'add', a, 'netns', aNs, 'type', 'veth', 'peer', 'name', b, 'netns', bNs]);
      ip(['link', 'set', a, 'name', aName], aNs);
      ip(['link', 'set', b, 'name', bName], bNs);
    };
    pair(`tn${tag}a`, inside.ns, 'veth0', `tn${tag}b`, router.ns, 'lan0');
    pair(`tn${tag}c`, outside.ns, 'veth0', `tn${tag}d`, router.ns, 'wan0');
    ip(['addr', 'add', `${inside.outer}/24`, 'dev', 'veth0'], inside.ns);
    ip(['addr', 'add', `${outside.outer}/24`, 'dev', 'veth0'], outside.ns);
    ip(['addr', 'add', `${router.privateAddr}/24`, 'dev', 'lan0'], router.ns);
    ip(['addr', 'add', `${router.publicAddr}/24`, 'dev', 'wan0'], router.ns);
    ip(['addr', 'add', `${inside.inner}/32`, 'dev', 'lo'], inside.ns);
    ip(['addr', 'add', `${outside.inner}/32`, 'dev', 'lo'], outside.ns);
    for (const [ns, dev] of [[inside.ns, 'veth0'], [outside.ns, 'veth0'], [router.ns, 'lan0'], [router.ns, 'wan0']]) ip(['link', 'set', dev, 'up'], ns);
    ip(['route', 'add', 'default', 'via', router.privateAddr], inside.ns);
    const fwd = nsExec(router.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    if (fwd.status !== 0) throw new NetnsError(`sysctl ip_forward in ${router.ns}: ${fwd.stderr}`);
    const dnat = o.forwardIke
      ? `    iifname "wan0" ip daddr ${router.publicAddr} udp dport { 500, 4500 } dnat to ${inside.outer}\n`
      : '';
    nft(
      router.ns,
      `table ip lab {
  counter keepalives-out { }
  counter udp500-out { }
  counter udp4500-out { }
  counter udp4500-in { }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "lan0" udp length 9 @th,64,8 0xff counter name "keepalives-out"
    iifname "lan0" udp dport 500 counter name "udp500-out"
    iifname "lan0" udp dport 4500 counter name "udp4500-out"
    iifname "wan0" udp dport 4500 counter name "udp4500-in"
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
${dnat}  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ip saddr 192.0.2.0/24 masquerade${o.randomPorts ? ' fully-random' : ''}
  }
}
`,
    );
  } catch (e) {
    destroy();
    throw e;
  }
  const counters = (): Record<string, number> => {
    const r = nsExec(router.ns, 'nft', ['-j', 'list', 'counters']);
    const outc: Record<string, number> = {};
    try {
      const j = JSON.parse(String(r.stdout)) as { nftables: { counter?: { name: string; packets: number } }[] };
      for (const item of j.nftables) if (item.counter) outc[item.counter.name] = item.counter.packets;
    } catch {
      // no counters readable: leave empty, the caller reports it
    }
    return outc;
  };
  const conntrack = (): string => {
    const r = nsExec(router.ns, 'cat', ['/proc/net/nf_conntrack']);
    return r.status === 0 ? String(r.stdout).split('\n').filter((l: string) => l.includes("udp")).join('\n') : '';
  };
  return { inside, outside, router, insidePublic: router.publicAddr, counters, conntrack, destroy };
}
