// Handshake rate and memory per IKE SA: a tsvpn gateway and strongSwan's charon, each in
// turn, serve the same load generator (bench/lab/handshake-generator.ts: IkeSa initiators
// over real UDP, each peer from its own source address, `--window` in flight) in one run.
//
//   sudo npx tsx bench/handshake.ts [--peers 100,1000] [--window 50] [--only tsvpn,strongswan]
//       [--deadline 60] [--json out.json] [--cpu-prof DIR]
//
// For each peer count and gateway: fresh namespaces (generator and gateway joined by a
// veth, src/io/netns.ts), the generator's source addresses added to its veth, the gateway
// started, its CPU time and RSS read (/proc), the generator run to the end, CPU and RSS read
// again, then the gateway's own count of established SAs. Prints a table, the
// tsvpn/strongSwan ratios and one JSON line. Only ratios from one run mean anything (shared,
// noisy 2-core machine). Exit 1 only when a run is broken (a gateway or the generator did
// not run, or nothing came up); slow runs, failures and timeouts are reported, not fatal.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTwoHosts, netnsSupport, type TwoHosts } from '../src/io/netns.js';
import { sleep } from '../interop/lab/wait.js';
import type { GeneratorOptions, GeneratorReport } from './lab/handshake-generator.js';
import { startCharonGateway, startTsvpnGateway, type Gateway } from './lab/handshake-gateways.js';
import { MAX_PEERS, outerAddr, PSK_ENV, SOURCES_NET } from './lab/load-peers.js';
import { benchOptions } from './lab/cli-args.js';
import { aborted, cleanupAll, must, onCleanup, run } from './lab/proc.js';
import { sample, settle, type ProcSample } from './lab/proc-stats.js';
import { formatHandshake, type HandshakeRow } from './lab/handshake-report.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const GENERATOR = join(HERE, 'lab', 'handshake-generator.ts');
const GATEWAYS = { tsvpn: startTsvpnGateway, strongswan: startCharonGateway } as const;
type GatewayId = keyof typeof GATEWAYS;

function usage(msg?: string): never {
  if (msg) process.stderr.write(`${msg}\n`);
  process.stderr.write('usage: sudo npx tsx bench/handshake.ts [--peers 100,1000] [--window 50] [--only tsvpn,strongswan] [--deadline S] [--json FILE] [--cpu-prof DIR]\n');
  process.exit(2);
}

function options() {
  const v = benchOptions(
    {
      peers: { type: 'string', default: '100,1000' },
      window: { type: 'string', default: '50' },
      only: { type: 'string', default: 'tsvpn,strongswan' },
      deadline: { type: 'string', default: '60' },
      json: { type: 'string' },
      'cpu-prof': { type: 'string' },
    },
    usage,
  );
  const whole = (text: string, what: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) usage(`${what} must be a whole number ${min}..${max}, got ${text}`);
    return n;
  };
  const peers = v.peers.split(',').map((p) => whole(p.trim(), '--peers', 1, MAX_PEERS));
  const gateways = v.only.split(',').map((g) => g.trim());
  for (const g of gateways) if (!(g in GATEWAYS)) usage(`--only: unknown gateway "${g}" (tsvpn, strongswan)`);
  return {
    peers,
    window: whole(v.window, '--window', 1, 1000),
    deadlineS: whole(v.deadline, '--deadline', 1, 3600),
    gateways: gateways as GatewayId[],
    json: v.json,
    cpuProfDir: v['cpu-prof'] ? resolve(v['cpu-prof']) : undefined,
  };
}

/** The generator's namespace gets every peer's source address; the gateway routes them back. */
async function addSources(h: TwoHosts, peers: number): Promise<void> {
  const lines = Array.from({ length: peers }, (_, i) => `addr add ${outerAddr(i)}/32 dev ${h.left.dev}`);
  await must(h.left.ns, 'ip', ['-batch', '-'], { input: `${lines.join('\n')}\n`, timeoutMs: 120_000 });
  await must(h.right.ns, 'ip', ['route', 'add', SOURCES_NET, 'via', h.left.outer]);
}

