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
