// Whole-tunnel throughput: iperf3 TCP and UDP through tsvpn, strongSwan kernel-libipsec,
// wireguard-go and OpenVPN, and over the plain veth as the baseline, on fresh identical
// namespace pairs (src/io/netns.ts createTwoHosts), one path after the other in one run;
// prints the ratios, optionally each path's UDP rate at under 1% loss (--udp-search), and
// what the tsvpn daemons spent per MB (system calls) and per GB (CPU seconds).
//
//   npx tsx bench/tunnel-throughput.ts [--seconds 8] [--udp-rate 300M] [--udp-search]
//       [--only plain,strongswan,wireguard,openvpn,tsvpn] [--json out.json]
//
// `tsvpn` means both encapsulations (tsvpn-raw: ESP as IP protocol 50, tsvpn-udp: RFC 3948
// UDP encapsulation); either can be named alone. Only ratios from one run mean anything:
// the two ends, iperf3 and the tunnel share the same cores. Needs root (see bench/README.md).

import { writeFileSync } from 'node:fs';
import { createTwoHosts, netnsSupport, type TwoHosts } from '../src/io/netns.js';
import { iperfTcp, iperfUdp, iperfVersion } from './lab/iperf.js';
import { benchOptions } from './lab/cli-args.js';
import { aborted, cleanupAll, must, onCleanup } from './lab/proc.js';
import { startWireguard } from './lab/wireguard.js';
import { startTsvpn } from './lab/tsvpn.js';
import { startStrongswan } from './lab/strongswan-leg.js';
import { startOpenvpn } from './lab/openvpn.js';
import { formatTable, type Row } from './lab/report.js';
import { searchUdp } from './lab/udp-search.js';
import { meterCost, perVolume, type Cost } from './lab/datapath-cost.js';
import { PathSkipped, type Leg } from './lab/leg.js';

// The lab's inner networks (LAB.md): left inner host 203.0.113.1, right 203.0.113.129.
const LEFT_NET = '203.0.113.0/25';
const RIGHT_NET = '203.0.113.128/25';

interface Path {
  id: string;
  label: string;
  up(h: TwoHosts): Promise<Leg>;
}

const PATHS: Path[] = [
  {
    id: 'plain',
    label: 'plain veth (no tunnel)',
    async up(h) {
      // the inner addresses routed over the veth, nothing else
      await must(h.left.ns, 'ip', ['route', 'add', RIGHT_NET, 'via', h.right.outer, 'src', h.left.inner]);
      await must(h.right.ns, 'ip', ['route', 'add', LEFT_NET, 'via', h.left.outer, 'src', h.right.inner]);
      return { detail: 'veth MTU 1500', carried: async () => null, stop: async () => {} };
    },
  },
  {
    id: 'strongswan',
    label: 'strongSwan kernel-libipsec',
    up: (h) => startStrongswan(h, { leftNet: LEFT_NET, rightNet: RIGHT_NET }),
  },
  {
    id: 'wireguard',
    label: 'wireguard-go',
    async up(h) {
      const wg = await startWireguard(h, { leftNet: LEFT_NET, rightNet: RIGHT_NET });
      return { detail: `${wg.version}, MTU 1420`, carried: () => wg.carried(), stop: () => wg.stop() };
    },
  },
  {
    id: 'openvpn',
    label: 'OpenVPN (UDP, DCO off)',
    up: (h) => startOpenvpn(h, { leftNet: LEFT_NET, rightNet: RIGHT_NET }),
  },
  {
    id: 'tsvpn-raw',
    label: 'tsvpn (ESP, IP proto 50)',
    up: (h) => startTsvpn(h, { leftNet: LEFT_NET, rightNet: RIGHT_NET, encap: 'auto' }),
  },
  {
    id: 'tsvpn-udp',
    label: 'tsvpn (ESP in UDP 4500)',
    up: (h) => startTsvpn(h, { leftNet: LEFT_NET, rightNet: RIGHT_NET, encap: 'udp' }),
  },
];

