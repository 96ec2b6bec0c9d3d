// `tsvpn up --metrics-file <path>`: the tunnel's Prometheus text (src/daemon/metrics.ts)
// rewritten every 15 s for node_exporter's textfile collector. Each write is whole: a
// temporary file in the same directory (not *.prom, so the collector never reads it), mode
// 0644, then renamed over the path. A clean stop removes the file: its numbers would be stale.
import { chmodSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Logger } from './log.js';
import { metricsText } from './metrics.js';
import type { TunnelStatus } from './status.js';

export const METRICS_FILE_INTERVAL_MS = 15_000;

export interface MetricsFile {
  /** Write now (the timer does it every interval). */
  write(): Promise<void>;
  /** Stop the timer and remove the file. */
  stop(): void;
}

export function startMetricsFile(path: string, status: () => TunnelStatus, log: Logger, intervalMs = METRICS_FILE_INTERVAL_MS): MetricsFile {
  const tmp = `${path}.${process.pid}.tmp`;
  let lastError = '';
  let stopped = false;
  const write = async (): Promise<void> => {
    try {
      const text = await metricsText([status()]);
      if (stopped) return;
      writeFileSync(tmp, text, { mode: 0o644 });
      chmodSync(tmp, 0o644); // whatever the umask
      renameSync(tmp, path);
      if (lastError !== '') log.info('metrics', `writing ${path} again`);
      lastError = '';
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (msg !== lastError) log.warn('metrics', `cannot write ${path}: ${msg}`); // once per distinct error, not every 15 s
      lastError = msg;
    }
  };
  const timer = setInterval(() => void write(), intervalMs);
  timer.unref();
  void write();
  return {
    write,
    stop: () => {
      stopped = true;
      clearInterval(timer);
      for (const f of [tmp, path]) {
        try {
          unlinkSync(f);
        } catch {
          // not there
        }
      }
    },
  };
}
