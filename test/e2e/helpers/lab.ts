// Shared pieces of the end-to-end tests: what the suite needs on this machine, commands
// run inside a lab namespace, a snapshot of what a tunnel may leave behind, and the
// failure report (both daemons' logs) when a test fails.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

import { startTunnelPair, TSVPN_BIN, type TunnelEnd, type TunnelPair, type TunnelPairOptions } from '../../../src/cli/lab-tunnel.js';
import { netnsSupport } from '../../../src/io/netns.js';

export { TSVPN_BIN };
export const HELPERS = fileURLToPath(new URL('./', import.meta.url));

const has = (cmd: string, arg = '-V'): boolean => spawnSync(cmd, [arg]).error === undefined;

/** Root, namespaces, /dev/net/tun and the tools the suite drives (CI installs them). */
export const labOk = netnsSupport().ok && has('ping') && has('tcpdump', '--version') && has('python3', '--version');

export interface RunResult {
  code: number | null;
  out: string;
  err: string;
}

/** Runs `cmd args` inside namespace `ns` without blocking the event loop. */
export function nsRun(ns: string, cmd: string, args: string[], timeoutMs = 30_000, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { env: env ? { ...process.env, ...env } : process.env });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** `tsvpn <args>` as a user runs it, inside `ns`, against the pair's control directory. */
export function tsvpn(pair: TunnelPair, ns: string, args: string[]): Promise<RunResult> {
  return nsRun(ns, process.execPath, [TSVPN_BIN, ...args], 30_000, { TSVPN_CONTROL_DIR: pair.controlDir });
}

/**
 * Routes in every table, policy rules and links of a namespace: what a tunnel must not leave
 * behind. IPv6 link-local and multicast routes are left out: the kernel adds those by
 * itself when a link's fe80:: address finishes DAD, whenever that happens.
 */
export function netState(ns: string): { routes: string[]; rules: string[]; links: string[] } {
  const ip = (args: string[]): string[] => spawnSync('ip', ['-n', ns, ...args], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.trim() !== '');
  const links = (JSON.parse(ip(['-j', 'link', 'show']).join('')) as { ifname: string }[]).map((l) => l.ifname).sort();
  const routes = [...ip(['route', 'show', 'table', 'all']), ...ip(['-6', 'route', 'show', 'table', 'all'])].filter((l) => !/fe80::|ff00::/.test(l));
  return { routes, rules: [...ip(['rule', 'show']), ...ip(['-6', 'rule', 'show'])], links };
}

/**
 * ESP packets the kernel dropped in `ns` because a socket's receive queue was full: the
 * "drops" column of /proc/net/raw (IP protocol 50) and /proc/net/udp (port 4500), both
 * families. A packet counted out by one end is either counted in by the other or here.
 */
export function espSocketDrops(ns: string): number {
  let total = 0;
  for (const [file, port] of [
    ['raw', '0032'],
    ['raw6', '0032'],
    ['udp', '1194'],
    ['udp6', '1194'],
  ] as const) {
    const text = spawnSync('ip', ['netns', 'exec', ns, 'cat', `/proc/net/${file}`], { encoding: 'utf8' }).stdout ?? '';
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 5 || cols[1]!.split(':')[1] !== port) continue;
      total += Number(cols[cols.length - 1]);
    }
  }
  return total;
}

/**
 * Starts a pair and runs `body`; on failure the error carries both daemons' logs. The pair
 * is always torn down and the namespaces removed.
 */
export async function withPair<T>(o: TunnelPairOptions, body: (pair: TunnelPair) => Promise<T>): Promise<T> {
  const pair = await startTunnelPair(o);
  try {
    return await body(pair);
  } catch (e) {
    const err = e as Error;
    err.message = `${err.message}\n${pair.logs()}`;
    throw err;
  } finally {
    await pair.destroy();
  }
}

/** ping from `from` to `to` (inner addresses), returning ping's exit code and text. */
export function ping(ns: string, from: string, to: string, extra: string[] = []): Promise<RunResult> {
  return nsRun(ns, 'ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', '-I', from, ...extra, to]);
}

/** Runs a test step; on failure the error carries both daemons' logs. */
export async function step<T>(pair: TunnelPair | undefined, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    const err = e as Error;
    if (pair) err.message = `${err.message}\n${pair.logs()}`;
    throw err;
  }
}

