// The tsvpn leg of the throughput bench: `node bin/tsvpn.js up <peer.json>` in each lab
// namespace (right waits, left initiates), peer files generated in a temp directory (PSK,
// aes256gcm16-prfsha256-x25519, ESP aes256gcm16, 203.0.113.0/25 <-> 203.0.113.128/25), a
// private control directory, and the daemons' status read over their control sockets
// ({"cmd":"status"}, answered with a TunnelStatus) until both list an INSTALLED Child SA.
// stop() sends SIGTERM (the CLI then runs daemon.down(): Delete, routes removed, TUN
// closed) and removes the temp directory.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabHost, TwoHosts } from '../../src/io/netns.js';
import { fetchStatus } from '../../src/cli/control-client.js';
import type { TunnelStatus } from '../../src/daemon/status.js';
import { until } from '../../interop/lab/wait.js';
import { BenchError, onCleanup, start, type Started } from './proc.js';
import { ESP_PROPOSAL, IKE_PROPOSAL, type Leg } from './leg.js';
import { commOf } from './proc-stats.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(REPO, 'bin', 'tsvpn.js');

interface Side {
  host: LabHost;
  peer: LabHost;
  name: string;
  id: string;
  peerId: string;
  mine: string;
  theirs: string;
  start: 'initiate' | 'wait';
}

function peerJson(s: Side, encap: 'auto' | 'udp'): unknown {
  return {
    name: s.name,
    local: { addr: s.host.outer, id: s.id, auth: 'psk', ts: [s.mine] },
    remote: { addr: s.peer.outer, id: s.peerId, auth: 'psk', ts: [s.theirs] },
    psk: { file: 'psk' },
    ike: { proposals: [IKE_PROPOSAL] },
    child: { proposals: [ESP_PROPOSAL] },
    start: s.start,
    encap,
  };
}

const installed = (st: TunnelStatus): boolean => st.ikeSas.some((sa) => sa.children.some((c) => c.state === 'INSTALLED'));

export async function startTsvpn(
  h: TwoHosts,
  o: { leftNet: string; rightNet: string; encap: 'auto' | 'udp' },
): Promise<Leg> {
  if (!existsSync(CLI)) throw new BenchError(`${CLI} is missing (the tsvpn CLI)`);
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-bench-'));
  const controlDir = join(dir, 'control');
  mkdirSync(controlDir, { mode: 0o700 });
  const env = { TSVPN_CONTROL_DIR: controlDir };
  const tag = randomBytes(2).toString('hex');
  const sides: Side[] = [
    { host: h.right, peer: h.left, name: `bench-r-${tag}`, id: 'right.bench.example', peerId: 'left.bench.example', mine: o.rightNet, theirs: o.leftNet, start: 'wait' },
    { host: h.left, peer: h.right, name: `bench-l-${tag}`, id: 'left.bench.example', peerId: 'right.bench.example', mine: o.leftNet, theirs: o.rightNet, start: 'initiate' },
  ];
  const procs: Started[] = [];
  const stop = onCleanup(`tsvpn daemons ${sides.map((s) => s.name).join(' ')}`, async () => {
    // left (the initiator) first, so its Delete reaches a live responder
    for (const p of [...procs].reverse()) await p.stop(8000);
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    writeFileSync(join(dir, 'psk'), `${randomBytes(24).toString('base64')}\n`, { mode: 0o600 });
    for (const s of sides) {
      const file = join(dir, `${s.name}.json`);
      writeFileSync(file, `${JSON.stringify(peerJson(s, o.encap), null, 2)}\n`, { mode: 0o600 });
      // TSVPN_BENCH_NODE_FLAGS: extra node flags for both daemons, e.g. --perf-basic-prof for perf (bench/README.md)
      const nodeFlags = (process.env.TSVPN_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
      const p = start(s.host.ns, process.execPath, [...nodeFlags, CLI, 'up', file], env);
      procs.push(p);
      await until(
        () => {
          if (p.child.exitCode !== null) throw new BenchError(`tsvpn up ${s.name} exited ${p.child.exitCode}: ${tail(p.output())}`);
          return existsSync(join(controlDir, `${s.name}.sock`));
        },
        { timeout: 15_000, what: `tsvpn ${s.name} control socket` },
      );
    }
    const statuses: TunnelStatus[] = [];
    for (const [i, s] of sides.entries()) {
      statuses.push(
        await until(
          async () => {
            if (procs[i]!.child.exitCode !== null) throw new BenchError(`tsvpn up ${s.name} exited: ${tail(procs[i]!.output())}`);
            const st = await fetchStatus(controlDir, s.name, 3000).catch(() => undefined);
            if (st?.lastFailure && !installed(st)) throw new BenchError(`tsvpn ${s.name}: ${st.lastFailure.row}: ${st.lastFailure.message}`);
            return st;
          },
          { timeout: 20_000, interval: 200, what: `tsvpn ${s.name} Child SA INSTALLED`, done: (st): st is TunnelStatus => st !== undefined && installed(st) },
        ),
      );
    }
    const left = statuses[1]!;
    const child = left.ikeSas.flatMap((sa) => sa.children).find((c) => c.state === 'INSTALLED');
    const wanted = o.encap === 'udp' ? 'udp' : 'raw';
    const got = left.encap ?? '?';
    const note = got === wanted ? '' : ` (asked for ${wanted}, got ${got})`;
    const detail = `encap ${got}${note}, TUN MTU ${left.tun?.mtu ?? '?'}, ${left.ikeSas[0]?.proposal ?? IKE_PROPOSAL} / ESP ${child?.proposal ?? ESP_PROPOSAL}`;
    const carried = async (): Promise<number> => {
      const st = await fetchStatus(controlDir, sides[1]!.name, 3000);
      return st.ikeSas.flatMap((sa) => sa.children).reduce((n, c) => n + c.bytesIn + c.bytesOut, 0);
    };
    // `ip netns exec` execs the command in place, so these are the node processes themselves
    const pids = procs.map((p) => p.child.pid).filter((pid): pid is number => pid !== undefined && commOf(pid) === 'node');
    return { detail, carried, stop, ...(pids.length === procs.length ? { pids } : {}) };
  } catch (e) {
    await stop();
    throw e;
  }
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-6).join(' / ');
}
