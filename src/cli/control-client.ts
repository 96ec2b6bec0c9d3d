// Client side of the daemon's control socket (the server is src/daemon/control.ts): one
// newline-terminated JSON request per connection to `${dir}/${name}.sock`, one
// newline-terminated JSON reply; {"cmd":"events"} is answered with a stream of lines instead.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

import type { EventLine } from '../daemon/event-lines.js';
import type { ProbeResult } from '../daemon/probe.js';
import type { TunnelStatus } from '../daemon/status.js';
import { whenInDir } from './dir-watch.js';

export const DEFAULT_CONTROL_DIR = '/run/tsvpn';

/** The control directory: TSVPN_CONTROL_DIR when set (tests, demos), else /run/tsvpn. */
export function controlDir(env: NodeJS.ProcessEnv = process.env): string {
  const d = env.TSVPN_CONTROL_DIR;
  return d !== undefined && d !== '' ? d : DEFAULT_CONTROL_DIR;
}

export function socketPath(dir: string, name: string): string {
  return join(dir, `${name}.sock`);
}

/** No daemon answers for this name: no socket file, or a stale one nobody listens on. */
export class NotRunningError extends Error {
  override name = 'NotRunningError';
  constructor(
    readonly tunnel: string,
    readonly path: string,
    stale: boolean,
  ) {
    super(stale ? `tunnel ${tunnel} is not running (stale socket ${path}, nobody listens on it)` : `tunnel ${tunnel} is not running (no ${path})`);
  }
}

/** The control directory or a socket in it is not ours to read: it is root's (mode 0700). */
export class NoPermissionError extends Error {
  override name = 'NoPermissionError';
  constructor(readonly dir: string) {
    super(`the control directory ${dir} needs root (permission denied): run this as root, e.g. with sudo`);
  }
}

const denied = (e: NodeJS.ErrnoException): boolean => e.code === 'EACCES' || e.code === 'EPERM';

/** The daemon's answer was not one JSON line with an "ok" field, or it did not answer in time. */
export class ControlError extends Error {
  override name = 'ControlError';
}

export type ControlRequest = { cmd: 'status' } | { cmd: 'down' } | { cmd: 'reload' } | { cmd: 'metrics' } | ({ cmd: 'probe' } & ProbeOptions);
export type ControlReply = { ok: true; status?: TunnelStatus; summary?: string; metrics?: string; probe?: ProbeResult } | { ok: false; error: string };
/** What `probe` takes (src/daemon/probe.ts): the daemon fills in what is missing. */
export interface ProbeOptions {
  conn?: string;
  size?: number;
  count?: number;
  timeoutMs?: number;
}

/** The error a failed connect to the control socket means. */
function connectError(e: NodeJS.ErrnoException, dir: string, name: string, path: string): Error {
  if (denied(e)) return new NoPermissionError(dir);
  if (e.code === 'ENOENT') return new NotRunningError(name, path, false);
  if (e.code === 'ECONNREFUSED') return new NotRunningError(name, path, true);
  return new ControlError(`tunnel ${name}: ${path}: ${e.message}`);
}

const MAX_REPLY = 4 * 1024 * 1024;

/** Sends one request and returns the daemon's reply. */
export function request(dir: string, name: string, req: ControlRequest, timeoutMs = 5000): Promise<ControlReply> {
  const path = socketPath(dir, name);
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: Error | undefined, reply?: ControlReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new ControlError(`tunnel ${name}: no reply on ${path} within ${timeoutMs} ms`)), timeoutMs);
    const parse = (text: string): void => {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        finish(new ControlError(`tunnel ${name}: reply on ${path} is not JSON: ${text.slice(0, 80)}`));
        return;
      }
      if (typeof v !== 'object' || v === null || typeof (v as { ok?: unknown }).ok !== 'boolean') {
        finish(new ControlError(`tunnel ${name}: reply on ${path} has no "ok" field`));
        return;
      }
      finish(undefined, v as ControlReply);
    };
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: Buffer) => {
      const nl = d.indexOf(0x0a);
      chunks.push(nl >= 0 ? d.subarray(0, nl) : d);
      size += d.length;
      if (nl >= 0) parse(Buffer.concat(chunks).toString('utf8'));
      else if (size > MAX_REPLY) finish(new ControlError(`tunnel ${name}: reply on ${path} longer than ${MAX_REPLY} bytes`));
    });
    sock.on('end', () => {
      if (size > 0) parse(Buffer.concat(chunks).toString('utf8'));
      else finish(new ControlError(`tunnel ${name}: the daemon closed ${path} without a reply`));
    });
    sock.on('error', (e: NodeJS.ErrnoException) => finish(connectError(e, dir, name, path)));
  });
}

