// The two gateways the handshake bench measures, each in its own namespace with the same
// single %any connection (bench/lab/load-peers.ts gatewayConnection): `tsvpn up gw.json`
// (a gateway file, docs/gateway.md) and strongSwan's charon with kernel-libipsec and the
// equivalent swanctl.conf (interop/lab/strongswan.ts). Each reports its process id (the
// one whose CPU time and RSS are read) and how many IKE SAs it holds ESTABLISHED with an
// INSTALLED Child SA, by its own account (control socket / swanctl --list-sas).
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabHost } from '../../src/io/netns.js';
import { fetchStatus } from '../../src/cli/control-client.js';
import { hasInstalled, startStrongswan, strongswanSupport, SWANCTL } from '../../interop/lab/strongswan.js';
import { parseListSas } from '../../interop/lab/swanctl-parse.js';
import { swanctlConf } from '../../interop/lab/swanctl-conf.js';
import { until } from '../../interop/lab/wait.js';
import { ESP_PROPOSAL, IKE_PROPOSAL } from './leg.js';
import { GATEWAY_ID, GATEWAY_NET, gatewayConnection, PEERS_NET } from './load-peers.js';
import { BenchError, must, onCleanup, start } from './proc.js';
import { commOf } from './proc-stats.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(REPO, 'bin', 'tsvpn.js');

export interface Gateway {
  id: 'tsvpn' | 'strongswan';
  /** Version and settings that matter for the figures. */
  detail: string;
  pid: number;
  /** IKE SAs ESTABLISHED with an INSTALLED Child SA, as the gateway itself lists them. */
  established(): Promise<number>;
  stop(): Promise<void>;
}

/** How long a gateway may take to list its SAs (thousands of them). */
const STATUS_TIMEOUT_MS = 120_000;

const tail = (text: string): string => text.trim().split('\n').slice(-6).join(' / ');

/** `cpuProfDir`: run node with --cpu-prof, the profile written there when the gateway stops (slows it: no figures). */
export async function startTsvpnGateway(h: LabHost, psk: string, o: { cpuProfDir?: string } = {}): Promise<Gateway> {
  if (!existsSync(CLI)) throw new BenchError(`${CLI} is missing (the tsvpn CLI)`);
  const dir = mkdtempSync(join(tmpdir(), 'tsvpn-bench-gw-'));
  const controlDir = join(dir, 'control');
  mkdirSync(controlDir, { mode: 0o700 });
  const name = 'bench-gw';
  let proc: ReturnType<typeof start> | undefined;
  const stop = onCleanup(`tsvpn gateway in ${h.ns}`, async () => {
    await proc?.stop(60_000); // 1000 Deletes and 1000 routes to remove take a while; --cpu-prof writes on a clean exit
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    writeFileSync(join(dir, 'psk'), `${psk}\n`, { mode: 0o600 });
    const file = join(dir, `${name}.json`);
    const gw = { name, connections: { peers: gatewayConnection(h.outer, { file: 'psk' }) } };
    writeFileSync(file, `${JSON.stringify(gw, null, 2)}\n`, { mode: 0o600 });
    const prof = o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : [];
    const p = start(h.ns, process.execPath, [...prof, CLI, 'up', file], { TSVPN_CONTROL_DIR: controlDir });
    proc = p;
    await until(
      async () => {
        if (p.child.exitCode !== null) throw new BenchError(`tsvpn up ${file} exited ${p.child.exitCode}: ${tail(p.output())}`);
        return fetchStatus(controlDir, name, 3000).catch(() => undefined);
      },
      { timeout: 20_000, interval: 200, what: 'the tsvpn gateway to answer status', done: (st) => st !== undefined },
    );
    const pid = p.child.pid ?? -1;
    if (commOf(pid) !== 'node') throw new BenchError(`pid ${pid} is ${commOf(pid)}, not the tsvpn node process`);
    return {
      id: 'tsvpn',
      detail: `tsvpn ${IKE_PROPOSAL} / ESP ${ESP_PROPOSAL}, node ${process.version}, default log level`,
      pid,
      async established() {
        const st = await fetchStatus(controlDir, name, STATUS_TIMEOUT_MS);
        return st.ikeSas.filter((sa) => sa.state === 'ESTABLISHED' && sa.children.some((c) => c.state === 'INSTALLED')).length;
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

export async function startCharonGateway(h: LabHost, psk: string, _o: { cpuProfDir?: string } = {}): Promise<Gateway> {
  const ok = strongswanSupport();
  if (!ok.ok) throw new BenchError(ok.why);
  // secrets without ids: the one PSK for every peer identity (swanctl.conf secrets.ike<x>)
  const conf =
    swanctlConf({
      name: 'peers',
      localAddrs: h.outer,
      remoteAddrs: '%any',
      proposals: [IKE_PROPOSAL],
      local: { auth: 'psk', id: GATEWAY_ID },
      remote: { auth: 'psk', id: '%any' },
      child: { name: 'peers', localTs: [GATEWAY_NET], remoteTs: [PEERS_NET], espProposals: [ESP_PROPOSAL] },
    }) + `secrets {\n  ike-bench {\n    secret = ${JSON.stringify(psk)}\n  }\n}\n`;
  const ss = await startStrongswan({ ns: h.ns, name: 'bench-gw', conf, charonLogLevel: 1 });
  const stop = onCleanup(`charon in ${h.ns}`, () => ss.stop());
  try {
    if (commOf(ss.pid) !== 'charon') throw new BenchError(`pid ${ss.pid} is ${commOf(ss.pid)}, not charon`);
    const ver = /\d+\.\d+\.\d+/.exec(ss.swanctl(['--version']).output)?.[0] ?? '?';
    return {
      id: 'strongswan',
      detail: `strongSwan ${ver} charon, kernel-libipsec, ${IKE_PROPOSAL} / ESP ${ESP_PROPOSAL}, filelog level 1, strongswan.conf defaults otherwise`,
      pid: ss.pid,
      // swanctl run asynchronously here, not ss.listSas(): a blocking spawnSync over 1000 SAs would stall the load generator
      established: async () => {
        const text = await must(undefined, SWANCTL, ['--list-sas', '--pretty', '-u', ss.vici], { timeoutMs: STATUS_TIMEOUT_MS });
        return parseListSas(text).filter((sa) => hasInstalled([sa])).length;
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
