// Two lab hosts (src/io/netns.ts) with a `tsvpn up` process in each: what `tsvpn demo` and
// the end-to-end tests run. Each end is a child process running bin/tsvpn.js under
// `ip netns exec`, logging to a file; the control sockets live in a directory of the
// caller's choice. Everything started here is stopped and removed by destroy().

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { TunnelStatus } from '../daemon/status.js';
import { createTwoHosts, type LabHost, type TwoHosts, type TwoHostsOptions } from '../io/netns.js';
import { fetchStatus, NotRunningError, requestDown, socketPath } from './control-client.js';
import { whenInDir } from './dir-watch.js';

export const TSVPN_BIN = fileURLToPath(new URL('../../bin/tsvpn.js', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

export type Side = 'left' | 'right';

/** A peer.json object (written as JSON; validated by the daemon's loader, not here). */
export type PeerJson = Record<string, unknown> & { name: string };

export interface TunnelEnd {
  side: Side;
  name: string;
  host: LabHost;
  peerFile: string;
  logFile: string;
  proc: ChildProcess;
  /** Exit code of `tsvpn up` (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Set once the process has exited. */
  exitCode: number | null | undefined;
}

export interface TunnelPair {
  hosts: TwoHosts;
  left: TunnelEnd;
  right: TunnelEnd;
  /** Temp directory with the peer files and logs. */
  dir: string;
  controlDir: string;
  status(side: Side): Promise<TunnelStatus>;
  /** Resolves when both ends show an INSTALLED Child SA; rejects after timeoutMs with both logs. */
  waitInstalled(timeoutMs?: number): Promise<void>;
  /** Both logs, headed by file name. */
  logs(): string;
  /** `down` through the control socket on both ends; resolves to both `tsvpn up` exit codes. */
  down(): Promise<{ left: number | null; right: number | null }>;
  /** Stops whatever still runs, deletes the namespaces and the temp directory. Idempotent. */
  destroy(): Promise<void>;
}

export interface TunnelPairOptions {
  hosts?: TwoHostsOptions;
  /** Tunnel names (default demo-left, demo-right). */
  names?: { left: string; right: string };
  /** Control socket directory (default: a `ctl` directory inside the temp directory). */
  controlDir?: string;
  /** Change a generated peer.json before it is written. */
  edit?: (side: Side, peer: PeerJson) => void;
  verbose?: boolean;
  /** Keep the temp directory on destroy (for looking at logs). */
  keepDir?: boolean;
  /** Runs once the namespaces exist, before either `tsvpn up` starts (e.g. to snapshot routes, or start a capture). */
  beforeStart?: (hosts: TwoHosts) => unknown; // a Promise it returns is awaited
  /** More arguments for one side's `tsvpn up` (e.g. --save-keys <dir>). */
  upArgs?: Partial<Record<Side, string[]>>;
}

/** The issue's example peer.json, the fallback when examples/*.json are not there. */
function builtinPeer(side: Side): PeerJson {
  const l = { addr: '198.51.100.1', id: 'left.example', auth: 'psk', ts: ['203.0.113.0/25'] };
  const r = { addr: '198.51.100.2', id: 'right.example', auth: 'psk', ts: ['203.0.113.128/25'] };
  return {
    name: side,
    local: side === 'left' ? l : r,
    remote: side === 'left' ? r : l,
    psk: 'lab-secret-0123456789',
    ike: { proposals: ['aes256gcm16-prfsha256-x25519'], rekey: '4h' },
    child: { proposals: ['aes256gcm16'], mode: 'tunnel', rekey: '1h' },
    start: side === 'left' ? 'initiate' : 'wait',
  };
}

/** Slash-25 of an inner /32 host address on the lab's 203.0.113.0/24 (or the host alone). */
function innerNet(addr: string): string {
  const m = /^203\.0\.113\.(\d+)$/.exec(addr);
  if (!m) return `${addr}/32`;
  return Number(m[1]) < 128 ? '203.0.113.0/25' : '203.0.113.128/25';
}

/** peer.json for one side of the lab: examples/<side>.json with the lab's addresses and a fresh PSK. */
export function labPeer(side: Side, hosts: TwoHosts, name: string, psk: string): PeerJson {
  const file = join(EXAMPLES, `${side}.json`);
  const p: PeerJson = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as PeerJson) : builtinPeer(side);
  const me = side === 'left' ? hosts.left : hosts.right;
  const other = side === 'left' ? hosts.right : hosts.left;
  p.name = name;
  p.local = { ...(p.local as object), addr: me.outer, ts: [innerNet(me.inner)] };
  p.remote = { ...(p.remote as object), addr: other.outer, ts: [innerNet(other.inner)] };
  p.psk = psk;
  p.start = side === 'left' ? 'initiate' : 'wait';
  return p;
}

/** `tsvpn up` children still running: told to go down if this process exits without destroy(). */
const running = new Set<ChildProcess>();
let exitHook = false;

function track(proc: ChildProcess): void {
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  if (exitHook) return;
  exitHook = true;
  // SIGTERM makes `tsvpn up` send its Delete, remove its routes and TUN, and exit on its own
  process.on('exit', () => {
    for (const p of running) p.kill('SIGTERM');
  });
}

function startEnd(side: Side, host: LabHost, peer: PeerJson, dir: string, ctl: string, verbose: boolean, extra: string[] = []): TunnelEnd {
  const peerFile = join(dir, `${peer.name}.json`);
  writeFileSync(peerFile, JSON.stringify(peer, null, 2) + '\n', { mode: 0o600 });
  const logFile = join(dir, `${peer.name}.log`);
  const fd = openSync(logFile, 'a', 0o600);
  const args = ['netns', 'exec', host.ns, process.execPath, TSVPN_BIN, 'up', peerFile, ...(verbose ? ['-v'] : []), ...extra];
  const proc = spawn('ip', args, { stdio: ['ignore', fd, fd], env: { ...process.env, TSVPN_CONTROL_DIR: ctl } });
  closeSync(fd);
  track(proc);
  const end: TunnelEnd = { side, name: peer.name, host, peerFile, logFile, proc, exited: Promise.resolve(null), exitCode: undefined };
  end.exited = new Promise((resolve) => {
    proc.once('error', () => {
      end.exitCode = null;
      resolve(null);
    });
    proc.once('exit', (code) => {
      end.exitCode = code;
      resolve(code);
    });
  });
  return end;
}

function installed(s: TunnelStatus): boolean {
  return s.ikeSas.some((sa) => sa.children.some((c) => c.state === 'INSTALLED'));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function stopEnd(end: TunnelEnd, ms: number): Promise<void> {
  if (end.exitCode !== undefined) return;
  end.proc.kill('SIGTERM');
  const done = await Promise.race([end.exited.then(() => true), sleep(ms).then(() => false)]);
  if (!done) {
    end.proc.kill('SIGKILL');
    await end.exited;
  }
}

/** Rejects when `tsvpn up` exits (the wait it races is then pointless). */
function exitError(end: TunnelEnd, what: string): Promise<Error> {
  return end.exited.then((code) => new Error(`tsvpn up for ${end.name} exited with code ${code} ${what}:\n${readLog(end)}`));
}

/** Until `tsvpn up` has opened its control socket (inotify on the control directory). */
async function waitListening(end: TunnelEnd, ctl: string, ms: number): Promise<void> {
  await whenInDir(ctl, () => existsSync(socketPath(ctl, end.name)), {
    timeoutMs: ms,
    abort: exitError(end, 'before it opened its control socket'),
    onTimeout: async () => {
      await stopEnd(end, 3000);
      return new Error(`tsvpn up for ${end.name} did not open its control socket within ${ms / 1000} s:\n${readLog(end)}`);
    },
  });
}

function readLog(e: TunnelEnd): string {
  try {
    return readFileSync(e.logFile, 'utf8');
  } catch {
    return '(no log)';
  }
}

export async function startTunnelPair(o: TunnelPairOptions = {}): Promise<TunnelPair> {
  const hosts = createTwoHosts({ prefix: 'tsvpn', ...o.hosts });
  let dir = '';
  let left: TunnelEnd | undefined;
  let right: TunnelEnd | undefined;
  const ctl = (): string => o.controlDir ?? join(dir, 'ctl');
  try {
    dir = mkdtempSync(join(tmpdir(), 'tsvpn-lab-'));
    mkdirSync(ctl(), { recursive: true, mode: 0o700 });
    const names = o.names ?? { left: 'demo-left', right: 'demo-right' };
    // a prefix: a PSK that starts with 0x or 0s is read as hex or base64 (swanctl), 1 in 2048 of random base64url ones
    const psk = `lab-${randomBytes(24).toString('base64url')}`;
    const peers = { left: labPeer('left', hosts, names.left, psk), right: labPeer('right', hosts, names.right, psk) };
    o.edit?.('left', peers.left);
    o.edit?.('right', peers.right);
    await o.beforeStart?.(hosts);
    // the responder first, and the initiator once the responder's control socket exists
    // (it opens UDP 500/4500 before that), so the first IKE_SA_INIT finds it listening
    right = startEnd('right', hosts.right, peers.right, dir, ctl(), o.verbose ?? false, o.upArgs?.right);
    await waitListening(right, ctl(), 20_000);
    left = startEnd('left', hosts.left, peers.left, dir, ctl(), o.verbose ?? false, o.upArgs?.left);
  } catch (e) {
    for (const end of [left, right]) if (end) await stopEnd(end, 3000);
    hosts.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return pairOf(hosts, left, right, dir, ctl(), o);
}

function pairOf(hosts: TwoHosts, left: TunnelEnd, right: TunnelEnd, dir: string, ctl: string, o: TunnelPairOptions): TunnelPair {
  let destroyed = false;
  const ends = { left, right };

  const logs = (): string =>
    [left, right]
      .map((e) => `----- ${e.logFile} (${e.host.ns}) -----\n${readLog(e)}`)
      .join('\n');

  const pair: TunnelPair = {
    hosts,
    left,
    right,
    dir,
    controlDir: ctl,
    status: (side) => fetchStatus(ctl, ends[side].name),
    // each `tsvpn up` prints "tunnel <name> is up: ..." on stdout (its log file) when a
    // Child SA is installed: wait for that line from both (inotify on the directory of the
    // logs), then confirm with their status
    async waitInstalled(timeoutMs = 20_000) {
      const saidUp = (e: TunnelEnd): boolean => {
        const lines = readLog(e).split('\n').filter((l) => l.startsWith(`tunnel ${e.name} is `));
        return lines.at(-1)?.startsWith(`tunnel ${e.name} is up: `) ?? false;
      };
      const bothInstalled = async (): Promise<boolean> => {
        if (!saidUp(left) || !saidUp(right)) return false;
        const s = await Promise.all([left, right].map((e) => fetchStatus(ctl, e.name, 2000).catch(() => undefined)));
        return s.every((x) => x !== undefined && installed(x));
      };
      const seen = async (e: TunnelEnd): Promise<string> => {
        try {
          const s = await fetchStatus(ctl, e.name, 2000);
          return s.lastFailure ? `last failure ${s.lastFailure.row}: ${s.lastFailure.message}` : `${s.ikeSas.length} IKE SA(s), none with an INSTALLED Child SA`;
        } catch (err) {
          return (err as Error).message;
        }
      };
      const exit = (e: TunnelEnd): Promise<Error> => e.exited.then((code) => new Error(`tsvpn up for ${e.name} exited with code ${code} before the tunnel came up\n${logs()}`));
      await whenInDir(dir, bothInstalled, {
        timeoutMs,
        abort: Promise.race([exit(left), exit(right)]),
        onTimeout: async () => new Error(`the tunnel did not come up within ${timeoutMs / 1000} s (left: ${await seen(left)}; right: ${await seen(right)})\n${logs()}`),
      });
    },
    logs,
    async down() {
      const codes: { left: number | null; right: number | null } = { left: null, right: null };
      for (const side of ['left', 'right'] as const) {
        const e = ends[side];
        // a Ctrl-C in a terminal reaches `tsvpn up` too, which may already be going down
        // on its own: then there is no socket to ask, and its exit code is what counts
        if (e.exitCode === undefined) await requestDown(ctl, e.name).catch((err: unknown) => (e.exitCode === undefined && !(err instanceof NotRunningError) ? Promise.reject(err) : undefined));
        codes[side] = await Promise.race([e.exited, sleep(10_000).then(() => null)]);
      }
      return codes;
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const e of [left, right]) {
        if (e.exitCode === undefined && existsSync(socketPath(ctl, e.name))) {
          await requestDown(ctl, e.name, 3000).catch(() => undefined);
        }
      }
      await Promise.all([stopEnd(left, 3000), stopEnd(right, 3000)]);
      hosts.destroy();
      if (!o.keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return pair;
}
