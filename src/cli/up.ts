// `tsvpn up <peer.json>`: validate the file (ConfigError -> its lines, exit 2), start the
// daemon in this process, say once when the tunnel is up, and on SIGINT/SIGTERM take it
// down (Delete, routes, TUN) and exit with the daemon's own exit code.

import { ConfigError } from '../config/errors.js';
import { loadPeerFile } from '../config/load.js';
import type { PeerConfig } from '../config/types.js';
import { startDaemon, type Daemon } from '../daemon/daemon.js';
import { stderrLogger } from '../daemon/log.js';
import type { TunnelStatus } from '../daemon/status.js';
import { controlDir } from './control-client.js';
import { endpointText } from './format-status.js';
import type { Io } from './streams.js';

/** The line printed when a Child SA is installed: selectors, peer, encapsulation, device. */
export function upLine(s: TunnelStatus): string | undefined {
  for (const sa of s.ikeSas) {
    const c = sa.children.find((ch) => ch.state === 'INSTALLED');
    if (!c) continue;
    const encap = s.encap === 'udp' ? 'ESP in UDP' : 'ESP';
    const tun = s.tun ? `, ${s.tun.name} mtu ${s.tun.mtu}` : '';
    return `tunnel ${s.name} is up: ${c.localTs.join(',')} <=> ${c.remoteTs.join(',')} with '${sa.remoteId}' at ${endpointText(sa.remote)} (${encap}${tun})`;
  }
  return undefined;
}

function loadConfig(file: string, io: Io): PeerConfig | number {
  try {
    return loadPeerFile(file, io.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      // one line per problem, even when a message quotes a piece of the file with newlines;
      // the file as a whole (unreadable, not JSON) is one message, with the offending line
      // of a JSON syntax error below it
      const text = (t: string): string => t.replace(/\s*[\r\n]+\s*/g, ' ');
      const whole = e.problems.length === 1 && e.problems[0]!.path === '';
      const lines = e.problems.map((p) => `${p.path === '' ? '(top level)' : p.path}: ${text(p.expected)}`);
      io.err(whole ? `tsvpn: ${e.problems[0]!.expected}\n` : `tsvpn: ${file} is not a valid peer file:\n${lines.join('\n')}\n`);
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

export async function runUp(file: string, verbose: boolean, io: Io): Promise<number> {
  const peer = loadConfig(file, io);
  if (typeof peer === 'number') return peer;

  // a signal that arrives while starting is honoured once the daemon exists
  let signalled: NodeJS.Signals | undefined;
  let daemon: Daemon | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled !== undefined) {
      io.err(`tsvpn: ${sig} again, exiting without a clean teardown\n`);
      process.exit(1);
    }
    signalled = sig;
    void daemon?.down(`signal ${sig}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    try {
      daemon = await startDaemon(peer, { log: stderrLogger(verbose ? 'debug' : 'info'), controlDir: controlDir(io.env) });
    } catch (e) {
      io.err(`tsvpn: ${(e as Error).message}\n`);
      return 1;
    }
    if (signalled !== undefined) void daemon.down(`signal ${signalled}`);

    // one line on stdout each time the tunnel comes up (initially, and after a restart):
    // whether it is up only changes with an IKE event (a Child SA installed or deleted).
    // The status is read once the daemon has finished with the datagram that caused it.
    let wasUp = false;
    const d = daemon;
    const check = (): void => {
      try {
        const line = upLine(d.status());
        if (line !== undefined && !wasUp) io.out(`${line}\n`);
        wasUp = line !== undefined;
      } catch {
        // no status while the daemon goes down: nothing to announce
      }
    };
    const onIke = (): void => void setImmediate(check);
    d.events.on('ike', onIke);
    const code = await daemon.done;
    d.events.off('ike', onIke);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
