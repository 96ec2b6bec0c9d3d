// Test helper: throw-away network namespaces and child processes that run inside them
// (Node cannot setns(2) itself, so TUN tests run a child under `ip netns exec`).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const childScript = resolve(repoRoot, 'test/io/helpers/tun-child.ts');

const hasIp = spawnSync('ip', ['-V']).status === 0;
/** Root, /dev/net/tun and iproute2: what the TUN tests need. */
export const canUseTun = process.getuid?.() === 0 && existsSync('/dev/net/tun') && hasIp;
export const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

/** Runs fn in a fresh namespace (lo up) and deletes the namespace afterwards, even on failure. */
export function withNetns<T>(fn: (ns: string) => T): T {
  const ns = `tsvpn-test-${randomBytes(4).toString('hex')}`;
  ip(['netns', 'add', ns]);
  try {
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    return fn(ns);
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

export interface ChildRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  result: Record<string, unknown> | undefined;
  stdout: string;
  stderr: string;
}

/** Runs test/io/helpers/tun-child.ts <mode> inside ns; `prefix` goes before `node` (e.g. setpriv). */
export function runChild(ns: string, mode: string, prefix: string[] = []): ChildRun {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', ns, ...prefix, process.execPath, '--import', 'tsx', childScript, mode],
    { cwd: repoRoot, encoding: 'utf8', timeout: 25_000 },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  return {
    status: r.status,
    signal: r.signal,
    result: line ? (JSON.parse(line.slice(7)) as Record<string, unknown>) : undefined,
    stdout: r.stdout,
    stderr: r.stderr,
  };
}
