// `tsvpn up <peer.json>`: validate the file (ConfigError -> its lines, exit 2), start the
// daemon in this process, say once when the tunnel is up, and on SIGINT/SIGTERM take it
// down (Delete, routes, TUN) and exit with the daemon's own exit code.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/gateway.js';
import type { GatewayConfig } from '../config/types.js';
import { startDaemon, type Daemon } from '../daemon/daemon.js';
import { startMetricsFile } from '../daemon/metrics-file.js';
import { startMetricsHttp, type MetricsHttp } from '../daemon/metrics-http.js';
import type { ListenAddress } from './listen-address.js';
import { stderrLogger, type LogFormat, type LogLevel } from '../daemon/log.js';
import type { TunnelStatus } from '../daemon/status.js';
import type { IkeEvent } from '../ike/effects.js';
import { serviceNotifier } from '../io/sd-notify.js';
import { controlDir } from './control-client.js';
import { endpointText } from './format-status.js';
import type { Io } from './streams.js';

/**
 * The peers that have a Child SA installed, each with the line printed when it comes up:
 * selectors, peer, encapsulation, device. Keyed by peer (identity and address), so a
 * rekey or a reauthentication of the same peer is not a new peer.
 */
export function upPeers(s: TunnelStatus): Map<string, { up: string; down: string }> {
  const peers = new Map<string, { up: string; down: string }>();
  for (const sa of s.ikeSas) {
    // a Child SA whose routes failed (F5) carries nothing: never "is up"
    const c = sa.children.find((ch) => ch.state === 'INSTALLED' && ch.routeError === undefined);
    const key = `'${sa.remoteId}' at ${endpointText(sa.remote)}`;
    // a gateway names the connection too: hub/branch1
    const name = (s.connections?.length ?? 0) > 1 ? `${s.name}/${sa.connection}` : s.name;
    if (!c || peers.has(key)) continue;
    const encap = s.encap === 'udp' ? 'ESP in UDP' : 'ESP';
    const tun = s.tun ? `, ${s.tun.name} mtu ${s.tun.mtu}` : '';
    peers.set(key, {
      up: `tunnel ${name} is up: ${c.localTs.join(',')} <=> ${c.remoteTs.join(',')} with ${key} (${encap}${tun})`,
      down: `tunnel ${name} is down with ${key}`,
    });
  }
  return peers;
}

/** Prints a line for each peer that came up or went down since the last call. */
export function peerAnnouncer(out: (line: string) => void): (now: TunnelStatus | undefined) => void {
  let before = new Map<string, { up: string; down: string }>();
  return (s) => {
    const after = s === undefined ? new Map<string, { up: string; down: string }>() : upPeers(s);
    for (const [k, v] of before) if (!after.has(k)) out(`${v.down}\n`);
    for (const [k, v] of after) if (!before.has(k)) out(`${v.up}\n`);
    before = after;
  };
}

/** The examples' certificates are not shipped: say which script makes them when they are missing. */
function certsHint(file: string, e: ConfigError): string {
  const missing = e.problems.some((p) => /^\/(local\/(cert|key)|remote\/ca)\b/.test(p.path) && p.expected.startsWith('cannot read'));
  const maker = join(dirname(resolve(file)), 'make-certs.sh');
  return missing && existsSync(maker) ? `(${maker} makes the CA, certificates and keys the examples use)\n` : '';
}

function loadConfig(file: string, io: Io): GatewayConfig | number {
  try {
    return loadConfigFile(file, io.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      // one line per problem, even when a message quotes a piece of the file with newlines;
      // the file as a whole (unreadable, not JSON) is one message, with the offending line
      // of a JSON syntax error below it
      const text = (t: string): string => t.replace(/\s*[\r\n]+\s*/g, ' ');
      const whole = e.problems.length === 1 && e.problems[0]!.path === '';
      const lines = e.problems.map((p) => `${p.path === '' ? '(top level)' : p.path}: ${text(p.expected)}`);
      io.err(whole ? `tsvpn: ${e.problems[0]!.expected}\n` : `tsvpn: ${file} is not a valid peer file:\n${lines.join('\n')}\n${certsHint(file, e)}`);
      return 2;
    }
    const err = e as NodeJS.ErrnoException;
    if (typeof err.code === 'string' && err.code.startsWith('E')) {
      io.err(`tsvpn: cannot read ${file}: ${err.message}\n`);
      return 2;
    }
    throw e;
  }
}