/** Starts a long-running helper in `ns` and resolves once it printed `ready` on stdout. */
export function nsStart(ns: string, cmd: string, args: string[], ready: string, timeoutMs = 15_000) {
  return new Promise<{ proc: ReturnType<typeof spawn>; result: Promise<RunResult> }>((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args]);
    let out = '';
    let err = '';
    const result = new Promise<RunResult>((r) => p.on('close', (code) => r({ code, out, err })));
    const timer = setTimeout(() => reject(new Error(`${cmd} in ${ns} did not print "${ready}" in ${timeoutMs} ms: ${out}${err}`)), timeoutMs);
    const check = (): void => {
      if (out.includes(ready) || err.includes(ready)) {
        clearTimeout(timer);
        resolve({ proc: p, result });
      }
    };
    p.stdout.on('data', (d) => {
      out += d;
      check();
    });
    p.stderr.on('data', (d) => {
      err += d;
      check();
    });
    void result.then((r) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} in ${ns} exited with ${r.code} before it was ready: ${r.out}${r.err}`));
    });
  });
}

/**
 * One tunnel pair for a describe block: started (and waited for) in beforeAll, always torn
 * down in afterAll, even when the start timed out halfway.
 */
export function usePair(o: TunnelPairOptions, waitInstalled = true): () => TunnelPair {
  let started: Promise<TunnelPair> | undefined;
  let pair: TunnelPair | undefined;
  beforeAll(async () => {
    started = startTunnelPair(o);
    pair = await started;
    if (waitInstalled) await pair.waitInstalled(20_000);
  }, 60_000);
  afterAll(async () => {
    const p = await started?.catch(() => undefined);
    await p?.destroy();
  }, 30_000);
  return () => {
    if (!pair) throw new Error('the tunnel pair did not start');
    return pair;
  };
}

/** IPv4 reassemblies the kernel of `ns` started so far (/proc/net/snmp Ip: ReasmReqds): outer fragments seen. */
export function reassemblies(ns: string): number {
  const text = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'], { encoding: 'utf8' }).stdout ?? '';
  const [names, values] = text.split('\n').filter((l) => l.startsWith('Ip:'));
  const i = (names ?? '').split(/\s+/).indexOf('ReasmReqds');
  return Number((values ?? '').split(/\s+/)[i]);
}

/**
 * `tsvpn up` again for one end of the pair (after the test killed it), logging to
 * `<dir>/<name>.restart.log`. The caller stops it: the pair's destroy only knows the first one.
 */
export function restartEnd(pair: TunnelPair, end: TunnelEnd, upArgs: string[] = []) {
  const logFile = `${pair.dir}/${end.name}.restart.log`;
  const fd = openSync(logFile, 'a', 0o600);
  const proc = spawn('ip', ['netns', 'exec', end.host.ns, process.execPath, TSVPN_BIN, 'up', end.peerFile, ...upArgs], { stdio: ['ignore', fd, fd], env: { ...process.env, TSVPN_CONTROL_DIR: pair.controlDir } });
  closeSync(fd);
  const exited = new Promise((r) => proc.once('exit', r));
  return { proc, exited, logFile };
}

/**
 * A 10 ms ping from `from` to `to` in `host.ns` for 6 s; after 1.5 s the host's outer veth is
 * readdressed (its address deleted, `newOuter` of the same /24 added), as a roaming client's
 * link is. Returns the longest gap between two answered pings (ping -D timestamps, s) and how
 * many were answered after the move.
 */
export async function pingAcrossReaddress(host: { ns: string; dev: string; outer: string }, newOuter: string, from: string, to: string): Promise<{ longestGap: number; answeredAfter: number; out: string }> {
  const pinging = nsRun(host.ns, 'ping', ['-n', '-D', '-i', '0.01', '-w', '6', '-I', from, to], 20_000);
  await new Promise((r) => setTimeout(r, 1500));
  const movedAt = Date.now() / 1000;
  const re = await nsRun(host.ns, 'sh', ['-c', `ip addr del ${host.outer}/24 dev ${host.dev} && ip addr add ${newOuter}/24 dev ${host.dev}`]);
  if (re.code !== 0) throw new Error(`readdressing ${host.dev} in ${host.ns}: ${re.err}`);
  const { out } = await pinging;
  const at = [...out.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=\d+/gm)].map((m) => Number(m[1]));
  let longestGap = 0;
  for (let i = 1; i < at.length; i++) longestGap = Math.max(longestGap, at[i]! - at[i - 1]!);
  return { longestGap, answeredAfter: at.filter((t) => t > movedAt).length, out };
}
