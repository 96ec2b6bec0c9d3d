// The handshake bench's load generator as a process, run by bench/handshake.ts inside the
// generator namespace (`ip netns exec <ns> node --import tsx bench/lab/handshake-generator.ts
// <options json>`, the PSK in $TSVPN_BENCH_PSK). Each simulated peer (bench/lab/ike-load.ts)
// gets two node:dgram sockets on its own source address (bench/lab/load-peers.ts): one on an
// ephemeral port for IKE, one on 4500 in case the gateway's NAT detection moves IKE there
// (RFC 7296 §2.23; IKE on 4500 carries the non-ESP marker, RFC 3948 §2.2). They are closed
// as soon as the peer is done, so at most `window` peers hold sockets. Prints one JSON line:
// the LoadResult, the wall clock and the generator's own CPU time.
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { NAT_T_PORT } from '../../src/wire/constants.js';
import { NON_ESP_MARKER } from '../../src/wire/natt.js';
import { IkeLoad, type LoadResult, type LoadTransport } from './ike-load.js';
import { outerAddr, peerConfig, PSK_ENV } from './load-peers.js';

export interface GeneratorOptions {
  gatewayAddr: string;
  peers: number;
  window: number;
  deadlineMs: number;
}

export interface GeneratorReport extends LoadResult {
  /** From the first IKE_SA_INIT to the last Child SA installed (s). */
  wallS: number | null;
  /** The generator's own CPU time (user + system, s): if it is near wallS, the generator was the limit. */
  generatorCpuS: number;
}

const random = (n: number): Uint8Array => randomBytes(n);

function bind(addr: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp4' });
    s.once('error', reject);
    s.bind({ address: addr, port, exclusive: true }, () => {
      s.off('error', reject);
      s.on('error', () => {}); // e.g. ICMP port unreachable after the gateway is gone: the deadline counts it
      resolve(s);
    });
  });
}

const isMarked = (b: Buffer): boolean => b.length > NON_ESP_MARKER.length && NON_ESP_MARKER.every((x, k) => b[k] === x);

export async function generate(o: GeneratorOptions, psk: string): Promise<GeneratorReport> {
  const sockets = new Map<number, { ike: Socket; natt: Socket }>();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const clock = (): number => performance.now() - t0;
  let load: IkeLoad;
  const transport: LoadTransport = {
    async open(i) {
      const addr = outerAddr(i);
      const ike = await bind(addr, 0);
      const natt = await bind(addr, NAT_T_PORT).catch((e: Error) => {
        ike.close();
        throw e;
      });
      const port = ike.address().port;
      ike.on('message', (m, r) => load.receive(i, m, { from: { addr: r.address, port: r.port }, to: { addr, port } }));
      natt.on('message', (m, r) => {
        if (isMarked(m)) load.receive(i, m.subarray(NON_ESP_MARKER.length), { from: { addr: r.address, port: r.port }, to: { addr, port: NAT_T_PORT } });
      });
      sockets.set(i, { ike, natt });
      return { addr, port };
    },
    send(i, e) {
      const s = sockets.get(i);
      if (!s) return;
      if (e.from.port === NAT_T_PORT) s.natt.send(Buffer.concat([NON_ESP_MARKER, e.bytes]), e.to.port, e.to.addr);
      else s.ike.send(e.bytes, e.to.port, e.to.addr);
    },
    close(i) {
      const s = sockets.get(i);
      sockets.delete(i);
      s?.ike.close();
      s?.natt.close();
    },
  };
  load = new IkeLoad(
    { ...o, transport, config: (i, local) => peerConfig(i, { gatewayAddr: o.gatewayAddr, local, psk, random }) },
    clock,
  );
  const ticker = setInterval(() => load.tick(), 50);
  load.begin();
  const r = await load.done.finally(() => clearInterval(ticker));
  const cpu = process.cpuUsage(cpu0);
  return {
    ...r,
    wallS: r.firstInitAt !== undefined && r.lastUpAt !== undefined ? (r.lastUpAt - r.firstInitAt) / 1000 : null,
    generatorCpuS: (cpu.user + cpu.system) / 1e6,
  };
}

// run as a script (bench/handshake.ts starts it in the generator namespace)
if (process.argv[1]?.endsWith('handshake-generator.ts')) {
  const psk = process.env[PSK_ENV];
  if (!psk) {
    process.stderr.write(`handshake-generator: $${PSK_ENV} is not set\n`);
    process.exit(2);
  }
  generate(JSON.parse(process.argv[2] ?? '{}') as GeneratorOptions, psk).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (e: Error) => {
      process.stderr.write(`handshake-generator: ${e.message}\n`);
      process.exit(1);
    },
  );
}
