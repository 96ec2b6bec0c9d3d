// `tsvpn up --metrics-listen`: GET /metrics on a loopback port answers the Prometheus text; nothing else does.
import { afterEach, describe, expect, it } from 'vitest';

import { startMetricsHttp, type MetricsHttp } from '../../src/daemon/metrics-http.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { upStatus } from '../cli/fixtures.js';

let http: MetricsHttp | undefined;
afterEach(async () => {
  await http?.close();
  http = undefined;
});

describe('metrics over HTTP on loopback', () => {
  it('answers GET /metrics with the text format; 404 elsewhere, 405 for other methods, 503 while starting', async () => {
    let status: TunnelStatus | undefined;
    http = await startMetricsHttp('127.0.0.1', 0, () => status);
    const url = (p: string) => `http://127.0.0.1:${http!.port}${p}`;
    expect((await fetch(url('/metrics'))).status).toBe(503);
    status = upStatus();
    const r = await fetch(url('/metrics'));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await r.text()).toContain('tsvpn_esp_out_bytes_total{tunnel="left",connection="left"} 5678');
    expect((await fetch(url('/'))).status).toBe(404);
    expect((await fetch(url('/metrics'), { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('refuses to start on an address it cannot bind, with the reason', async () => {
    http = await startMetricsHttp('127.0.0.1', 0, upStatus);
    await expect(startMetricsHttp('127.0.0.1', http.port, upStatus)).rejects.toThrow(/EADDRINUSE/);
  });
});
