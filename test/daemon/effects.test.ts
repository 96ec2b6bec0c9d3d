// Two daemons' glue back to back in memory: real IKE dispatchers, real SAD/SPD, the effect
// applier and the datapath, with fake sockets, TUN and routes. What an operator would see:
// the tunnel comes up, routes for the far side are asked for, inner packets cross intact,
// keys do not linger in the effects, a PSK mismatch becomes failure row F3, and a Delete
// leaves no SA, policy or route behind.
import { describe, expect, it } from 'vitest';
import { IkeDispatcher } from '../../src/ike/dispatcher.js';
import type { Effect } from '../../src/ike/effects.js';
import type { Endpoint, IkeSaConfig } from '../../src/ike/config.js';
import { Sad } from '../../src/ipsec/sad.js';
import { Spd } from '../../src/ipsec/spd.js';
import { Datapath } from '../../src/daemon/datapath.js';
import { EffectApplier } from '../../src/daemon/effects.js';
import type { ChildRecord } from '../../src/daemon/child-record.js';
import { REKEYED_INBOUND_GRACE_MS } from '../../src/daemon/rekeyed-inbound.js';
import { selectorCidrs } from '../../src/wire/selectors.js';
import { silentLogger } from '../../src/daemon/log.js';
import { config, I_ADDR, R_ADDR, psk } from '../ike/helpers/pair.js';
import { seededRandom } from '../ike/helpers/random.js';
import { udpPacket } from '../ipsec/helpers.js';
import { bareApplier } from './helpers/applier.js';

interface Side {
  sad: Sad;
  spd: Spd;
  applier: EffectApplier;
  dispatcher: IkeDispatcher;
  datapath: Datapath;
  /** An inbound ESP batch, and what the daemon does with what the datapath saw (daemon.ts afterInbound). */
  inbound(packets: Uint8Array[], viaUdp?: boolean): void;
  routes: { installed: string[][]; removed: number; error?: string };
  sentEsp: { packets: Uint8Array[]; to: string; encap: boolean }[];
  tunWrites: Uint8Array[][];
  applied: Effect[];
}

/** The daemons' clock (ms): the effect applier stamps SAs with it and the grace runs on it. */
interface Clock {
  now: number;
}

function side(cfg: IkeSaConfig | undefined, outbox: { bytes: Uint8Array; to: Endpoint; from: Endpoint; side: Side }[], seed: number, clock: Clock, graceMs?: number): Side {
  const s = { routes: { installed: [], removed: 0 }, sentEsp: [], tunWrites: [], applied: [] } as unknown as Side;
  s.sad = new Sad();
  s.spd = new Spd();
  s.applier = new EffectApplier({
    sad: s.sad,
    spd: s.spd,
    sendIke: (bytes, to, from) => outbox.push({ bytes, to, from, side: s }),
    routes: {
      install: (cidrs) => {
        if (s.routes.error) throw new Error(s.routes.error);
        s.routes.installed.push(cidrs);
        return cidrs;
      },
      remove: () => void s.routes.removed++,
    },
    now: () => clock.now,
    wallClock: () => Date.UTC(2026, 10, 26),
    log: silentLogger,
    forceEncap: () => false,
    rekeyedInboundGraceMs: graceMs,
  });
  s.dispatcher = new IkeDispatcher({ configFor: () => (cfg ? [cfg] : []), random: seededRandom(seed) });
  const collect = (buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, n: number) => Array.from({ length: n }, (_, i) => buf.slice(offs[i], offs[i] + lens[i]));
  s.datapath = new Datapath({
    sad: s.sad,
    spd: s.spd,
    tun: { writeBatch: (buf, offs, lens, n) => (s.tunWrites.push(collect(buf, offs, lens, n)), n) },
    sendUdp: (buf, offs, lens, n, to) => (s.sentEsp.push({ packets: collect(buf, offs, lens, n), to: `${to.addr}:${to.port}`, encap: true }), n),
    sendRaw: (buf, offs, lens, n, addr) => (s.sentEsp.push({ packets: collect(buf, offs, lens, n), to: addr, encap: false }), n),
    now: () => 0,
    innerMtu: 1400,
    log: silentLogger,
  });
  s.inbound = (packets, viaUdp) => s.applier.inboundSeen(s.datapath.inbound(packets, viaUdp));
  return s;
}

