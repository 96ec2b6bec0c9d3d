// What the tunnel daemons spend to move the bench's traffic: CPU time (utime + stime of every
// thread, /proc/<pid>/stat via proc-stats.ts) and system calls, of both ends together, over
// one iperf3 test. System calls come from `perf stat -e raw_syscalls:sys_enter -p <pids>` (every
// system call of every thread that exists when it attaches) when perf is installed and may
// trace; otherwise from /proc/<pid>/io syscr + syscw, which count only read- and write-type
// calls (read, write, readv, writev...; not sendmsg, recvmsg, sendmmsg or poll), so that
// fallback undercounts and the output says which source was used.

import { readFileSync } from 'node:fs';
import { sleep } from '../../interop/lab/wait.js';
import { sample } from './proc-stats.js';
import { run, start, type Started } from './proc.js';

export const PERF_SOURCE = 'perf stat raw_syscalls:sys_enter';
export const PROC_IO_SOURCE = '/proc/<pid>/io syscr+syscw (read/write-type calls only)';

export interface CostSample {
  cpuS: number;
  syscalls: number;
  source: typeof PERF_SOURCE | typeof PROC_IO_SOURCE;
}

export interface Cost extends CostSample {
  /** iperf3 payload moved during the test, MB (10^6 bytes). */
  mb: number;
  syscallsPerMB: number;
  cpuSPerGB: number;
}

let perfOk: boolean | undefined;
async function hasPerf(): Promise<boolean> {
  perfOk ??= (await run(undefined, 'perf', ['--version']).catch(() => ({ code: 127 }))).code === 0;
  return perfOk;
}

function procIo(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const get = (k: string): number => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(io)?.[1] ?? NaN);
  return get('syscr') + get('syscw');
}

/** Start counting for `pids`; stop() returns what they spent since. */
export async function meterCost(pids: number[]): Promise<{ stop(): Promise<CostSample> }> {
  const cpu0 = pids.reduce((n, p) => n + sample(p).cpuS, 0);
  const io0 = pids.reduce((n, p) => n + procIo(p), 0);
  let perf: Started | null = null;
  if (await hasPerf()) {
    perf = start(undefined, 'perf', ['stat', '-x', ',', '-e', 'raw_syscalls:sys_enter', '-p', pids.join(',')]);
    await sleep(300); // let it attach to every thread before the traffic starts
    if (perf.child.exitCode !== null) perf = null;
  }
  return {
    async stop(): Promise<CostSample> {
      const cpuS = pids.reduce((n, p) => n + sample(p).cpuS, 0) - cpu0;
      const io = pids.reduce((n, p) => n + procIo(p), 0) - io0;
      if (perf) {
        perf.child.kill('SIGINT'); // perf stat prints its counts on SIGINT (not on SIGTERM)
        const killer = setTimeout(() => perf?.child.kill('SIGKILL'), 3000);
        await perf.exited;
        clearTimeout(killer);
        // CSV: "<count>,<unit>,raw_syscalls:sys_enter,..."
        const line = perf.output().split('\n').find((l) => l.includes('raw_syscalls:sys_enter'));
        const count = Number(line?.split(',')[0]);
        if (Number.isFinite(count)) return { cpuS, syscalls: count, source: PERF_SOURCE };
      }
      return { cpuS, syscalls: io, source: PROC_IO_SOURCE };
    },
  };
}

/** Per-MB and per-GB figures for `bytes` of iperf3 payload. */
export function perVolume(s: CostSample, bytes: number): Cost {
  const mb = bytes / 1e6;
  return { ...s, mb, syscallsPerMB: mb > 0 ? s.syscalls / mb : NaN, cpuSPerGB: mb > 0 ? s.cpuS / (mb / 1000) : NaN };
}
