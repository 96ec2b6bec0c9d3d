// The control socket: `${dir}/${name}.sock`, mode 0600, one newline-terminated
// JSON request per connection, one JSON line back. {"cmd":"status"} and {"cmd":"down"}. A
// streaming command ({"cmd":"events"}) answers {"ok":true,"stream":true} and then keeps the
// connection open, one JSON line per event, until the client goes away.
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

export class DaemonError extends Error {
  override name = 'DaemonError';
}

export type ControlReply = { ok: true; [k: string]: unknown } | { ok: false; error: string };
/** A streaming answer: `start` gets the client's socket and returns what stops the stream when it closes. */
export interface ControlStream {
  stream: (sock: Socket) => () => void;
}
export type ControlHandler = (req: { cmd: string; [k: string]: unknown }) => Promise<ControlReply | ControlStream> | ControlReply | ControlStream;

const MAX_REQUEST = 64 * 1024;

const isStream = (r: ControlReply | ControlStream): r is ControlStream => typeof (r as Partial<ControlStream>).stream === 'function';

export const socketPath = (dir: string, name: string): string => join(dir, `${name}.sock`);

/** Is something answering on this unix socket? */
export function probeSocket(path: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (v: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/**
 * Listen on `${dir}/${name}.sock`. A live socket of that name means the tunnel is already
 * up (DaemonError); a stale file from a crashed daemon is replaced.
 */
export async function startControl(dir: string, name: string, handler: ControlHandler): Promise<ControlServer> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = socketPath(dir, name);
  if (existsSync(path)) {
    if (await probeSocket(path)) throw new DaemonError(`tunnel ${name} is already up (control socket ${path} answers); run \`tsvpn down ${name}\` first`);
    unlinkSync(path);
  }
  const streams = new Set<Socket>(); // closed with the server: they would keep it open
  const server = createServer((sock) => serve(sock, handler, streams));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  server.on('error', () => {}); // a failing accept must not crash the daemon
  server.unref(); // the tunnel's sockets keep the process alive, not the control socket
  return {
    path,
    close: () => {
      for (const s of streams) s.destroy();
      return closeServer(server, path);
    },
  };
}

function closeServer(server: Server, path: string): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  });
}

function serve(sock: Socket, handler: ControlHandler, streams: Set<Socket>): void {
  let buf = '';
  let answered = false;
  sock.setEncoding('utf8');
  sock.on('error', () => {});
  const reply = (r: ControlReply): void => {
    if (answered) return;
    answered = true;
    sock.end(`${JSON.stringify(r)}\n`);
  };
  sock.on('data', (chunk: string) => {
    if (answered) return;
    buf += chunk;
    if (buf.length > MAX_REQUEST) return reply({ ok: false, error: `request longer than ${MAX_REQUEST} bytes` });
    const nl = buf.indexOf('\n');
    if (nl < 0) return;
    let req: unknown;
    try {
      req = JSON.parse(buf.slice(0, nl));
    } catch {
      return reply({ ok: false, error: 'request is not JSON' });
    }
    if (typeof req !== 'object' || req === null || typeof (req as { cmd?: unknown }).cmd !== 'string') {
      return reply({ ok: false, error: 'request must be an object with a string "cmd"' });
    }
    Promise.resolve()
      .then(() => handler(req as { cmd: string }))
      .then(
        (r) => (isStream(r) ? stream(sock, r) : reply(r)),
        (e: unknown) => reply({ ok: false, error: e instanceof Error ? e.message : String(e) }),
      );
  });
  const stream = (s: Socket, r: ControlStream): void => {
    if (answered) return;
    answered = true;
    s.write(`${JSON.stringify({ ok: true, stream: true })}\n`);
    const stop = r.stream(s);
    streams.add(s);
    s.once('close', () => {
      streams.delete(s);
      stop();
    });
    if (s.destroyed) {
      streams.delete(s);
      stop();
    }
  };
  sock.on('end', () => {
    if (!answered && buf.length > 0 && !buf.includes('\n')) reply({ ok: false, error: 'request must end with a newline' });
  });
}

/** Client side: send one request, read one JSON line back. */
export function controlRequest(path: string, req: object, timeoutMs = 5000): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    let buf = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new DaemonError(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.once('connect', () => s.write(`${JSON.stringify(req)}\n`));
    s.on('data', (c: string) => (buf += c));
    s.once('error', (e) => {
      clearTimeout(t);
      reject(new DaemonError(`control socket ${path}: ${e.message}`));
    });
    s.once('close', () => {
      clearTimeout(t);
      const line = buf.split('\n')[0];
      try {
        resolve(JSON.parse(line) as ControlReply);
      } catch {
        reject(new DaemonError(`control socket ${path} answered something that is not JSON`));
      }
    });
  });
}
