// `tsvpn up --metrics-listen 127.0.0.1:9474`: the tunnel's Prometheus text (src/daemon/metrics.ts)
// over HTTP on a loopback address (the CLI refuses any other, src/cli/listen-address.ts).
// GET /metrics only; the status is read at each request.
import { createServer, type Server } from 'node:http';
import { Registry } from 'prom-client';
import { metricsText } from './metrics.js';
import type { TunnelStatus } from './status.js';

export interface MetricsHttp {
  /** The port it listens on (the one asked for, or the kernel's choice for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Listen on host:port; `status` is undefined while the daemon is still starting (503). Rejects when the address cannot be bound. */
export async function startMetricsHttp(host: string, port: number, status: () => TunnelStatus | undefined): Promise<MetricsHttp> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics is here\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('GET only\n');
    const s = status();
    if (s === undefined) return void res.writeHead(503, { 'content-type': 'text/plain' }).end('the tunnel is still starting\n');
    metricsText([s]).then(
      (text) => res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE }).end(req.method === 'HEAD' ? undefined : text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => {}); // a failing accept must not take the tunnel down
  server.unref(); // the tunnel keeps the process alive, not this
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
