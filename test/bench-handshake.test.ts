// The handshake bench's load generator (bench/lab/ike-load.ts) in memory: 20 simulated
// peers against an IkeDispatcher serving the bench's %any gateway connection, no sockets.
// What the bench relies on: every peer ends up with an IKE SA and its own narrowed /32 Child
// SA on the gateway, COOKIEs demanded above the threshold are followed, and a gateway that
// does not answer shows up as timeouts, not as established peers.
import { describe, expect, it } from 'vitest';
import { toIkeSaConfig } from '../src/config/ike-config.js';
import { parsePeerConfig } from '../src/config/load.js';
import { IkeDispatcher } from '../src/ike/dispatcher.js';
import type { Effect } from '../src/ike/effects.js';
import { IkeLoad, type LoadTransport } from '../bench/lab/ike-load.js';
import { gatewayConnection, innerAddr, outerAddr, peerConfig, PSK_ENV } from '../bench/lab/load-peers.js';
import { seededRandom } from './ike/helpers/random.js';

const GW = '198.51.100.2';
const PSK = 'bench-psk-0123456789abcdef';

function inMemory(peers: number, window: number, o: { answer: boolean; deadlineMs?: number; fastClock?: boolean }) {
  const gw = parsePeerConfig({ name: 'gw', ...gatewayConnection(GW, { env: PSK_ENV }) }, process.cwd(), { [PSK_ENV]: PSK });
  const gwRandom = seededRandom(7); // one stream for every responder SA: distinct SPIs and nonces
  const dispatcher = new IkeDispatcher({
    configFor: (path) => [toIkeSaConfig(gw, { random: gwRandom, wallClock: Date.now, remote: path.from, local: path.to })],
    random: seededRandom(8),
  });
  const t0 = Date.now();
  let skipped = 0; // simulated time added on top of the real clock
  const clock = () => Date.now() - t0 + skipped;
  const byAddr = new Map<string, number>();
  const gatewayFx: Effect[] = [];
  let load: IkeLoad;
  const transport: LoadTransport = {
    open: async (i) => {
      byAddr.set(outerAddr(i), i);
      return { addr: outerAddr(i), port: 40000 + i };
    },
    send: (_i, e) => {
      if (!o.answer) return;
      // delivered after the sender's effects are applied, as a socket would
      setImmediate(() => {
        const fx = dispatcher.handleDatagram(clock(), e.bytes, { from: e.from, to: e.to });
        gatewayFx.push(...fx);
        for (const r of fx) {
          const peer = r.type === 'send' ? byAddr.get(r.to.addr) : undefined;
          if (r.type === 'send' && peer !== undefined) load.receive(peer, r.bytes, { from: r.from, to: r.to });
        }
      });
    },
    close: () => {},
  };
  load = new IkeLoad(
    {
      peers,
      window,
      deadlineMs: o.deadlineMs ?? 60_000,
      transport,
      config: (i, local) => peerConfig(i, { gatewayAddr: GW, local, psk: PSK, random: seededRandom(100 + i) }),
    },
    clock,
  );
  const ticker = setInterval(() => {
    if (o.fastClock) skipped += 1000; // a simulated second per tick: retransmits and deadlines come quickly
    load.tick();
  }, 5);
  load.begin();
  return { load, dispatcher, gatewayFx, stop: () => clearInterval(ticker) };
}

describe('bench handshake load generator', () => {
  it('brings up 20 peers, 20 in flight, against an IkeDispatcher: each its own narrowed /32 Child SA, COOKIEs followed', async () => {
    const run = inMemory(20, 20, { answer: true });
    const r = await run.load.done.finally(run.stop);
    expect(r).toMatchObject({ peers: 20, established: 20, failed: 0, timedOut: 0, failures: {} });
    // 20 at once is above the COOKIE threshold (10 half-open): the generator followed them
    expect(run.dispatcher.stats.cookiesSent).toBeGreaterThan(0);
    expect(r.cookies).toBe(run.dispatcher.stats.cookiesSent);
    const gw = run.dispatcher.list();
    expect(gw.filter((sa) => sa.state === 'ESTABLISHED')).toHaveLength(20);
    const installed = run.gatewayFx.flatMap((e) => (e.type === 'install-sa' ? [e.child] : []));
    expect(installed.map((c) => c.remoteTs[0]).sort()).toEqual(Array.from({ length: 20 }, (_, i) => innerAddr(i)).sort());
    expect(new Set(installed.map((c) => c.localTs[0]))).toEqual(new Set(['10.0.0.0/16']));
    expect(r.firstInitAt).toBeDefined();
    expect(r.lastUpAt).toBeGreaterThanOrEqual(r.firstInitAt!);
  });

  it('counts a silent gateway as timeouts, never as established', async () => {
    const run = inMemory(6, 3, { answer: false, deadlineMs: 5_000, fastClock: true });
    const r = await run.load.done.finally(run.stop);
    expect(r.established).toBe(0);
    expect(r.timedOut + r.failed).toBe(6);
    expect(r.timedOut).toBe(6);
    expect(r.retransmits).toBeGreaterThan(0);
  });
});
