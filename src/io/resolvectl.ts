// DNS through systemd-resolved, per link: the gateway's servers (RFC 7296 §3.15.1
// INTERNAL_IP4_DNS / INTERNAL_IP6_DNS) set on the TUN with `resolvectl dns`, and which names
// go to them with `resolvectl domain`: `~.` in a full tunnel (every name), the `dnsDomains` as
// routing-only domains (`~corp.example`) in a split tunnel. `resolvectl revert` undoes it; a
// TUN that goes with a killed daemon takes its link settings along, so there is nothing to
// sweep. Used when /etc/resolv.conf is resolved's stub (a link into /run/systemd/resolve/) and
// `resolvectl` is on PATH (tests put a fake one there); otherwise resolv-conf.ts.
import { spawnSync } from 'node:child_process';
import { lstatSync, readlinkSync } from 'node:fs';

export interface LinkDns {
  servers: readonly string[];
  /** Every name goes to these servers (a full tunnel): `~.`, and the link is a default route for DNS. */
  all: boolean;
  /** Names routed to these servers (dnsDomains), without the `~`. */
  domains: readonly string[];
}

/** True when `file` (the resolver file) is systemd-resolved's and `resolvectl` runs. */
export function resolvedManages(file: string): boolean {
  try {
    if (!lstatSync(file).isSymbolicLink() || !readlinkSync(file).includes('/systemd/resolve/')) return false;
  } catch {
    return false;
  }
  return !spawnSync('resolvectl', ['--version'], { timeout: 10_000 }).error;
}

/** The `resolvectl` commands that give `dev` these settings, in order (each an argument list). */
export function resolvectlCommands(dev: string, d: LinkDns): string[][] {
  // `~name`: a routing-only domain (queries for it go here, it is not a search suffix); `~.` every name
  const domains = d.all ? ['~.', ...d.domains] : d.domains.map((x) => `~${x}`);
  return [
    ['dns', dev, ...d.servers],
    ['domain', dev, ...domains],
    // a split tunnel with domains answers only for them; a full tunnel for everything
    ...(d.all ? [['default-route', dev, 'yes']] : d.domains.length > 0 ? [['default-route', dev, 'no']] : []),
  ];
}

/** Apply `d` to `dev`; throws an Error naming the command and resolvectl's message. */
export function applyLinkDns(dev: string, d: LinkDns): void {
  for (const args of resolvectlCommands(dev, d)) {
    const r = spawnSync('resolvectl', args, { encoding: 'utf8', timeout: 10_000 });
    if (r.error || r.status !== 0) throw new Error(`resolvectl ${args.join(' ')} failed: ${(r.stderr ?? '').trim() || r.error?.message || `exit status ${r.status}`}`);
  }
}

/** Drop what applyLinkDns set on `dev`; false when resolvectl failed (the device may be gone already). Never throws. */
export function revertLinkDns(dev: string): boolean {
  const r = spawnSync('resolvectl', ['revert', dev], { timeout: 10_000 });
  return !r.error && r.status === 0;
}
