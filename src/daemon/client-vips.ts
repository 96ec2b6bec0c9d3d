// The client side of virtual IPs (RFC 7296 §2.19, peer.json `local.vips`): the addresses a
// gateway gave a connection go on the TUN and become the source of that connection's routes
// (the event comes first in IKE_AUTH's effects, before the Child SA's routes), and its DNS
// servers are used while any connection has some: set on the TUN through systemd-resolved when
// it manages the resolver file (io/resolvectl.ts: every name in a full tunnel, only `dnsDomains`
// in a split one), else written into the resolver file (io/resolv-conf.ts; `dnsDomains` as its
// search line). An address leaves the TUN once no IKE SA of the connection holds it any more;
// the DNS settings go when the last connection lets go and at shutdown; an original resolver
// file a crash left replaced comes back at the next start.
import { cidrCovers } from '../io/route-plan.js';
import { addTunAddress, removeTunAddress } from '../io/routes.js';
import { applyDns, restoreDns, type DnsFiles } from '../io/resolv-conf.js';
import { applyLinkDns, resolvedManages, revertLinkDns } from '../io/resolvectl.js';
import { errText, type Logger } from './log.js';

export interface VipHost {
  /** The TUN device the addresses go on. */
  dev: string;
  dns: DnsFiles;
  log: Logger;
  /** A failure of the connection (F5: an address that cannot be put on the TUN). */
  failure: (row: string, message: string, evidence: unknown, conn: string) => void;
  /** The virtual IPs the connection's live IKE SAs still hold. */
  held: (conn: string) => ReadonlySet<string>;
  /** What the connection wants of DNS: every name (a full tunnel, remote.ts 0.0.0.0/0 or ::/0), and its `dnsDomains`. */
  dnsWants: (conn: string) => { all: boolean; domains: readonly string[] };
}

const family = (a: string): 4 | 6 => (a.includes(':') ? 6 : 4);

/** The families a remote.ts leaves wide open (0.0.0.0/0, ::/0): a full tunnel, or "whatever the gateway protects". */
export function wideOpen(remoteTs: readonly string[]): Set<4 | 6> {
  return new Set(remoteTs.flatMap((t) => (t === '0.0.0.0/0' ? [4 as const] : t === '::/0' ? [6 as const] : [])));
}

export class ClientVips {
  /** Addresses on the TUN, by connection. */
  private readonly onTun = new Map<string, string[]>();
  /** The subnets the gateway announced (INTERNAL_IP4/6_SUBNET), by connection. */
  private readonly subnetsFrom = new Map<string, string[]>();
  /** DNS servers in use, by connection. */
  private readonly dnsFrom = new Map<string, string[]>();
  /** The servers in use went to systemd-resolved (on the TUN), not into the resolver file. */
  private viaResolved = false;

  constructor(private readonly h: VipHost) {}

  /** At start: a resolver file a killed run left holding a gateway's DNS servers gets its original back. */
  sweep(): void {
    if (restoreDns(this.h.dns)) this.h.log.info('daemon', `restored ${this.h.dns.file}, which a previous run left holding a gateway's DNS servers`);
  }

  /** The gateway gave `conn` these addresses and DNS servers, and announced these subnets (event `virtual-ip-received`). */
  received(conn: string, addresses: readonly string[], dns: readonly string[], subnets: readonly string[] = []): void {
    if (subnets.length > 0) this.subnetsFrom.set(conn, [...subnets]);
    const mine = this.onTun.get(conn) ?? [];
    for (const a of addresses) {
      if (mine.includes(a)) continue;
      try {
        addTunAddress(this.h.dev, a);
        mine.push(a);
        this.h.log.info('daemon', `virtual IP ${a} on ${this.h.dev}`);
      } catch (e) {
        this.h.failure('F5', `the virtual IP ${a} could not be put on ${this.h.dev}: ${errText(e)}`, { address: a, dev: this.h.dev }, conn);
      }
    }
    if (mine.length > 0) this.onTun.set(conn, mine);
    if (dns.length > 0) this.useDns(conn, [...dns]);
  }

  /** An IKE SA of `conn` ended: the addresses none of its SAs holds any more leave the TUN. */
  released(conn: string): void {
    const mine = this.onTun.get(conn);
    if (!mine) return;
    const held = this.h.held(conn);
    const gone = mine.filter((a) => !held.has(a));
    if (gone.length === 0) return;
    for (const a of gone) removeTunAddress(this.h.dev, a);
    const left = mine.filter((a) => held.has(a));
    if (left.length > 0) this.onTun.set(conn, left);
    else {
      this.onTun.delete(conn);
      this.subnetsFrom.delete(conn);
      this.useDns(conn, []);
    }
    this.h.log.info('daemon', `virtual IP ${gone.join(', ')} off ${this.h.dev}`);
  }