/** Left initiates to right; IKE datagrams are delivered until both are quiet. */
function tunnel(o: { rightPsk?: string; graceMs?: number; leftRouteError?: string } = {}) {
  const outbox: { bytes: Uint8Array; to: Endpoint; from: Endpoint; side: Side }[] = [];
  const clock: Clock = { now: 0 };
  const lCfg = config({ id: 'left.example', seed: 1, localTs: ['10.1.0.0/16'], remoteTs: ['10.2.0.0/16'] }, I_ADDR, R_ADDR);
  const rCfg = config({ id: 'right.example', seed: 2, localTs: ['10.2.0.0/16'], remoteTs: ['10.1.0.0/16'], localAuth: psk(o.rightPsk) }, R_ADDR, I_ADDR);
  const left = side(undefined, outbox, 3, clock, o.graceMs);
  const right = side(rCfg, outbox, 4, clock, o.graceMs);
  left.routes.error = o.leftRouteError;
  const apply = (s: Side, fx: Effect[]) => {
    s.applied.push(...fx);
    s.applier.apply(fx);
  };
  const run = () => {
    for (let guard = 0; outbox.length && guard < 100; guard++) {
      const m = outbox.shift()!;
      const to = m.side === left ? right : left;
      apply(to, to.dispatcher.handleDatagram(0, m.bytes, { from: m.from, to: m.to }));
    }
  };
  /** Let `ms` pass; the daemon's timer removes the rekeyed inbound SAs whose grace is over. */
  const advance = (ms: number) => {
    clock.now += ms;
    for (const s of [left, right]) if ((s.applier.rekeyed.nextDeadline() ?? Infinity) <= clock.now) s.applier.rekeyed.expire(clock.now);
  };
  apply(left, left.dispatcher.initiate(0, lCfg).effects);
  run();
  return { left, right, run, apply, lCfg, advance };
}