/** The IKE events after which the peers up may have changed. */
const ANNOUNCED: ReadonlySet<IkeEvent['type']> = new Set(['child-installed', 'child-deleted', 'ike-deleted', 'ike-established']);
const ANNOUNCE_EVERY_MS = 100;

/** Where `tsvpn up` publishes its metrics besides `tsvpn metrics` (docs/metrics.md). */
export interface MetricsOptions {
  file?: string | undefined;
  listen?: ListenAddress | undefined;
}

/** `saveKeys`: --save-keys <dir>, where the keys for Wireshark go (src/daemon/save-keys.ts); `metrics`: where else the metrics go. */
export async function runUp(file: string, logOpts: { level: LogLevel; format: LogFormat }, io: Io, extra: { saveKeys?: string | undefined; metrics?: MetricsOptions } = {}): Promise<number> {
  const { saveKeys, metrics: metricsOpts = {} } = extra;
  const peer = loadConfig(file, io);
  if (typeof peer === 'number') return peer;
  const log = stderrLogger(logOpts.level, logOpts.format);
  // systemd Type=notify (docs/service.md); no-ops without $NOTIFY_SOCKET
  const { notifyReady, notifyStatus, notifyStopping } = serviceNotifier(io.env, (m) => log.warn('systemd', m));

  // a signal that arrives while starting is honoured once the daemon exists
  let signalled: NodeJS.Signals | undefined;
  let daemon: Daemon | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled !== undefined) {
      io.err(`tsvpn: ${sig} again, exiting without a clean teardown\n`);
      process.exit(1);
    }
    signalled = sig;
    notifyStopping();
    void daemon?.down(`signal ${sig}`);
  };
  // SIGHUP reads the file again (the daemon logs what changed, or why nothing did)
  const onHangup = (): void => void daemon?.reload();
  // the endpoint first: a port in use is said before any tunnel starts
  let http: MetricsHttp | undefined;
  if (metricsOpts.listen) {
    const { host, port } = metricsOpts.listen;
    try {
      http = await startMetricsHttp(host, port, () => daemon?.status());
    } catch (e) {
      io.err(`tsvpn: --metrics-listen ${host}:${port}: ${(e as Error).message}\n`);
      return 1;
    }
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onHangup);
  try {
    try {
      daemon = await startDaemon(peer, { log, controlDir: controlDir(io.env), load: () => loadConfigFile(file, io.env), saveKeys });
    } catch (e) {
      io.err(`tsvpn: ${(e as Error).message}\n`);
      return 1;
    }
    if (signalled !== undefined) void daemon.down(`signal ${signalled}`);
    else notifyReady(`tunnel ${daemon.name} started`);

    // one line on stdout each time a peer comes up or goes down (the first, a restart, each
    // peer of a %any responder): that only changes with an IKE event (a Child SA installed
    // or deleted). The status is read once the daemon has finished with the datagram.
    const d = daemon;
    const metrics = metricsOpts.file === undefined ? undefined : startMetricsFile(metricsOpts.file, () => d.status(), log);
    const announce = peerAnnouncer(io.out);
    const check = (): void => {
      try {
        const s = d.status();
        announce(s);
        // systemctl status shows it: "3 of 20 connections up"
        const up = new Set(s.ikeSas.filter((sa) => sa.state === 'ESTABLISHED' && sa.children.some((c) => c.state === 'INSTALLED')).map((sa) => sa.connection));
        notifyStatus(`${up.size} of ${s.connections.length} connection${s.connections.length === 1 ? '' : 's'} up`);
      } catch {
        // no status while the daemon goes down: the peers are announced down below
      }
    };
    // Only these events change who is up. A status of every SA per event grew with the square of
    // the peers (bench/handshake.ts: a 1000-peer gateway stayed busy 80 s): at most one per 100 ms.
    let pending: NodeJS.Timeout | undefined;
    const soon = (): void => {
      if (pending !== undefined) return;
      pending = setTimeout(() => {
        pending = undefined;
        check();
      }, ANNOUNCE_EVERY_MS);
    };
    const onIke = (e: IkeEvent): void => {
      if (ANNOUNCED.has(e.type)) soon();
    };
    d.events.on('ike', onIke);
    d.events.on('routed', soon); // a NOT ROUTED Child SA got its routes: it is up now
    const code = await daemon.done;
    clearTimeout(pending);
    metrics?.stop();
    notifyStopping(); // after `tsvpn down` or a fatal error (a signal sent it already)
    d.events.off('ike', onIke);
    d.events.off('routed', soon);
    announce(undefined);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHangup);
    await http?.close();
  }
}