/** Status of one tunnel; throws NotRunningError, ControlError, or ControlError with the daemon's error. */
export async function fetchStatus(dir: string, name: string, timeoutMs?: number): Promise<TunnelStatus> {
  const r = await request(dir, name, { cmd: 'status' }, timeoutMs);
  if (!r.ok) throw new ControlError(`tunnel ${name}: ${r.error}`);
  if (r.status === undefined) throw new ControlError(`tunnel ${name}: the status reply has no "status"`);
  return r.status;
}

/** ICMP echo through one of the tunnel's Child SAs (read-only, for `tsvpn diagnose`); throws ControlError with the daemon's reason when refused. */
export async function requestProbe(dir: string, name: string, o: ProbeOptions): Promise<ProbeResult> {
  const r = await request(dir, name, { cmd: 'probe', ...o }, (o.timeoutMs ?? 1000) + 5000);
  if (!r.ok) throw new ControlError(`tunnel ${name}: ${r.error}`);
  if (r.probe === undefined) throw new ControlError(`tunnel ${name}: the probe reply has no "probe" (a daemon older than tsvpn diagnose?)`);
  return r.probe;
}

/** The Prometheus text of one tunnel (src/daemon/metrics.ts). */
export async function fetchMetrics(dir: string, name: string): Promise<string> {
  const r = await request(dir, name, { cmd: 'metrics' });
  if (!r.ok) throw new ControlError(`tunnel ${name}: ${r.error}`);
  if (r.metrics === undefined) throw new ControlError(`tunnel ${name}: the metrics reply has no "metrics"`);
  return r.metrics;
}

/**
 * Follows a tunnel's events: `onLine` gets each line as the daemon sends it. Resolves when
 * the daemon closes the stream (it went down) or `stop` is aborted (the reader went away);
 * rejects as `request` does when it cannot start.
 */
export function followEvents(dir: string, name: string, onLine: (l: EventLine) => void, onStart: () => void = () => {}, stop?: AbortSignal): Promise<void> {
  const path = socketPath(dir, name);
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const end = (): void => {
      sock.destroy();
      resolve();
    };
    if (stop?.aborted) return end();
    stop?.addEventListener('abort', end, { once: true });
    let buf = '';
    let started = false;
    const fail = (e: Error): void => {
      sock.destroy();
      reject(e);
    };
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify({ cmd: 'events' })}\n`));
    sock.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let v: unknown;
        try {
          v = JSON.parse(text);
        } catch {
          return fail(new ControlError(`tunnel ${name}: a line on ${path} is not JSON: ${text.slice(0, 80)}`));
        }
        if (started) {
          onLine(v as EventLine);
          continue;
        }
        const r = v as { ok?: unknown; stream?: unknown; error?: unknown };
        if (r.ok !== true || r.stream !== true) return fail(new ControlError(`tunnel ${name}: ${typeof r.error === 'string' ? r.error : 'the daemon does not stream events'}`));
        started = true;
        onStart();
      }
      if (buf.length > MAX_REPLY) fail(new ControlError(`tunnel ${name}: a line on ${path} longer than ${MAX_REPLY} bytes`));
    });
    sock.on('close', () => (started ? resolve() : reject(new ControlError(`tunnel ${name}: the daemon closed ${path} without a reply`))));
    sock.on('error', (e: NodeJS.ErrnoException) => fail(connectError(e, dir, name, path)));
  });
}

/** Asks the daemon to read its file again; what changed, or ControlError with every problem of the file. */
export async function requestReload(dir: string, name: string): Promise<string> {
  const r = await request(dir, name, { cmd: 'reload' }, 15_000);
  if (!r.ok) throw new ControlError(`tunnel ${name}: ${r.error}`);
  return r.summary ?? '';
}

/**
 * Asks the daemon to go down and waits until its socket file is gone (the daemon unlinks it
 * last, after the Delete exchange, the routes and the TUN), at most `waitMs`.
 */
export async function requestDown(dir: string, name: string, waitMs = 10_000): Promise<void> {
  const r = await request(dir, name, { cmd: 'down' });
  if (!r.ok) throw new ControlError(`tunnel ${name}: ${r.error}`);
  const path = socketPath(dir, name);
  await whenInDir(dir, () => !existsSync(path), {
    timeoutMs: waitMs,
    onTimeout: () => new ControlError(`tunnel ${name} accepted "down" but ${path} is still there after ${waitMs} ms`),
  });
}

/**
 * Names of the tunnels that have a socket in `dir` (sorted); none when the directory is
 * missing. Throws NoPermissionError when the directory is there but not readable.
 */
export function listTunnels(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    if (denied(e as NodeJS.ErrnoException)) throw new NoPermissionError(dir);
    return [];
  }
  return entries
    .filter((f) => f.endsWith('.sock'))
    .filter((f) => {
      try {
        return statSync(join(dir, f)).isSocket();
      } catch {
        return false;
      }
    })
    .map((f) => f.slice(0, -'.sock'.length))
    .sort();
}