describe('effects applied by the daemon (in memory, two sides)', () => {
  it('brings the Child SA up, asks for routes to the far side and carries packets both ways', () => {
    const { left, right } = tunnel();
    expect(left.applier.children.size).toBe(1);
    expect(right.applier.children.size).toBe(1);
    expect(left.routes.installed).toEqual([['10.2.0.0/16']]);
    expect(right.routes.installed).toEqual([['10.1.0.0/16']]);
    expect(left.applier.eventLog.lastFailure).toBeNull();

    const inner = [1, 2, 3].map((i) => udpPacket('10.1.0.5', '10.2.0.9', 4000 + i, 53, 100 * i, i));
    const buf = Buffer.concat(inner);
    const offsets = Uint32Array.from([0, inner[0].length, inner[0].length + inner[1].length]);
    left.datapath.outbound({ buf, offsets, lengths: Uint32Array.from(inner.map((p) => p.length)), count: 3 });
    // one send for the whole batch, to the peer's outer address, raw ESP (no NAT)
    expect(left.sentEsp).toHaveLength(1);
    expect(left.sentEsp[0]).toMatchObject({ to: R_ADDR.addr, encap: false });
    expect(left.sentEsp[0].packets).toHaveLength(3);
    right.inbound(left.sentEsp[0].packets);
    expect(right.tunWrites).toHaveLength(1); // one TUN write for the batch
    expect(right.tunWrites[0].map((p) => Buffer.from(p))).toEqual(inner.map((p) => Buffer.from(p)));

    const back = udpPacket('10.2.0.9', '10.1.0.5', 53, 4001, 64, 9);
    right.datapath.outbound({ buf: back, offsets: Uint32Array.of(0), lengths: Uint32Array.of(back.length), count: 1 });
    left.inbound(right.sentEsp[0].packets);
    expect(Buffer.from(left.tunWrites[0][0])).toEqual(Buffer.from(back));
  });

  it('answers in UDP 4500 once the peer sends authenticated ESP in UDP (strongSwan libipsec does, NAT or not)', () => {
    const { left, right } = tunnel();
    const out = udpPacket('10.1.0.5', '10.2.0.9', 1, 2, 10);
    left.datapath.outbound({ buf: out, offsets: Uint32Array.of(0), lengths: Uint32Array.of(out.length), count: 1 });
    right.inbound([new Uint8Array(9).fill(1)], true); // garbage in UDP teaches nothing
    const back = udpPacket('10.2.0.9', '10.1.0.5', 2, 1, 10);
    right.datapath.outbound({ buf: back, offsets: Uint32Array.of(0), lengths: Uint32Array.of(back.length), count: 1 });
    expect(right.sentEsp[0]).toMatchObject({ to: I_ADDR.addr, encap: false });
    right.inbound(left.sentEsp[0].packets, true); // as if it came to port 4500
    right.datapath.outbound({ buf: back, offsets: Uint32Array.of(0), lengths: Uint32Array.of(back.length), count: 1 });
    expect(right.sentEsp[1]).toMatchObject({ to: `${I_ADDR.addr}:4500`, encap: true });
  });

  it('F8: a peer-moved event sends the ESP in UDP of that connection\'s Child SAs to the new mapping, and leaves other connections\' alone', () => {
    const { left, right } = tunnel();
    const out = udpPacket('10.1.0.5', '10.2.0.9', 1, 2, 10);
    left.datapath.outbound({ buf: out, offsets: Uint32Array.of(0), lengths: Uint32Array.of(out.length), count: 1 });
    right.inbound(left.sentEsp[0].packets, true); // ESP in UDP from the peer's 4500: the outer path is UDP now
    const back = udpPacket('10.2.0.9', '10.1.0.5', 2, 1, 10);
    const send = () => right.datapath.outbound({ buf: back, offsets: Uint32Array.of(0), lengths: Uint32Array.of(back.length), count: 1 });
    const conn = [...right.applier.children.values()][0]!.info.conn;
    const moved = (c: string): Effect => ({ type: 'event', conn: c, event: { type: 'peer-moved', from: { addr: I_ADDR.addr, port: 4500 }, to: { addr: I_ADDR.addr, port: 34500 }, via: 'esp', nat: { local: false, remote: true } } });
    right.applier.apply([moved('another')]);
    send();
    expect(right.sentEsp.at(-1)).toMatchObject({ to: `${I_ADDR.addr}:4500`, encap: true });
    right.applier.apply([moved(conn)]);
    send();
    expect(right.sentEsp.at(-1)).toMatchObject({ to: `${I_ADDR.addr}:34500`, encap: true });
    // the F8 row (from the connection layer) is resolved by the next authenticated ESP
    const ev = { peer: { from: `${I_ADDR.addr}:4500`, to: `${I_ADDR.addr}:34500` }, noticedBy: 'esp' as const, nat: { local: false, remote: true }, keepalive: { intervalS: 0, state: 'off' as const } };
    right.applier.apply([{ type: 'event', conn, event: { type: 'failure', row: 'F8', message: 'moved', evidence: ev } }]);
    expect(right.applier.eventLog.lastFailure).toMatchObject({ row: 'F8', fixArea: 'NAT-T, UDP 4500, keepalive interval' });
    left.datapath.outbound({ buf: out, offsets: Uint32Array.of(0), lengths: Uint32Array.of(out.length), count: 1 });
    right.inbound(left.sentEsp.at(-1)!.packets, true);
    expect(right.applier.eventLog.lastFailure).toBeNull();
    expect(right.applier.eventLog.history.list()[0]).toMatchObject({ row: 'F8', resolvedAt: expect.any(String) });
  });

  it('MOBIKE: a peer-moved via mobike moves raw ESP to the new address; a NAT on the new path (peer or our own local-moved) switches to ESP in UDP', () => {
    const { left, right } = tunnel();
    const back = udpPacket('10.2.0.9', '10.1.0.5', 2, 1, 10);
    const send = (s: Side) => s.datapath.outbound({ buf: back, offsets: Uint32Array.of(0), lengths: Uint32Array.of(back.length), count: 1 });
    const conn = [...right.applier.children.values()][0]!.info.conn;
    send(right);
    expect(right.sentEsp.at(-1)).toMatchObject({ to: I_ADDR.addr, encap: false });
    const NEW = '198.51.100.9';
    right.applier.apply([{ type: 'event', conn, event: { type: 'peer-moved', from: I_ADDR, to: { addr: NEW, port: 500 }, via: 'mobike', nat: { local: false, remote: false } } }]);
    send(right);
    expect(right.sentEsp.at(-1)).toMatchObject({ to: NEW, encap: false });
    right.applier.apply([{ type: 'event', conn, event: { type: 'peer-moved', from: { addr: NEW, port: 500 }, to: { addr: '203.0.113.7', port: 1500 }, via: 'mobike', nat: { local: false, remote: true } } }]);
    send(right);
    expect(right.sentEsp.at(-1)).toMatchObject({ to: '203.0.113.7:1500', encap: true });
    // the client's side: its own address moved behind a NAT, the peer stays where it was
    const lconn = [...left.applier.children.values()][0]!.info.conn;
    left.applier.apply([{ type: 'event', conn: lconn, event: { type: 'local-moved', from: I_ADDR, to: { addr: '192.168.7.5', port: 4500 }, remote: { addr: R_ADDR.addr, port: 4500 }, nat: { local: true, remote: false } } }]);
    const out = udpPacket('10.1.0.5', '10.2.0.9', 1, 2, 10);
    left.datapath.outbound({ buf: out, offsets: Uint32Array.of(0), lengths: Uint32Array.of(out.length), count: 1 });
    expect(left.sentEsp.at(-1)).toMatchObject({ to: `${R_ADDR.addr}:4500`, encap: true });
  });

  it('MOBIKE with ESP in UDP and no NAT (encapsulation forced or learnt): the ESP follows to the new address\'s port 4500, not its IKE port', () => {
    const { left, right } = tunnel();
    const out = udpPacket('10.1.0.5', '10.2.0.9', 1, 2, 10);
    left.datapath.outbound({ buf: out, offsets: Uint32Array.of(0), lengths: Uint32Array.of(out.length), count: 1 });
    right.inbound(left.sentEsp[0].packets, true); // the peer sends ESP in UDP: right follows into UDP
    const back = udpPacket('10.2.0.9', '10.1.0.5', 2, 1, 10);
    const send = () => right.datapath.outbound({ buf: back, offsets: Uint32Array.of(0), lengths: Uint32Array.of(back.length), count: 1 });
    send();
    expect(right.sentEsp.at(-1)).toMatchObject({ to: `${I_ADDR.addr}:4500`, encap: true });
    const conn = [...right.applier.children.values()][0]!.info.conn;
    right.applier.apply([{ type: 'event', conn, event: { type: 'peer-moved', from: I_ADDR, to: { addr: '198.51.100.9', port: 500 }, via: 'mobike', nat: { local: false, remote: false } } }]);
    send();
    expect(right.sentEsp.at(-1)).toMatchObject({ to: '198.51.100.9:4500', encap: true });
  });

  it('zeroes the Child SA keys in the install-sa effect once the SAs hold their own copies', () => {
    const { left } = tunnel();
    const installs = left.applied.filter((e): e is Extract<Effect, { type: 'install-sa' }> => e.type === 'install-sa');
    expect(installs).toHaveLength(1);
    for (const k of [installs[0].child.keysIn, installs[0].child.keysOut]) expect(k.encr.every((b) => b === 0)).toBe(true);
    // and the SAs still work (they copied the keys before the zeroing)
    expect(left.sad.list()).toHaveLength(2);
  });

  it('a PSK mismatch is failure row F3, with no SA, policy or route', () => {
    const { left, right } = tunnel({ rightPsk: 'a different secret' });
    const f = left.applier.eventLog.lastFailure ?? right.applier.eventLog.lastFailure;
    expect(f?.row).toBe('F3');
    const shown = [left.applier.eventLog.lastFailure, right.applier.eventLog.lastFailure, left.applier.eventLog.lastUnauthenticatedFailure, right.applier.eventLog.lastUnauthenticatedFailure];
    expect(JSON.stringify(shown)).not.toContain('different secret');
    expect(left.sad.list()).toHaveLength(0);
    expect(left.spd.list()).toHaveLength(0);
    expect(left.routes.installed).toHaveLength(0);
  });

  it('routes that cannot be installed are failure row F5 with the remote selectors; the SAs stay up and a Delete still cleans up', () => {
    const { left, right, run, apply } = tunnel({ leftRouteError: 'RTNETLINK answers: Operation not permitted' });
    expect(left.applier.eventLog.lastFailure).toMatchObject({ row: 'F5', evidence: { remoteTs: ['10.2.0.0/16'] } });
    expect(left.applier.eventLog.lastFailure?.message).toContain('Operation not permitted');
    expect(left.applier.children.size).toBe(1);
    expect(left.spd.list()).toHaveLength(1);
    // the Child SA says so itself: never "up" without its routes (status, tsvpn up's lines)
    expect([...left.applier.children.values()][0]!.routeError).toContain('Operation not permitted');
    expect([...right.applier.children.values()][0]!.routeError).toBeUndefined();
    apply(left, left.dispatcher.list()[0].delete(1));
    run();
    expect(left.sad.list()).toHaveLength(0);
    expect(left.routes.removed).toBe(0); // nothing was routed, nothing to remove
    expect(left.applier.errors).toBe(0);
  });

  it('a Child SA left NOT ROUTED gets its routes on a retry once they can be installed, and a Delete then removes them', () => {
    const { left, run, apply } = tunnel({ leftRouteError: 'RTNETLINK answers: Operation not permitted' });
    const child = (): ChildRecord => [...left.applier.children.values()][0]!;
    expect(left.applier.retryRoutes()).toEqual([]); // still refused: still NOT ROUTED, same reason
    expect(child().routeError).toContain('Operation not permitted');
    expect(left.routes.installed).toHaveLength(0);
    left.routes.error = undefined;
    expect(left.applier.retryRoutes()).toEqual([child().info.name]);
    expect(child().routeError).toBeUndefined();
    expect(left.routes.installed).toEqual([['10.2.0.0/16']]);
    expect(left.applier.retryRoutes()).toEqual([]); // nothing left to retry: no second route
    expect(left.routes.installed).toHaveLength(1);
    apply(left, left.dispatcher.list()[0].delete(1));
    run();
    expect(left.routes.removed).toBe(1);
  });

  it('a Delete removes SAs, policies and routes on both sides', () => {
    const { left, right, run, apply } = tunnel();
    const sa = left.dispatcher.list()[0];
    apply(left, sa.delete(1));
    run();
    for (const s of [left, right]) {
      expect(s.sad.list()).toHaveLength(0);
      expect(s.spd.list()).toHaveLength(0);
      expect(s.routes.removed).toBe(1);
      expect(s.applier.children.size).toBe(0);
    }
  });

  it('reauthentication (RFC 7296 §2.8.3): the new IKE SA\'s initiator sends on it at once, the responder only once the old SA is deleted; the shared route stays until the last Child SA goes', () => {
    const { left, right, run, apply, lCfg } = tunnel();
    const old = left.dispatcher.list()[0];
    const rightOldOut = [...right.applier.children.values()][0].info.spiOut;
    apply(left, left.dispatcher.initiate(0, { ...lCfg, initialContact: false, random: seededRandom(77) }).effects);
    run();
    // right did not make the new Child SA: until left has it (our IKE_AUTH response), right stays on the old one
    expect(right.applier.children.size).toBe(2);
    const back = udpPacket('10.2.0.9', '10.1.0.5', 2, 1, 10);
    const sendBack = () => right.datapath.outbound({ buf: back, offsets: Uint32Array.of(0), lengths: Uint32Array.of(back.length), count: 1 });
    sendBack();
    expect(Buffer.from(right.sentEsp.at(-1)!.packets[0].subarray(0, 4)).readUInt32BE(0)).toBe(rightOldOut);
    expect(left.applier.children.size).toBe(2);
    expect(left.routes.installed).toEqual([['10.2.0.0/16']]); // one route for both
    // the newest Child SA's policy matches first: packets go out with its SPI
    const oldSpiIn = old.children[0].spiIn;
    const newest = [...left.applier.children.values()].find((c) => c.info.spiIn !== oldSpiIn)!;
    const p = udpPacket('10.1.0.5', '10.2.0.9', 1, 2, 10);
    left.datapath.outbound({ buf: p, offsets: Uint32Array.of(0), lengths: Uint32Array.of(p.length), count: 1 });
    const spi = Buffer.from(left.sentEsp[0].packets[0].subarray(0, 4)).readUInt32BE(0);
    expect(spi).toBe(newest.info.spiOut);
    expect(right.applier.order.awaitingPeer).toBe(true);
    apply(left, old.delete(1));
    run();
    expect(right.applier.order.awaitingPeer).toBe(false); // the old SA is gone: the new one is first anyway
    expect(left.applier.children.size).toBe(1);
    expect(left.routes.removed).toBe(0); // still needed by the new Child SA
    // the old IKE SA and its Child SA are gone: right sends on the new one, which left has
    const rightNew = [...right.applier.children.values()];
    expect(rightNew).toHaveLength(1);
    sendBack();
    expect(Buffer.from(right.sentEsp.at(-1)!.packets[0].subarray(0, 4)).readUInt32BE(0)).toBe(rightNew[0].info.spiOut);
    left.inbound(right.sentEsp.at(-1)!.packets);
    expect(Buffer.from(left.tunWrites.at(-1)![0])).toEqual(Buffer.from(back));
    expect(right.routes.removed).toBe(0);
    const cur = left.dispatcher.list().find((sa) => sa.state === 'ESTABLISHED')!;
    apply(left, cur.delete(2));
    run();
    expect(left.routes.removed).toBe(1);
    expect(right.sad.list()).toHaveLength(0);
  });

  it('reauthentication: the responder of the new IKE SA sends on the new Child SA as soon as the peer\'s first packet arrives on it, before the old one is deleted', () => {
    const { left, right, run, apply, lCfg } = tunnel();
    const rightOld = [...right.applier.children.values()][0].info;
    const p = udpPacket('10.1.0.5', '10.2.0.9', 1, 2, 10);
    const sendOut = () => left.datapath.outbound({ buf: p, offsets: Uint32Array.of(0), lengths: Uint32Array.of(p.length), count: 1 });
    sendOut();
    const onOld = left.sentEsp.at(-1)!.packets; // still on its way when the reauthentication is done
    apply(left, left.dispatcher.initiate(0, { ...lCfg, initialContact: false, random: seededRandom(77) }).effects);
    run();
    const back = udpPacket('10.2.0.9', '10.1.0.5', 2, 1, 10);
    const sendBack = () => right.datapath.outbound({ buf: back, offsets: Uint32Array.of(0), lengths: Uint32Array.of(back.length), count: 1 });
    const lastSpi = () => Buffer.from(right.sentEsp.at(-1)!.packets[0].subarray(0, 4)).readUInt32BE(0);
    sendBack();
    expect(lastSpi()).toBe(rightOld.spiOut); // waiting behind the old SA
    // ESP from left on the old SA changes nothing
    right.inbound(onOld);
    expect(right.tunWrites).toHaveLength(1);
    sendBack();
    expect(lastSpi()).toBe(rightOld.spiOut);
    // left (the new IKE SA's initiator) already sends on the new Child SA; its first packet reaches right
    sendOut();
    right.inbound(left.sentEsp.at(-1)!.packets);
    expect(Buffer.from(right.tunWrites.at(-1)![0])).toEqual(Buffer.from(p));
    const rightNew = [...right.applier.children.values()].find((c) => c.info.spiIn !== rightOld.spiIn)!.info;
    sendBack();
    expect(lastSpi()).toBe(rightNew.spiOut); // no Delete has been sent yet
    left.inbound(right.sentEsp.at(-1)!.packets);
    expect(Buffer.from(left.tunWrites.at(-1)![0])).toEqual(Buffer.from(back));
    expect(right.applier.children.size).toBe(2); // the old SA stays until left deletes it
    expect(right.applier.order.awaitingPeer).toBe(false);
  });

  for (const who of ['left', 'right'] as const) {
    it(`a Child SA rekey started by ${who} moves traffic to the new SPIs without touching the routes`, () => {
      const t = tunnel();
      const side = t[who];
      const sa = side.dispatcher.list()[0];
      const oldIn = [...side.applier.children.keys()][0];
      t.apply(side, sa.rekeyChild(10, oldIn));
      side.dispatcher.adopt(sa);
      t.run();
      for (const s of [t.left, t.right]) {
        expect(s.applier.children.size).toBe(1); // the old SA was deleted (RFC 7296 §2.8)
        const c = [...s.applier.children.values()][0];
        expect(c.rekeys).toBe(1);
        expect(s.spd.list()).toHaveLength(1);
        expect(s.spd.list()[0].sa).toBe(c.outSa);
        expect(s.routes.installed).toHaveLength(1);
        expect(s.routes.removed).toBe(0);
        expect(s.sad.list()).toHaveLength(2);
      }
      const p = udpPacket('10.1.0.5', '10.2.0.9', 1, 2, 10);
      t.left.datapath.outbound({ buf: p, offsets: Uint32Array.of(0), lengths: Uint32Array.of(p.length), count: 1 });
      t.right.inbound(t.left.sentEsp[0].packets);
      expect(Buffer.from(t.right.tunWrites[0][0])).toEqual(Buffer.from(p));
    });
  }

  it('turns selector ranges into route prefixes', () => {
    expect(selectorCidrs(['203.0.113.128/25[tcp/443]', '192.0.2.1-192.0.2.6'])).toEqual([
      '203.0.113.128/25',
      '192.0.2.1/32',
      '192.0.2.2/31',
      '192.0.2.4/31',
      '192.0.2.6/32',
    ]);
    expect(selectorCidrs(['0.0.0.0/0', '2001:db8::/32'])).toEqual(['0.0.0.0/0', '2001:db8::/32']);
  });
});

