// tsvpn as a lab peer: `node bin/tsvpn.js up <peer.json> -v` inside a namespace, with a
// private control directory (TSVPN_CONTROL_DIR) so runs never meet a real /run/tsvpn.
// Its view is read through the control socket ({"cmd":"status"}, answered with a
// TunnelStatus) while polling, and through `tsvpn status --json <name>` for the record a
// case keeps (what an operator would run).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { fetchStatus } from '../../src/cli/control-client.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { sleep, until } from './wait.js';

export type { TunnelStatus } from '../../src/daemon/status.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const TSVPN_BIN = join(REPO, 'bin/tsvpn.js');

export class TsvpnLabError extends Error {
  override name = 'TsvpnLabError';
}

export interface TsvpnOptions {
  ns: string;
  /** The peer.json object (written as-is; relative file paths resolve in the run directory). */
  peer: Record<string, unknown> & { name: string };
  /** Extra files next to peer.json (certificates, keys, psk file), by relative name. */
  files?: Record<string, string>;
  /** Extra environment for the daemon (e.g. a PSK variable). */
  env?: Record<string, string>;
  keep?: boolean;
}

export interface Tsvpn {
  readonly name: string;
  readonly dir: string;
  readonly controlDir: string;
  readonly pid: number;
  /** Status through the control socket; undefined while no daemon answers. */
  status(): Promise<TunnelStatus | undefined>;
  /** `tsvpn status --json <name>` as an operator runs it. */
  statusCli(): { code: number | null; status?: TunnelStatus; output: string };
  /** `tsvpn down <name>` (CLI); resolves with its exit code and output. */
  downCli(): { code: number | null; output: string };
  /** Poll status() until pred holds or the daemon exits; rejects on timeout. */
  waitFor(pred: (s: TunnelStatus) => boolean, timeoutMs: number, what: string): Promise<TunnelStatus>;
  /** Daemon stderr so far (its log). */
  log(): string;
  /** Exit code once the daemon has exited (null if killed by a signal), undefined while it runs. */
  exitCode(): number | null | undefined;
  /** Resolves with the exit code when the daemon exits. */
  readonly exited: Promise<number | null>;
  /** SIGTERM (SIGKILL after 5 s), remove the run directory. Idempotent. */
  stop(): Promise<number | null>;
}

export function startTsvpn(o: TsvpnOptions): Tsvpn {
  const dir = mkdtempSync(join(tmpdir(), `tsvpn-run-${o.peer.name}-`));
  const controlDir = join(dir, 'control');
  for (const [rel, text] of Object.entries(o.files ?? {})) writeFileSync(join(dir, rel), text, { mode: 0o600 });
  const peerFile = join(dir, 'peer.json');
  writeFileSync(peerFile, JSON.stringify(o.peer, null, 2), { mode: 0o600 });
  const env = { ...process.env, ...o.env, TSVPN_CONTROL_DIR: controlDir };

  const child: ChildProcess = spawn('ip', ['netns', 'exec', o.ns, process.execPath, TSVPN_BIN, 'up', peerFile, '-v'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((res) => child.on('exit', (c, sig) => { code = sig ? null : c; res(code); }));
  let stopped: Promise<number | null> | undefined;

  const cli = (args: string[]) => spawnSync(process.execPath, [TSVPN_BIN, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });

  const status = async (): Promise<TunnelStatus | undefined> => {
    try {
      return await fetchStatus(controlDir, o.peer.name, 3000);
    } catch {
      return undefined;
    }
  };

  return {
    name: o.peer.name,
    dir,
    controlDir,
    pid: child.pid ?? -1,
    status,
    statusCli() {
      const r = cli(['status', '--json', o.peer.name]);
      let s: TunnelStatus | undefined;
      try {
        const v = JSON.parse(r.stdout) as TunnelStatus | TunnelStatus[];
        s = Array.isArray(v) ? v[0] : v;
      } catch {
        s = undefined;
      }
      return { code: r.status, status: s, output: `${r.stdout}${r.stderr}` };
    },
    downCli() {
      const r = cli(['down', o.peer.name]);
      return { code: r.status, output: `${r.stdout}${r.stderr}` };
    },
    waitFor(pred, timeoutMs, what) {
      let last: TunnelStatus | undefined;
      return until(
        async () => {
          const s = await status();
          if (s) last = s;
          if (s && pred(s)) return s;
          if (code !== undefined) throw new TsvpnLabError(`tsvpn exited (${code}) while waiting for ${what}; last status: ${JSON.stringify(last)}`);
          return undefined;
        },
        { timeout: timeoutMs, what: `tsvpn: ${what}`, show: () => `status ${JSON.stringify(last)}` },
      );
    },
    log: () => out,
    exitCode: () => code,
    exited,
    stop() {
      stopped ??= (async () => {
        if (code === undefined) {
          child.kill('SIGTERM');
          await Promise.race([exited, sleep(5000)]);
          if (code === undefined) {
            child.kill('SIGKILL');
            await Promise.race([exited, sleep(2000)]);
          }
        }
        if (!o.keep) rmSync(dir, { recursive: true, force: true });
        return code ?? null;
      })();
      return stopped;
    },
  };
}

/** True when tsvpn has an ESTABLISHED IKE SA with an INSTALLED Child SA. */
export function tsvpnInstalled(s: TunnelStatus): boolean {
  return s.ikeSas.some((sa) => sa.state === 'ESTABLISHED' && sa.children.some((c) => c.state === 'INSTALLED'));
}
