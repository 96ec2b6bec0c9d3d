// `tsvpn diagnose [name] [--json]`: the seed's troubleshooting flow as a command. Gathers
// the facts live (src/cli/diagnose-facts.ts: status and probes over the control socket, `ip`
// and `nft` read-only), judges the seven steps (src/cli/diagnose-steps.ts) and prints them.
// Exit code 1 when a step fails, 0 otherwise. It never changes the configuration.
import { spawnSync } from 'node:child_process';

import { fetchStatus, requestProbe } from './control-client.js';
import { gatherFacts, type HostIo, type RunResult } from './diagnose-facts.js';
import { diagnoseSteps, exitCodeOf, firstFailing, formatSteps } from './diagnose-steps.js';
import type { Io } from './streams.js';

// Implementation choice: an `ip` or `nft` command that takes longer than this is reported as failed.
const COMMAND_TIMEOUT_MS = 5_000;

function run(cmd: string, args: readonly string[]): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
  return { code: r.status ?? 1, out: r.stdout ?? '', err: r.stderr || (r.error ? r.error.message : '') };
}

/** The host and the daemon `name` as diagnose sees them. */
export function hostIo(dir: string, name: string): HostIo {
  return {
    run,
    status: () => (name === '' ? Promise.reject(new Error(`no tsvpn daemon is running (no control socket in ${dir})`)) : fetchStatus(dir, name)),
    probe: (o) => requestProbe(dir, name, o),
  };
}

/** Runs the seven steps for `name` ('' when no daemon runs at all) and prints them. */
export async function runDiagnose(name: string, dir: string, json: boolean, io: Io, host: HostIo = hostIo(dir, name)): Promise<number> {
  const facts = await gatherFacts(name || '(none)', host);
  const steps = diagnoseSteps(facts);
  if (json) {
    const first = firstFailing(steps);
    io.out(`${JSON.stringify({ tunnel: name || null, ok: first === undefined, firstFailing: first ?? null, steps }, null, 2)}\n`);
  } else {
    io.out(`${formatSteps(name || '(no tunnel running)', steps)}\n`);
  }
  return exitCodeOf(steps);
}