async function runGenerator(h: TwoHosts, o: GeneratorOptions, psk: string): Promise<GeneratorReport> {
  const tsx = import.meta.resolve('tsx');
  const budgetMs = o.deadlineMs + Math.ceil(o.peers / o.window) * o.deadlineMs + 60_000;
  const r = await run(h.left.ns, process.execPath, ['--import', tsx, GENERATOR, JSON.stringify(o)], { env: { [PSK_ENV]: psk }, timeoutMs: budgetMs });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`the generator exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-600)}`);
  return JSON.parse(line) as GeneratorReport;
}

async function measure(id: GatewayId, peers: number, o: ReturnType<typeof options>): Promise<HandshakeRow> {
  const row: HandshakeRow = { gateway: id, peers, detail: '', error: null };
  const hosts = createTwoHosts({ prefix: 'tsh', right: { inner: '10.0.0.1' } });
  const destroy = onCleanup(`namespaces ${hosts.left.ns} ${hosts.right.ns}`, () => hosts.destroy());
  const psk = randomBytes(24).toString('base64');
  let gw: Gateway | undefined;
  try {
    process.stderr.write(`[${id} ${peers}] namespaces ${hosts.left.ns} / ${hosts.right.ns}, ${peers} source addresses\n`);
    await addSources(hosts, peers);
    gw = await GATEWAYS[id](hosts.right, psk, { cpuProfDir: o.cpuProfDir });
    row.detail = gw.detail;
    await sleep(1000); // let start-up work settle before the baseline
    const before: ProcSample = sample(gw.pid);
    process.stderr.write(`[${id} ${peers}] generator: ${peers} peers, ${o.window} in flight\n`);
    const g = await runGenerator(hosts, { gatewayAddr: hosts.right.outer, peers, window: o.window, deadlineMs: o.deadlineS * 1000 }, psk);
    // the gateway may still be working for the last peers (applying effects, status lines):
    // wait until it is idle, then read it, before asking for its SA count (listing costs memory too)
    row.settleS = await settle(gw.pid);
    const after: ProcSample = sample(gw.pid);
    row.generator = g;
    row.before = before;
    row.after = after;
    const asked = performance.now();
    row.gatewayEstablished = await gw.established();
    row.statusS = (performance.now() - asked) / 1000;
    if (g.established === 0) row.error = 'no peer came up';
  } catch (e) {
    row.error = (e as Error).message;
  } finally {
    await gw?.stop();
    await destroy();
  }
  if (row.error && !aborted()) process.stderr.write(`[${id} ${peers}] ${row.error}\n`);
  return row;
}

async function main(): Promise<number> {
  const o = options();
  const ok = netnsSupport();
  if (!ok.ok) {
    process.stderr.write(`handshake: ${ok.why}\n`);
    return 2;
  }
  const rows: HandshakeRow[] = [];
  try {
    for (const n of o.peers) for (const g of o.gateways) if (!aborted()) rows.push(await measure(g, n, o));
  } finally {
    for (const e of await cleanupAll()) process.stderr.write(`cleanup: ${e}\n`);
  }
  const when = new Date().toISOString();
  const { table, summary } = formatHandshake(rows);
  process.stdout.write(`\nhandshake bench, ${o.window} in flight, ${when}\n${table}`);
  const json = JSON.stringify({ bench: 'handshake', when, window: o.window, ...summary });
  process.stdout.write(`${json}\n`);
  if (o.json) {
    writeFileSync(o.json, `${JSON.stringify({ when, window: o.window, rows, ...summary }, null, 2)}\n`);
    process.stdout.write(`JSON written to ${o.json}\n`);
  }
  return rows.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (e: Error) => {
    process.stderr.write(`handshake: ${e.message}\n`);
    await cleanupAll();
    process.exit(1);
  },
);
