// The client side of virtual IPs (RFC 7296 §2.19, peer.json `local.vips`): the addresses a
// gateway gave a connection go on the TUN and become the source of that connection's routes
// (the event comes first in IKE_AUTH's effects, before the Child SA's routes), and its DNS
// servers go into the resolver file while any connection has some (io/resolv-conf.ts). An
// address leaves the TUN once no IKE SA of the connection holds it any more; the original
// resolver file comes back when the last connection lets go, at shutdown, or at the next start
// after a crash.
import { addTunAddress, removeTunAddress } from '../io/routes.js';
import { applyDns, restoreDns, type DnsFiles } from '../io/resolv-conf.js';
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
}

const family = (a: string): 4 | 6 => (a.includes(':') ? 6 : 4);

export class ClientVips {
  /** Addresses on the TUN, by connection. */
  private readonly onTun = new Map<string, string[]>();
  /** DNS servers in the resolver file, by connection. */
  private readonly dnsFrom = new Map<string, string[]>();

  constructor(private readonly h: VipHost) {}

  /** At start: a resolver file a killed run left holding a gateway's DNS servers gets its original back. */
  sweep(): void {
    if (restoreDns(this.h.dns)) this.h.log.info('daemon', `restored ${this.h.dns.file}, which a previous run left holding a gateway's DNS servers`);
  }

  /** The gateway gave `conn` these addresses and DNS servers (event `virtual-ip-received`). */
  received(conn: string, addresses: readonly string[], dns: readonly string[]): void {
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
      this.useDns(conn, []);
    }
    this.h.log.info('daemon', `virtual IP ${gone.join(', ')} off ${this.h.dev}`);
  }

  /** The route sources of `conn`: its virtual IP of each family first, then the configured ones of the other families. */
  sources(conn: string, configured: readonly string[]): string[] {
    const vips = this.onTun.get(conn) ?? [];
    return [...vips, ...configured.filter((x) => !vips.some((v) => family(v) === family(x)))];
  }

  /** Shutdown: the original resolver file back, if ours is in place. */
  close(): void {
    if (this.dnsFrom.size > 0) restoreDns(this.h.dns);
    this.dnsFrom.clear();
  }

  /**
   * The resolver file holds the DNS servers of every connection that has some (none left: the
   * original is back). Only the host's whole resolver can be set this way; per-domain DNS
   * (systemd-resolved) is not done yet.
   */
  private useDns(conn: string, servers: string[]): void {
    const before = [...this.dnsFrom.values()].flat().join();
    if (servers.length > 0) this.dnsFrom.set(conn, servers);
    else this.dnsFrom.delete(conn);
    const all = [...new Set([...this.dnsFrom.values()].flat())];
    if (all.join() === before) return;
    const file = this.h.dns.file;
    if (all.length === 0) {
      if (restoreDns(this.h.dns)) this.h.log.info('daemon', `DNS: ${file} restored`);
      return;
    }
    try {
      const skipped = applyDns(this.h.dns, all, `DNS servers from ${[...this.dnsFrom.keys()].join(', ')}`);
      if (skipped) this.h.log.warn('daemon', `DNS: ${skipped}`);
      else this.h.log.info('daemon', `DNS: ${all.join(', ')} in ${file} while the tunnel is up`);
    } catch (e) {
      this.h.log.error('daemon', `DNS: ${file} not changed: ${errText(e)}`);
    }
  }
}
