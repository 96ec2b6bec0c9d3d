// Daemons as child processes in lab namespaces, for the namespace tests of test/daemon.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until as waitUntil, WaitTimeout } from '../../../interop/lab/wait.js';
import { controlRequest } from '../../../src/daemon/control.js';
import type { TunnelStatus } from '../../../src/daemon/status.js';

const RUNNER = fileURLToPath(new URL('./run-daemon.ts', import.meta.url));

export interface DaemonProc {
  name: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
  log(): string;
  status(): Promise<TunnelStatus | undefined>;
  request(cmd: string): Promise<unknown>;
  kill(signal?: 'KILL' | 'TERM'): void;
}

/** Write `peer` to `dir` and run it under `ip netns exec ns`; logs go to <dir>/<name>.log. */
export function runDaemon(ns: string, peer: { name: string }, dir: string, ctl: string): DaemonProc {
  const file = join(dir, `${peer.name}.json`);
  const logFile = join(dir, `${peer.name}.log`);
  writeFileSync(file, JSON.stringify(peer), { mode: 0o600 });
  const proc = spawn('sh', ['-c', `exec ip netns exec ${ns} "${process.execPath}" --import tsx "${RUNNER}" "${file}" "${ctl}" >>"${logFile}" 2>&1`]);
  const sock = join(ctl, `${peer.name}.sock`);
  return {
    name: peer.name,
    proc,
    exited: new Promise((r) => proc.once('exit', (c) => r(c))),
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    status: async () => {
      const r = await controlRequest(sock, { cmd: 'status' }).catch(() => undefined);
      return r?.ok ? (r.status as TunnelStatus) : undefined;
    },
    request: (cmd) => controlRequest(sock, { cmd }),
    kill: (signal = 'TERM') => {
      if (proc.exitCode === null && proc.signalCode === null && proc.pid) spawnSync('kill', [`-${signal}`, String(proc.pid)]);
    },
  };
}

/**
 * `until` (interop/lab/wait.ts) for the daemon tests: probe every 200 ms until `fn` returns
 * something other than undefined (a probe that throws counts as undefined: the daemon may not
 * listen yet); on timeout the error carries the daemons' logs.
 */
export async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined, logs: () => string): Promise<T> {
  try {
    return (await waitUntil(() => Promise.resolve().then(fn).catch(() => undefined), { what, timeout: timeoutMs, interval: 200, done: (v) => v !== undefined })) as T;
  } catch (e) {
    if (e instanceof WaitTimeout) e.message += `\n${logs()}`;
    throw e;
  }
}

export const installed = (s: TunnelStatus | undefined): boolean =>
  !!s?.ikeSas.some((sa) => sa.state === 'ESTABLISHED' && sa.children.some((c) => c.state === 'INSTALLED'));