  /** The route sources of `conn`: its virtual IP of each family first, then the configured ones of the other families. */
  sources(conn: string, configured: readonly string[]): string[] {
    const vips = this.onTun.get(conn) ?? [];
    return [...vips, ...configured.filter((x) => !vips.some((v) => family(v) === family(x)))];
  }

  /**
   * The prefixes to route for a Child SA of `conn` whose remote selectors are `cidrs`. Where the
   * connection's remote.ts leaves a family wide open (`open`: 0.0.0.0/0 or ::/0, "whatever the
   * gateway protects") and the gateway announced subnets (RFC 7296 §3.15.2: the networks it
   * protects), a selector becomes the announced subnets inside it: the gateway's split tunnel.
   * Otherwise, or when none is inside, the selector itself.
   */
  routed(conn: string, cidrs: readonly string[], open: ReadonlySet<4 | 6>): string[] {
    const subnets = this.subnetsFrom.get(conn) ?? [];
    const out = cidrs.flatMap((c) => {
      if (!open.has(family(c))) return [c];
      const inside = subnets.filter((s) => cidrCovers(c, s));
      return inside.length > 0 ? inside : [c];
    });
    const only = [...new Set(out)];
    if (only.join() !== cidrs.join()) this.h.log.info('daemon', `routing ${only.join(', ')} of ${cidrs.join(', ')}: the subnets the gateway announced (remote.ts leaves the choice to it)`);
    return only;
  }

  /** Shutdown: the DNS settings of the TUN dropped, or the original resolver file back, if ours is in place. */
  close(): void {
    if (this.dnsFrom.size > 0) this.undoDns();
    this.dnsFrom.clear();
  }

  /**
   * The DNS servers of every connection that has some are in use (none left: the host's own
   * settings are back). Through the resolver file only the host's whole resolver can be set.
   */
  private useDns(conn: string, servers: string[]): void {
    const before = this.dnsKey();
    if (servers.length > 0) this.dnsFrom.set(conn, servers);
    else this.dnsFrom.delete(conn);
    if (this.dnsKey() === before) return;
    const all = [...new Set([...this.dnsFrom.values()].flat())];
    if (all.length === 0) {
      this.undoDns();
      return;
    }
    const wants = [...this.dnsFrom.keys()].map((c) => this.h.dnsWants(c));
    const domains = [...new Set(wants.flatMap((w) => w.domains))];
    const file = this.h.dns.file;
    try {
      if (resolvedManages(file)) {
        const every = wants.some((w) => w.all);
        applyLinkDns(this.h.dev, { servers: all, all: every, domains });
        this.viaResolved = true;
        const names = every ? 'every name' : domains.length > 0 ? `names in ${domains.join(', ')}` : 'names as systemd-resolved picks its links';
        this.h.log.info('daemon', `DNS: ${all.join(', ')} on ${this.h.dev} through systemd-resolved, for ${names}, while the tunnel is up`);
        return;
      }
      const skipped = applyDns(this.h.dns, all, `DNS servers from ${[...this.dnsFrom.keys()].join(', ')}`, domains);
      if (skipped) this.h.log.warn('daemon', `DNS: ${skipped}`);
      else this.h.log.info('daemon', `DNS: ${all.join(', ')} in ${file} while the tunnel is up${domains.length > 0 ? ` (every name goes there: resolv.conf cannot route by domain; ${domains.join(', ')} only as search domains)` : ''}`);
    } catch (e) {
      this.h.log.error('daemon', `DNS: not applied: ${errText(e)}`);
    }
  }

  /** What is in use, to tell a change from a repeat. */
  private dnsKey(): string {
    return JSON.stringify([...this.dnsFrom].map(([c, s]) => [c, s, this.h.dnsWants(c)]));
  }

  private undoDns(): void {
    if (this.viaResolved) {
      this.viaResolved = false;
      if (revertLinkDns(this.h.dev)) this.h.log.info('daemon', `DNS: resolvectl revert ${this.h.dev}`);
      return;
    }
    if (restoreDns(this.h.dns)) this.h.log.info('daemon', `DNS: ${this.h.dns.file} restored`);
  }
}