/** Inner packets `from` sends now, as ESP on its current outbound SA (one batch each). */
function espFrom(from: Side, n: number, src: string, dst: string): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let i = 0; i < n; i++) {
    const p = udpPacket(src, dst, 5000 + i, 53, 20, i);
    const mark = from.sentEsp.length;
    from.datapath.outbound({ buf: p, offsets: Uint32Array.of(0), lengths: Uint32Array.of(p.length), count: 1 });
    expect(from.sentEsp.length).toBe(mark + 1);
    out.push(from.sentEsp[mark].packets);
  }
  return out;
}

/** Deliver ESP to `to`; true when it was decrypted and written to the TUN. */
function accepted(to: Side, esp: Uint8Array[]): boolean {
  const before = to.tunWrites.length;
  to.inbound(esp);
  return to.tunWrites.length > before;
}

const spiOf = (esp: Uint8Array[]) => Buffer.from(esp[0].subarray(0, 4)).readUInt32BE(0);

/** A Child SA rekey started by left, run to the end (CREATE_CHILD_SA, then the Delete of the old SA). */
function rekey(t: ReturnType<typeof tunnel>) {
  const old = { left: [...t.left.applier.children.keys()][0], right: [...t.right.applier.children.keys()][0] };
  const sa = t.left.dispatcher.list()[0];
  t.apply(t.left, sa.rekeyChild(10, old.left));
  t.left.dispatcher.adopt(sa);
  t.run();
  for (const s of [t.left, t.right]) {
    expect(s.applied.some((e) => e.type === 'event' && e.event.type === 'child-rekeyed')).toBe(true);
    expect(s.applied.some((e) => e.type === 'remove-sa')).toBe(true); // the Delete of the old SA was applied
    expect(s.applier.children.size).toBe(1);
    expect(s.applier.children.has(old[s === t.left ? 'left' : 'right'])).toBe(false);
  }
  return old;
}

