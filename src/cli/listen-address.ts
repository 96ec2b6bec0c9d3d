// `--metrics-listen <addr>:<port>`: a loopback address and a port, nothing else. Metrics tell
// anyone who reads them which tunnels exist and how busy they are, so the endpoint is for a
// Prometheus on this host (or one reached through an SSH tunnel or a local proxy).
import { parseIp } from '../wire/ip-text.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `127.0.0.1:9474` or `[::1]:9474` -> host and port; anything else -> why not. */
export function parseLoopbackListen(text: string): ListenAddress | { error: string } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return { error: `${JSON.stringify(text)} is not <address>:<port> (e.g. 127.0.0.1:9474 or [::1]:9474)` };
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return { error: `port ${m[3]} is not from 1 to 65535` };
  const ip = parseIp(host);
  // 127.0.0.0/8 (RFC 1122 §3.2.1.3), ::1 (RFC 4291 §2.5.3)
  const loopback = ip !== null && (ip.length === 4 ? ip[0] === 127 : ip.every((b, i) => b === (i === 15 ? 1 : 0)));
  if (!loopback) return { error: `${host} is not a loopback address: the metrics endpoint listens on 127.0.0.0/8 or ::1 only (use --metrics-file and node_exporter to publish them further)` };
  return { host, port };
}