function usage(msg?: string): never {
  if (msg) process.stderr.write(`${msg}\n`);
  process.stderr.write(
    'usage: npx tsx bench/tunnel-throughput.ts [--seconds N] [--udp-rate RATE] [--udp-search] [--search-seconds N] [--only LIST] [--json FILE]\n' +
      `  --only: comma list of ${['plain', 'strongswan', 'wireguard', 'openvpn', 'tsvpn', 'tsvpn-raw', 'tsvpn-udp'].join(', ')}\n`,
  );
  process.exit(2);
}

function options() {
  const v = benchOptions(
    {
      seconds: { type: 'string', default: '8' },
      'udp-rate': { type: 'string', default: '300M' },
      'udp-search': { type: 'boolean', default: false },
      'search-seconds': { type: 'string', default: '3' },
      only: { type: 'string' },
      json: { type: 'string' },
    },
    usage,
  );
  const seconds = Number(v.seconds);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 600) usage(`--seconds must be a whole number 1..600, got ${v.seconds}`);
  const rate = v['udp-rate'];
  if (!/^\d+(\.\d+)?[KMG]?$/.test(rate)) usage(`--udp-rate must look like iperf3's -b (e.g. 300M), got ${rate}`);
  const searchSeconds = Number(v['search-seconds']);
  if (!Number.isInteger(searchSeconds) || searchSeconds < 1 || searchSeconds > 60) usage(`--search-seconds must be a whole number 1..60, got ${v['search-seconds']}`);
  const known = new Set(PATHS.map((p) => p.id));
  const wanted = new Set<string>();
  for (const w of (v.only ?? 'plain,strongswan,wireguard,openvpn,tsvpn').split(',').map((s) => s.trim())) {
    if (w === 'tsvpn') {
      wanted.add('tsvpn-raw');
      wanted.add('tsvpn-udp');
    } else if (known.has(w)) wanted.add(w);
    else usage(`--only: unknown path "${w}"`);
  }
  const search = v['udp-search'] ? { seconds: searchSeconds } : null;
  return { seconds, rate, search, paths: PATHS.filter((p) => wanted.has(p.id)), json: v.json };
}

/** iperf3's -b in Mbit/s. */
function rateMbps(rate: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)$/.exec(rate)!;
  return Number(m[1]) * ({ '': 1e-6, K: 1e-3, M: 1, G: 1e3 } as Record<string, number>)[m[2]!]!;
}

/** Run one iperf3 test; with the tunnel's pids, also what they spent on the payload it moved. */
async function metered<T>(leg: Leg, test: () => Promise<T>, bytes: (r: T) => number): Promise<{ r: T | null; cost?: Cost }> {
  if (!leg.pids) return { r: await test() };
  const meter = await meterCost(leg.pids);
  let r: T;
  try {
    r = await test();
  } catch (e) {
    await meter.stop();
    throw e;
  }
  return { r, cost: perVolume(await meter.stop(), bytes(r)) };
}