/** Sides with a rekeyed inbound SA still to remove (a deadline on the daemon's timer). */
const pending = (t: ReturnType<typeof tunnel>) => [t.left, t.right].filter((s) => s.applier.rekeyed.nextDeadline() !== undefined).length;

describe('the replaced inbound SA after a Child SA rekey (REKEYED_INBOUND_GRACE_MS, as charon.delete_rekeyed_delay)', () => {
  it('RFC 7296 §2.8: after a rekey\'s Delete the old inbound SA still decrypts ESP queued behind the Delete, until 2000 ms; then it is gone', () => {
    expect(REKEYED_INBOUND_GRACE_MS).toBe(2000);
    const t = tunnel({ graceMs: REKEYED_INBOUND_GRACE_MS });
    // ESP each side sent on the old SA before the rekey, still on its way when the Delete lands
    const lr = espFrom(t.left, 2, '10.1.0.5', '10.2.0.9');
    const rl = espFrom(t.right, 2, '10.2.0.9', '10.1.0.5');
    const old = rekey(t);
    expect(spiOf(lr[0])).toBe(old.right);
    expect(spiOf(rl[0])).toBe(old.left);
    const oldIn = { left: t.left.sad.inbound(old.left)!, right: t.right.sad.inbound(old.right)! };
    for (const [s, spi] of [[t.left, old.left], [t.right, old.right]] as const) {
      expect(s.sad.inbound(spi)).toBeDefined(); // the inbound half stays in the SAD
      expect(s.sad.list()).toHaveLength(3); // new in, old in, new out: the old outbound SA is gone
      expect(s.sad.list().filter((x) => x.direction === 'out')).toHaveLength(1);
    }
    expect(pending(t)).toBe(2); // one removal deadline per side, on the daemon's timer

    expect(accepted(t.right, lr[0])).toBe(true);
    expect(accepted(t.left, rl[0])).toBe(true);
    t.advance(REKEYED_INBOUND_GRACE_MS - 1);
    expect(t.right.sad.inbound(old.right)).toBe(oldIn.right);
    expect(t.left.sad.inbound(old.left)).toBe(oldIn.left);

    t.advance(1);
    for (const [s, spi, sa] of [[t.left, old.left, oldIn.left], [t.right, old.right, oldIn.right]] as const) {
      expect(s.sad.inbound(spi)).toBeUndefined();
      expect(s.sad.list()).toHaveLength(2);
      expect(sa.removed).toBe(true); // its keys are zeroed
    }
    expect(pending(t)).toBe(0);
    const unknown = t.right.sad.counters.inbound.drops['unknown-spi'];
    expect(accepted(t.right, lr[1])).toBe(false);
    expect(t.right.sad.counters.inbound.drops['unknown-spi']).toBe(unknown + 1);
    expect(accepted(t.left, rl[1])).toBe(false);
    // the new SAs carry the traffic
    const [fresh] = espFrom(t.left, 1, '10.1.0.5', '10.2.0.9');
    expect(spiOf(fresh)).not.toBe(old.right);
    expect(accepted(t.right, fresh)).toBe(true);
  });

  it('RFC 7296 §1.4.1: a Delete that ends a Child SA without a successor removes its inbound SA at once, grace or not', () => {
    const t = tunnel({ graceMs: REKEYED_INBOUND_GRACE_MS });
    const [lr] = espFrom(t.left, 1, '10.1.0.5', '10.2.0.9');
    const sa = t.left.dispatcher.list()[0];
    const spi = [...t.left.applier.children.keys()][0];
    const rightIn = [...t.right.applier.children.keys()][0];
    t.apply(t.left, sa.deleteChild(1, spi));
    t.run();
    for (const s of [t.left, t.right]) {
      expect(s.applied.some((e) => e.type === 'remove-sa')).toBe(true);
      expect(s.applier.children.size).toBe(0);
      expect(s.sad.list()).toHaveLength(0);
      expect(s.applier.rekeyed.size).toBe(0);
    }
    expect(t.right.sad.inbound(rightIn)).toBeUndefined();
    expect(pending(t)).toBe(0);
    expect(accepted(t.right, lr)).toBe(false);
  });

  it('RFC 7296 §1.4.1: deleting the IKE SA removes the Child SA\'s inbound SA at once, with no deadline left', () => {
    const t = tunnel({ graceMs: REKEYED_INBOUND_GRACE_MS });
    const sa = t.left.dispatcher.list()[0];
    t.apply(t.left, sa.delete(1));
    t.run();
    for (const s of [t.left, t.right]) {
      expect(s.sad.list()).toHaveLength(0);
      expect(s.applier.rekeyed.size).toBe(0);
    }
    expect(pending(t)).toBe(0);
  });

  it('shutdown during the grace period removes the lingering inbound SA and its deadline (nothing left to fire)', () => {
    const t = tunnel({ graceMs: REKEYED_INBOUND_GRACE_MS });
    const [lr] = espFrom(t.left, 1, '10.1.0.5', '10.2.0.9');
    const old = rekey(t);
    t.advance(REKEYED_INBOUND_GRACE_MS / 2);
    expect(t.right.sad.inbound(old.right)).toBeDefined();
    expect(pending(t)).toBe(2);

    t.right.applier.removeAll();
    expect(t.right.sad.inbound(old.right)).toBeUndefined();
    expect(t.right.sad.list()).toHaveLength(0);
    expect(t.right.applier.rekeyed.size).toBe(0);
    expect(pending(t)).toBe(1); // only left's is left
    expect(accepted(t.right, lr)).toBe(false);
    t.left.applier.removeAll();
    expect(t.left.sad.list()).toHaveLength(0);
    expect(pending(t)).toBe(0);
    t.advance(10 * REKEYED_INBOUND_GRACE_MS); // nothing is due late
    expect(t.right.applier.errors + t.left.applier.errors).toBe(0);
  });

  it('rekeyedInboundGraceMs 0: the replaced inbound SA is removed with the Delete, at once', () => {
    const t = tunnel({ graceMs: 0 });
    const [lr] = espFrom(t.left, 1, '10.1.0.5', '10.2.0.9');
    const old = rekey(t);
    expect(pending(t)).toBe(0);
    for (const [s, spi] of [[t.left, old.left], [t.right, old.right]] as const) {
      expect(s.sad.inbound(spi)).toBeUndefined();
      expect(s.sad.list()).toHaveLength(2);
    }
    expect(accepted(t.right, lr)).toBe(false);
  });
});

