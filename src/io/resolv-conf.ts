// The DNS servers a gateway hands out with a virtual IP (RFC 7296 §3.15.1 INTERNAL_IP4_DNS /
// INTERNAL_IP6_DNS), applied to the host while the tunnel is up: /etc/resolv.conf rewritten in
// place (a bind-mounted file, as `ip netns exec` makes, cannot be renamed over), the original
// kept in a backup file beside the control socket and written back byte for byte on `down`, or
// by the next start after a crash or SIGKILL. A resolv.conf that is a symlink belongs to a
// resolver manager: systemd-resolved's stub is set per link instead (resolvectl.ts), any other
// (resolvconf) is left alone and the caller says so. resolv.conf cannot send some names to one
// server and the rest to another: with ours in place every query goes to the gateway's servers,
// and DNS domains (`dnsDomains`) only become its `search` line.
import { existsSync, lstatSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';

export const RESOLV_CONF = '/etc/resolv.conf';

export interface DnsFiles {
  /** The resolver file (RESOLV_CONF; tests pass their own). */
  file: string;
  /** Where the original is kept while ours is in place. */
  backup: string;
}

/**
 * Put `servers` (and `search` domains) in the resolver file (ours replaces the whole file: no
 * query leaves by the old servers while the tunnel is up). Returns why nothing was done, or
 * undefined when applied.
 */
export function applyDns(f: DnsFiles, servers: readonly string[], why: string, search: readonly string[] = []): string | undefined {
  let st;
  try {
    st = lstatSync(f.file);
  } catch {
    st = undefined; // no resolver file: ours is the first
  }
  if (st?.isSymbolicLink()) return `${f.file} is a link to ${readlinkSync(f.file)} (a resolver manager owns it): DNS servers ${servers.join(', ')} not applied`;
  // the first apply of a run keeps the original; later ones (another connection, a reconnect) keep that backup
  if (!existsSync(f.backup)) writeFileSync(f.backup, st ? readFileSync(f.file) : Buffer.alloc(0), { mode: 0o600 });
  const text = [`# written by tsvpn: ${why}; the original is in ${f.backup} and comes back when the tunnel goes down`, ...servers.map((s) => `nameserver ${s}`), ...(search.length > 0 ? [`search ${search.join(' ')}`] : []), ''].join('\n');
  writeFileSync(f.file, text);
  return undefined;
}

/** Write the original back and drop the backup; false when there was none (nothing of ours in place). */
export function restoreDns(f: DnsFiles): boolean {
  if (!existsSync(f.backup)) return false;
  writeFileSync(f.file, readFileSync(f.backup));
  rmSync(f.backup, { force: true });
  return true;
}