async function measure(p: Path, o: ReturnType<typeof options>): Promise<Row> {
  const { seconds, rate } = o;
  const row: Row = { id: p.id, label: p.label, detail: '', tcp: null, udp: null, error: null };
  const hosts = createTwoHosts({ prefix: 'tsb' });
  const destroy = onCleanup(`namespaces ${hosts.left.ns} ${hosts.right.ns}`, () => hosts.destroy());
  try {
    process.stderr.write(`[${p.id}] setting up in ${hosts.left.ns} / ${hosts.right.ns}\n`);
    const leg = await p.up(hosts);
    row.detail = leg.detail;
    const ends = { client: { ns: hosts.left.ns, addr: hosts.left.inner }, server: { ns: hosts.right.ns, addr: hosts.right.inner } };
    try {
      process.stderr.write(`[${p.id}] iperf3 TCP ${seconds}s\n`);
      const tcp = await metered(leg, () => iperfTcp(ends, seconds), (r) => (r.mbps * 1e6 * r.seconds) / 8).catch((e: Error) => {
        row.error = `TCP: ${e.message}`;
        return { r: null, cost: undefined };
      });
      row.tcp = tcp.r;
      if (aborted()) throw new Error('interrupted');
      process.stderr.write(`[${p.id}] iperf3 UDP ${seconds}s at ${rate}\n`);
      const udp = await metered(leg, () => iperfUdp(ends, seconds, rate), (r) => (r.receivedMbps * 1e6 * r.seconds) / 8).catch((e: Error) => {
        row.error = `${row.error ? `${row.error}; ` : ''}UDP: ${e.message}`;
        return { r: null, cost: undefined };
      });
      row.udp = udp.r;
      if (tcp.cost || udp.cost) row.cost = { ...(tcp.cost ? { tcp: tcp.cost } : {}), ...(udp.cost ? { udp: udp.cost } : {}) };
      // the counters are checked against the two fixed tests, before the search adds traffic
      await checkCarried(row, leg, seconds);
      if (o.search && !aborted()) {
        const s = o.search;
        row.udpSearch = await searchUdp(
          (mbps) => {
            if (aborted()) throw new Error('interrupted');
            process.stderr.write(`[${p.id}] UDP search: ${s.seconds}s at ${mbps}M\n`);
            return iperfUdp(ends, s.seconds, `${mbps}M`);
          },
          { startMbps: rateMbps(rate) },
        ).catch((e: Error) => {
          row.error = `${row.error ? `${row.error}; ` : ''}UDP search: ${e.message}`;
          return undefined;
        });
      }
    } finally {
      await leg.stop();
    }
  } catch (e) {
    if (e instanceof PathSkipped) row.skipped = e.message;
    else row.error = (e as Error).message;
  } finally {
    await destroy();
  }
  if (row.error && !aborted()) process.stderr.write(`[${p.id}] ${row.error}\n`);
  if (row.skipped) process.stderr.write(`[${p.id}] skipped: ${row.skipped}\n`);
  return row;
}

/** The tunnel's own counters must account for what iperf3 moved, or the traffic went around it. */
async function checkCarried(row: Row, leg: Leg, seconds: number): Promise<void> {
  const moved = (((row.tcp?.mbps ?? 0) + (row.udp?.receivedMbps ?? 0)) * 1e6 * seconds) / 8;
  const carried = await leg.carried().catch((e: Error) => {
    row.error = `${row.error ? `${row.error}; ` : ''}reading the tunnel's counters: ${e.message}`;
    return null;
  });
  if (carried === null) return;
  row.carriedBytes = carried;
  if (carried < moved * 0.9) {
    const mb = (n: number): string => (n / 1e6).toFixed(1);
    row.error = `${row.error ? `${row.error}; ` : ''}the tunnel counted ${mb(carried)} MB but iperf3 moved ${mb(moved)} MB: traffic bypassed the tunnel`;
  }
}

async function main(): Promise<number> {
  const o = options();
  const ok = netnsSupport();
  if (!ok.ok) {
    process.stderr.write(`tunnel-throughput: ${ok.why}\n`);
    return 2;
  }
  const iperf = await iperfVersion().catch(() => undefined);
  if (!iperf) {
    process.stderr.write('tunnel-throughput: iperf3 was not found (apt-get install iperf3)\n');
    return 2;
  }
  const rows: Row[] = [];
  try {
    for (const p of o.paths) if (!aborted()) rows.push(await measure(p, o));
  } finally {
    for (const e of await cleanupAll()) process.stderr.write(`cleanup: ${e}\n`);
  }
  const when = new Date().toISOString();
  const search = o.search ? `, UDP search in ${o.search.seconds} s steps` : '';
  process.stdout.write(`\n${iperf}, ${o.seconds} s per test, UDP ${o.rate} offered in 1300-byte datagrams${search}, ${when}\n`);
  process.stdout.write(formatTable(rows));
  if (o.json) {
    writeFileSync(o.json, `${JSON.stringify({ when, iperf, seconds: o.seconds, udpRate: o.rate, udpSearch: o.search, rows }, null, 2)}\n`);
    process.stdout.write(`JSON written to ${o.json}\n`);
  }
  return rows.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (e: Error) => {
    process.stderr.write(`tunnel-throughput: ${e.message}\n`);
    await cleanupAll();
    process.exit(1);
  },
);
