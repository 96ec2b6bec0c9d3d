// Network namespaces as lab hosts (LAB.md "Two hosts on one machine"): the one place that
// builds them, for `tsvpn demo`, the end-to-end tests, the interop harness and the benches.
// Two namespaces joined by a veth pair are two hosts with a wire between them; inner hosts
// are /32 addresses on each namespace's `lo` (the kernel here has no dummy interfaces).
// Everything made here is removed by destroy(), which also runs when creation fails.

import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';

export class NetnsError extends Error {
  override name = 'NetnsError';
}

/** What namespaces need: root (or CAP_NET_ADMIN + CAP_SYS_ADMIN) and iproute2's `ip`. */
export function netnsSupport(): { ok: true } | { ok: false; why: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'network namespaces need root (run as root or with sudo)' };
  if (spawnSync('ip', ['-V']).error) return { ok: false, why: '`ip` was not found: install iproute2 (apt-get install iproute2)' };
  if (!existsSync('/dev/net/tun')) return { ok: false, why: '/dev/net/tun is missing: load the tun module (modprobe tun)' };
  return { ok: true };
}

/** Run `ip <args>` (in `ns` when given); throws NetnsError with ip's own message. */
export function ip(args: string[], ns?: string): string {
  const full = ns ? ['-n', ns, ...args] : args;
  const r = spawnSync('ip', full, { encoding: 'utf8' });
  if (r.error) throw new NetnsError(`ip ${full.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new NetnsError(`ip ${full.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Run a command inside a namespace and wait for it (`ip netns exec`). */
export function nsExec(ns: string, cmd: string, args: string[], opts: SpawnSyncOptions = {}) {
  return spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', ...opts });
}

export interface LabHost {
  /** Namespace name. */
  ns: string;
  /** Outer (wire) address and prefix length, e.g. 198.51.100.1 and 24. */
  outer: string;
  /** The veth end inside this namespace. */
  dev: string;
  /** Inner host address (a /32 on lo), the tunnel's protected end. */
  inner: string;
}

export interface TwoHosts {
  left: LabHost;
  right: LabHost;
  /** Delete both namespaces (their veth ends and addresses go with them). Idempotent. */
  destroy(): void;
}

export interface TwoHostsOptions {
  /** Namespace name prefix; a random suffix keeps parallel runs apart. */
  prefix?: string;
  left?: { outer?: string; inner?: string };
  right?: { outer?: string; inner?: string };
  /** veth MTU (default 1500). */
  mtu?: number;
}

/** Namespace names this process made, removed at exit if the caller forgot. */
const live = new Set<string>();
let exitHook = false;

function addNs(name: string): void {
  ip(['netns', 'add', name]);
  live.add(name);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const n of live) spawnSync('ip', ['netns', 'del', n]);
    });
  }
}

/** Delete a namespace if it exists. */
export function delNs(name: string): void {
  spawnSync('ip', ['netns', 'del', name]);
  live.delete(name);
}

/** Names of the existing namespaces (for leak checks). */
export function listNs(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.length > 0);
}

/**
 * Two hosts joined by a veth: left 198.51.100.1/24 with inner 203.0.113.1, right
 * 198.51.100.2/24 with inner 203.0.113.129 (DESIGN.md documentation prefixes).
 */
export function createTwoHosts(o: TwoHostsOptions = {}): TwoHosts {
  const tag = randomBytes(3).toString('hex');
  const prefix = o.prefix ?? 'tsvpn';
  const left: LabHost = { ns: `${prefix}-l-${tag}`, outer: o.left?.outer ?? '198.51.100.1', dev: 'veth0', inner: o.left?.inner ?? '203.0.113.1' };
  const right: LabHost = { ns: `${prefix}-r-${tag}`, outer: o.right?.outer ?? '198.51.100.2', dev: 'veth0', inner: o.right?.inner ?? '203.0.113.129' };
  const destroy = (): void => {
    delNs(left.ns);
    delNs(right.ns);
  };
  try {
    addNs(left.ns);
    addNs(right.ns);
    // veth names are per namespace once moved; create with unique names, then rename
    const a = `tv${tag}a`;
    const b = `tv${tag}b`;
    ip(['link', 'add', a, 'netns', left.ns, 'type', 'veth', 'peer', 'name', b, 'netns', right.ns]);
    for (const [h, dev] of [[left, a], [right, b]] as const) {
      ip(['link', 'set', dev, 'name', h.dev], h.ns);
      ip(['link', 'set', h.dev, 'mtu', String(o.mtu ?? 1500)], h.ns);
      // IPv6: no duplicate address detection, so the address is usable at once (RFC 4862 §5.4)
      ip(['addr', 'add', ...(h.outer.includes(':') ? [`${h.outer}/64`, 'dev', h.dev, 'nodad'] : [`${h.outer}/24`, 'dev', h.dev])], h.ns);
      ip(['addr', 'add', `${h.inner}/32`, 'dev', 'lo'], h.ns);
      ip(['link', 'set', 'lo', 'up'], h.ns);
      ip(['link', 'set', h.dev, 'up'], h.ns);
    }
  } catch (e) {
    destroy();
    throw e;
  }
  return { left, right, destroy };
}