describe('F1 evidence added by the daemon', () => {
  it('an F1 to an address gets the next hop\'s neighbour state, read once per F1; other rows and unauthenticated F1s do not', () => {
    const asked: string[] = [];
    const applier = bareApplier({ neighbourOf: (peer) => (asked.push(peer), { hop: peer, dev: 'veth0', state: ['FAILED'] }) });
    const f1 = { type: 'failure', row: 'F1', message: 'no answer yet', evidence: { pending: true, retransmits: 1, to: R_ADDR, from: I_ADDR, exchange: 'IKE_SA_INIT', nextRetransmitInS: 7 } } as const;
    applier.apply([{ type: 'event', event: f1 }]);
    expect(applier.eventLog.lastFailure?.evidence).toMatchObject({ pending: true, neighbour: { hop: R_ADDR.addr, dev: 'veth0', state: ['FAILED'] } });
    expect(f1.evidence).not.toHaveProperty('neighbour'); // the IKE layer's event is left as it was
    applier.apply([{ type: 'event', event: { ...f1, unauthenticated: { from: R_ADDR } } }]);
    applier.apply([{ type: 'event', event: { type: 'failure', row: 'F3', message: 'x', evidence: { check: 'psk-mismatch' } } }]);
    expect(asked).toEqual([R_ADDR.addr]);
  });
});

