// What a gateway process costs, from /proc (proc(5)): CPU time of the process (every
// thread) and of the children it waited for (tsvpn runs `ip` for routes), and resident
// memory. Read before and after a handshake run.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcSample {
  /** utime + stime of the process, all its threads (s). */
  cpuS: number;
  /** cutime + cstime: children it has waited for, e.g. `ip` (s). */
  childCpuS: number;
  /** VmRSS (KiB). */
  rssKiB: number;
}

let ticks: number | undefined;
/** Clock ticks per second (sysconf(_SC_CLK_TCK), 100 on Linux). */
function clockTicks(): number {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticks;
}

export function sample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after "(comm)": comm may hold spaces and parentheses, so split after the last ')'
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // proc(5): field 3 is state, so fields 14-17 (utime stime cutime cstime) are f[11..14]
  const t = (k: number): number => Number(f[k]) / clockTicks();
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuS: t(11) + t(12), childCpuS: t(13) + t(14), rssKiB: rss ? Number(rss[1]) : NaN };
}

/** The executable name of `pid` (/proc/<pid>/comm), to check that it is the process meant. */
export const commOf = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

/**
 * Wait until `pid` has used less than `cpuS` of CPU (its own and its children's) over `periodMs`,
 * or `timeoutMs` passed: the work a load caused is finished (a gateway may still be applying
 * effects or building status lines after the last answer went out). Returns the seconds waited.
 */
export async function settle(pid: number, o: { periodMs?: number; cpuS?: number; timeoutMs?: number } = {}): Promise<number> {
  const period = o.periodMs ?? 500;
  const t0 = performance.now();
  const total = (s: ProcSample): number => s.cpuS + s.childCpuS;
  let last = total(sample(pid));
  while (performance.now() - t0 < (o.timeoutMs ?? 300_000)) {
    await new Promise((r) => setTimeout(r, period));
    const now = total(sample(pid));
    if (now - last < (o.cpuS ?? 0.02)) break;
    last = now;
  }
  return (performance.now() - t0) / 1000;
}
