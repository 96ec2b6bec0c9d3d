// Traffic through a tunnel between two lab namespaces: ping between inner addresses and a
// TCP transfer in both directions checked by SHA-256 on each end (tcp-hash.mjs).

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { nsExec } from '../../src/io/netns.js';
import { sleep } from './wait.js';

const TCP_HASH = join(dirname(fileURLToPath(import.meta.url)), 'tcp-hash.mjs');

export interface TrafficResult {
  ok: boolean;
  /** What was seen (command output, hashes), for the evidence column. */
  detail: string;
}

/** `ping -c count` from `from` (source address) to `to` inside `ns`. */
export function ping(ns: string, from: string, to: string, count = 3): TrafficResult {
  const r = nsExec(ns, 'ping', ['-n', '-c', String(count), '-i', '0.2', '-W', '2', '-I', from, to], { timeout: 20_000 });
  const summary = String(r.stdout ?? '').split('\n').find((l: string) => l.includes('packets transmitted')) ?? `${r.stdout}${r.stderr}`.trim();
  return { ok: r.status === 0, detail: `ping ${from} -> ${to}: ${summary}` };
}

export interface PingRun {
  /**
   * Stop and count: `sent` echo requests, the `lost` ones among them (no reply), and a summary.
   * The last half second of requests is not judged: their replies may still be on the way
   * when ping is stopped (ping's own summary counts those as lost); stop() waits 1 s first.
   */
  stop(): Promise<{ sent: number; lost: number[]; detail: string }>;
}

/** `ping -i interval` from `from` to `to` inside `ns` until stopped: loss across an event (a reauthentication). */
export function pingDuring(ns: string, from: string, to: string, intervalS = 0.01): PingRun {
  // `ip netns exec` execs in place, so the signal reaches ping
  const p = spawn('ip', ['netns', 'exec', ns, 'ping', '-n', '-i', String(intervalS), '-I', from, to], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise<void>((r) => p.on('close', () => r()));
  return {
    async stop() {
      await sleep(1000); // the event that was waited for is judged in full
      p.kill('SIGINT');
      await Promise.race([closed, sleep(3000)]);
      const m = /(\d+) packets transmitted/.exec(out);
      const sent = m ? Number(m[1]) : 0;
      const answered = new Set([...out.matchAll(/bytes from .*icmp_seq=(\d+)/g)].map((x) => Number(x[1])));
      const judged = Math.max(0, sent - Math.ceil(0.5 / intervalS));
      const lost: number[] = [];
      for (let seq = 1; seq <= judged; seq++) if (!answered.has(seq)) lost.push(seq);
      const summary = out.split('\n').find((l) => l.includes('packets transmitted')) ?? out.trim().slice(-200);
      const shown = lost.length > 10 ? `${lost.slice(0, 10).join(',')},...` : lost.join(',');
      return { sent, lost, detail: `ping -i ${intervalS} ${from} -> ${to}: ${sent} sent, ${lost.length} of the first ${judged} unanswered${lost.length ? ` (icmp_seq ${shown})` : ''}; ${summary}` };
    },
  };
}

interface Side {
  sent?: { bytes: number; sha256: string };
  received?: { bytes: number; sha256: string };
}

type NodeRun = Promise<{ code: number | null; out: string; err: string }> & { kill(): void };

function runNode(ns: string, args: string[], onLine?: (l: string) => void): NodeRun {
  let kill = (): void => undefined;
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, TCP_HASH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      const text = d.toString();
      out += text;
      if (onLine) for (const l of text.split('\n')) if (l) onLine(l);
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => resolve({ code, out, err }));
    kill = () => p.kill('SIGTERM');
  });
  return Object.assign(done, { kill: () => kill() });
}

const lastJson = (text: string): Side => {
  const line = text.split('\n').filter((l) => l.startsWith('{')).pop();
  try {
    return line ? (JSON.parse(line) as Side) : {};
  } catch {
    return {};
  }
};

/**
 * One TCP connection from clientAddr (in clientNs) to serverAddr:port (in serverNs):
 * `bytes` each way; ok when each side received exactly what the other sent (same SHA-256).
 */
export async function tcpTransfer(o: { serverNs: string; serverAddr: string; clientNs: string; clientAddr: string; port: number; bytes: number }): Promise<TrafficResult> {
  let listening!: () => void;
  const ready = new Promise<void>((r) => (listening = r));
  const server = runNode(o.serverNs, ['server', o.serverAddr, String(o.port), String(o.bytes)], (l) => {
    if (l === 'LISTENING') listening();
  });
  const early = await Promise.race([ready.then(() => undefined), server]);
  if (early) return { ok: false, detail: `tcp server on ${o.serverAddr}:${o.port} did not start: ${early.err.trim()}` };
  const client = await runNode(o.clientNs, ['client', o.clientAddr, o.serverAddr, String(o.port), String(o.bytes)]);
  if (client.code !== 0) {
    // the server would wait for a connection until its own timeout: stop it here
    server.kill();
    return { ok: false, detail: `tcp ${o.clientAddr} -> ${o.serverAddr}:${o.port}: client failed (${client.code}): ${client.err.trim()}` };
  }
  const srv = await server;
  const c = lastJson(client.out);
  const s = lastJson(srv.out);
  const up = c.sent && s.received && c.sent.sha256 === s.received.sha256 && c.sent.bytes === o.bytes;
  const down = s.sent && c.received && s.sent.sha256 === c.received.sha256 && s.sent.bytes === o.bytes;
  return {
    ok: Boolean(up && down),
    detail:
      `tcp ${o.clientAddr} -> ${o.serverAddr}:${o.port}: ` +
      `up ${c.sent?.bytes ?? '?'}B sha256 ${c.sent?.sha256.slice(0, 12) ?? '?'} / got ${s.received?.bytes ?? '?'}B ${s.received?.sha256.slice(0, 12) ?? '?'}; ` +
      `down ${s.sent?.bytes ?? '?'}B ${s.sent?.sha256.slice(0, 12) ?? '?'} / got ${c.received?.bytes ?? '?'}B ${c.received?.sha256.slice(0, 12) ?? '?'}` +
      (srv.code !== 0 ? `; server exit ${srv.code}: ${srv.err.trim()}` : ''),
  };
}
