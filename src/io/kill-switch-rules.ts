// The kill switch's nftables table, as the text `nft -f -` reads, decided without touching
// the host (kill-switch.ts runs nft). One table per tunnel, `inet tsvpn_<name>`, owned by
// tsvpn alone: one filter chain at the postrouting hook (so forwarded packets are caught as
// well as the host's own) lets out, by any interface but the TUN, only
// - loopback;
// - IKE (UDP to the gateway's IKE port and 4500, RFC 7296 §2, RFC 3948 §2.1) and ESP (IP
//   protocol 50, RFC 4303) to each gateway;
// - DHCP (RFC 2131 §4.1: client port 68 to server 67; RFC 8415 §7.2: 546 to 547) and IPv6
//   router and neighbour discovery (RFC 4861 §4): they carry no user data, and without them the
//   host loses the outer address or the next hop that IKE needs;
// - with `allowLan`, the networks on the host's own links (and IPv6 link-local, link-scope
//   multicast, IPv4 local network control, RFC 5771 §4);
// and counts and drops everything else (the named counter `dropped`, shown in status).
// The script replaces the table in one transaction: `table` (creates it if absent), `delete
// table`, then the whole table again, so a leftover of a killed run is never half replaced.
import { isIP } from 'node:net';

/** The named counter of dropped packets. */
export const DROP_COUNTER = 'dropped';

export interface KillSwitchPlan {
  /** The tunnel's name (peer.json `name`): the table is tsvpn_<name>. */
  name: string;
  /** The TUN device: everything may leave by it. */
  dev: string;
  /** Each gateway's outer address and the UDP port its IKE listens on. */
  gateways: { addr: string; port: number }[];
  /** With allowLan: the prefixes on the host's links (CIDR); absent or empty = no LAN. */
  lan?: string[];
}

export class KillSwitchError extends Error {
  override name = 'KillSwitchError';
}

/** The table's name: `tsvpn_` and the tunnel's name (letters, digits, `_`, `.`, `-`: all valid in an nft identifier). */
export function killSwitchTable(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/.test(name)) throw new KillSwitchError(`'${name}' is not a tunnel name`);
  return `tsvpn_${name}`;
}

// RFC 4291 §2.5.6 link-local, RFC 4291 §2.7 link-scope multicast, RFC 5771 §4 local network control block
const LINK_SCOPE = { 4: ['224.0.0.0/24'], 6: ['fe80::/10', 'ff02::/16'] } as const;

/** The `nft -f -` script that installs (or replaces) the plan's table. Throws KillSwitchError for a plan that cannot work. */
export function killSwitchScript(plan: KillSwitchPlan): string {
  const table = `inet ${killSwitchTable(plan.name)}`;
  if (!/^[^\s/"]{1,15}$/.test(plan.dev)) throw new KillSwitchError(`'${plan.dev}' is not a network device name`);
  if (plan.gateways.length === 0) throw new KillSwitchError('a kill switch needs the gateway\'s address (remote.addr)');
  const accept: string[] = ['oifname "lo" accept', `oifname "${plan.dev}" accept`];
  for (const g of plan.gateways) {
    const fam = familyOf(g.addr, 'gateway address');
    const ports = [...new Set([g.port, 4500])].join(', ');
    accept.push(`${fam} daddr ${g.addr} udp dport { ${ports} } accept`, `${fam} daddr ${g.addr} meta l4proto esp accept`);
  }
  accept.push('meta nfproto ipv4 udp sport 68 udp dport 67 accept', 'meta nfproto ipv6 udp sport 546 udp dport 547 accept');
  accept.push('icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept');
  const lan = plan.lan ?? [];
  if (lan.length > 0) {
    for (const fam of [4, 6] as const) {
      const mine = lan.filter((p) => familyOf(p.split('/')[0]!, 'LAN prefix') === (fam === 4 ? 'ip' : 'ip6'));
      accept.push(`${fam === 4 ? 'ip' : 'ip6'} daddr { ${[...new Set([...mine, ...LINK_SCOPE[fam]])].join(', ')} } accept`);
    }
  }
  return [
    `table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    `  counter ${DROP_COUNTER} { }`,
    '  chain leaving {',
    '    type filter hook postrouting priority filter; policy accept;',
    ...accept.map((r) => `    ${r}`),
    `    counter name "${DROP_COUNTER}" drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

function familyOf(addr: string, what: string): 'ip' | 'ip6' {
  const f = isIP(addr);
  if (f === 0) throw new KillSwitchError(`${what} '${addr}' is not an IP address`);
  return f === 4 ? 'ip' : 'ip6';
}
