// iperf3 between the two lab hosts: a one-off server in the right namespace bound to its
// inner address, a client in the left namespace bound to the left inner address, `-J`
// output reduced to the figures the bench prints. Each test gets a fresh one-off server,
// so a test that dies half-way cannot leave a busy server for the next one.

import { until } from '../../interop/lab/wait.js';
import { BenchError, must, run, start } from './proc.js';

export interface IperfEnds {
  /** Namespace and address of the client (left inner host). */
  client: { ns: string; addr: string };
  /** Namespace and address of the server (right inner host). */
  server: { ns: string; addr: string };
  port?: number;
}

export interface TcpResult {
  /** Goodput the receiver saw, Mbit/s. */
  mbps: number;
  /** TCP retransmissions counted by the sender. */
  retransmits: number;
  seconds: number;
}

export interface UdpResult {
  /** What the sender put on the wire, Mbit/s (iperf3 payload bits). */
  offeredMbps: number;
  /** What arrived: offered minus the datagrams the receiver counted as lost, Mbit/s. */
  receivedMbps: number;
  /** Datagrams lost, percent of those sent. */
  lossPercent: number;
  seconds: number;
}

/** Run one TCP test of `seconds` seconds. */
export async function iperfTcp(e: IperfEnds, seconds: number): Promise<TcpResult> {
  const j = await client(e, ['-t', String(seconds)], seconds);
  const recv = field(j, ['end', 'sum_received']);
  const sent = field(j, ['end', 'sum_sent']);
  return {
    mbps: num(recv, 'bits_per_second') / 1e6,
    retransmits: typeof sent.retransmits === 'number' ? sent.retransmits : 0,
    seconds: num(recv, 'seconds'),
  };
}

/** Run one UDP test: `rate` as iperf3's -b (e.g. "300M"), datagrams of `len` bytes. */
export async function iperfUdp(e: IperfEnds, seconds: number, rate: string, len = 1300): Promise<UdpResult> {
  const j = await client(e, ['-u', '-b', rate, '-l', String(len), '-t', String(seconds)], seconds);
  const sent = field(j, ['end', 'sum_sent']);
  const recv = field(j, ['end', 'sum_received']);
  // iperf3 3.12 reports the receiver's byte count as the sender's for UDP; the receiver's
  // lost_percent is the figure it actually measured, so received = offered x (1 - loss).
  const offered = num(sent, 'bits_per_second') / 1e6;
  const loss = num(recv, 'lost_percent');
  return { offeredMbps: offered, receivedMbps: offered * (1 - loss / 100), lossPercent: loss, seconds: num(sent, 'seconds') };
}

async function client(e: IperfEnds, extra: string[], seconds: number): Promise<Record<string, unknown>> {
  const port = String(e.port ?? 5201);
  const server = start(e.server.ns, 'iperf3', ['-s', '-1', '-B', e.server.addr, '-p', port]);
  try {
    await until(
      async () => {
        const r = await run(e.server.ns, 'ss', ['-Hltn', `sport = :${port}`]);
        if (server.child.exitCode !== null) throw new BenchError(`iperf3 server exited: ${server.output().trim()}`);
        return r.stdout.includes(`:${port}`);
      },
      { timeout: 5000, interval: 50, what: `iperf3 server on ${e.server.addr}:${port} in ${e.server.ns}` },
    );
    const r = await run(
      e.client.ns,
      'iperf3',
      ['-c', e.server.addr, '-B', e.client.addr, '-p', port, '--connect-timeout', '5000', '-J', ...extra],
      { timeoutMs: (seconds + 30) * 1000 },
    );
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      throw new BenchError(`iperf3 client exited ${r.code} without JSON: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
    }
    if (typeof j.error === 'string') throw new BenchError(`iperf3: ${j.error}`);
    return j;
  } finally {
    await server.stop(1000);
  }
}

function field(j: Record<string, unknown>, path: string[]): Record<string, unknown> {
  let v: unknown = j;
  for (const k of path) {
    if (typeof v !== 'object' || v === null || !(k in v)) throw new BenchError(`iperf3 JSON has no ${path.join('.')}`);
    v = (v as Record<string, unknown>)[k];
  }
  return v as Record<string, unknown>;
}

function num(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BenchError(`iperf3 JSON field ${k} is not a number`);
  return v;
}

/** iperf3 must be installed in the host's PATH (it runs inside the namespaces). */
export async function iperfVersion(): Promise<string> {
  return (await must(undefined, 'iperf3', ['--version'])).split('\n')[0] ?? '';
}
