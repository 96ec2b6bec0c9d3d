// One running tunnel (contract C4): opens the TUN device and the IKE/ESP sockets, feeds
// datagrams to the IKE dispatcher and packets to the ESP datapath, applies the effects,
// restarts failed negotiations, serves the control socket and tears everything down in
// order: Delete to the peer, SAs (keys zeroed), routes, TUN, sockets, control socket.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { PeerConfig } from '../config/types.js';
import { disposePeerConfig, toIkeSaConfig } from '../config/ike-config.js';
import type { Effect, IkeEvent } from '../ike/effects.js';
import { IkeDispatcher } from '../ike/dispatcher.js';
import type { IkeSa, Path } from '../ike/ike-sa.js';
import { ipToBytes } from '../wire/selectors.js';
import { installRoutes, removeRoutes, type InstalledRoutes } from '../io/routes.js';
import { installTransportRoutes } from '../io/transport-routes.js';
import { OnDemand } from './on-demand.js';
import { Connection, type ConnectionEffect } from '../ike/connection.js';
import { openRawEsp, type RawEspSocket } from '../io/raw-esp.js';
import { openTun, type TunDevice } from '../io/tun.js';
import type { IoError } from '../io/native.js';
import { tooBigReply } from '../ipsec/icmp.js';
import { clampMss } from '../ipsec/mss.js';
import { Sad } from '../ipsec/sad.js';
import { Spd } from '../ipsec/spd.js';
import { DaemonError, startControl, type ControlServer } from './control.js';
import { Datapath, type InboundSeen } from './datapath.js';
import { EffectApplier } from './effects.js';
import { REKEYED_INBOUND_GRACE_MS } from './rekeyed-inbound.js';
import { UdpIo } from './udp-io.js';
import type { Logger } from './log.js';
import { buildStatus, type TunnelStatus } from './status.js';
import { Timers } from './timers.js';
import { checkPrivileges, quietIpv6, routeSource, tunMtuFor } from './host.js';
import { formatEndpoint } from '../wire/ip-text.js';
import { defaultEspBackend } from '../crypto/aead.js';
import { nativeInPlaceAead } from '../io/native-aead.js';
import { NAT_T_PORT } from '../wire/constants.js';

export { DaemonError } from './control.js';
export type { TunnelStatus } from './status.js';
export type { Logger } from './log.js';

export interface DaemonOptions {
  log: Logger;
  controlDir?: string; // default /run/tsvpn
  now?: () => number; // ms
}

export interface Daemon {
  readonly name: string;
  status(): TunnelStatus;
  down(reason?: string): Promise<void>;
  /** Exit code once fully torn down: 0 after down(), 1 after a fatal error. */
  readonly done: Promise<number>;
  /** 'ike': each IKE event, as the daemon applies it (its effects are in status() after a setImmediate). */
  readonly events: EventEmitter<{ ike: [IkeEvent] }>;
}

const DELETE_WAIT_MS = 2_000; // how long shutdown waits for the peer to answer our Delete

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export async function startDaemon(peer: PeerConfig, opts: DaemonOptions): Promise<Daemon> {
  const log = opts.log;
  const clock = opts.now ?? Date.now;
  checkPrivileges();
  let d: Running | undefined;
  // the control socket first: "already up" is a better answer than "port 500 in use"
  const control = await startControl(opts.controlDir ?? '/run/tsvpn', peer.name, (req) =>
    d ? d.control(req.cmd) : { ok: false, error: 'the tunnel is still starting' },
  );
  const opened: { close(): void }[] = [];
  try {
    d = new Running(peer, log, clock, opened, control);
  } catch (e) {
    for (const o of opened.reverse()) o.close();
    await control.close();
    throw e;
  }
  d.start();
  const r = d;
  return { name: peer.name, status: () => r.status(), down: (why) => r.down(why), done: r.done, events: r.events };
}

class Running {
  readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;
  private readonly sad = new Sad({ inPlaceAead: nativeInPlaceAead() }); // ESP seals in place when the addon is built
  private readonly spd = new Spd();
  private readonly io: UdpIo;
  private readonly tun: TunDevice;
  private readonly raw: RawEspSocket | undefined;
  private readonly datapath: Datapath;
  private readonly applier: EffectApplier;
  private readonly dispatcher: IkeDispatcher;
  private readonly timers: Timers;
  private lastIkeIn: number;
  private stopping: Promise<void> | undefined;
  /** Shutdown waits on this: called once no IKE SA is DELETING any more. */
  private deletesDone: (() => void) | undefined;
  private internalErrors = 0;
  readonly events = new EventEmitter<{ ike: [IkeEvent] }>();
  private readonly onDemand: OnDemand;
  /** What happens to this tunnel's IKE SAs over time: retries, dpdAction, reauthentication (src/ike/connection.ts). */
  private readonly conn: Connection;

  constructor(
    private readonly peer: PeerConfig,
    private readonly log: Logger,
    private readonly clock: () => number,
    opened: { close(): void }[],
    private readonly controlServer: ControlServer,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
    this.lastIkeIn = clock();
    const local = peer.local.addr;
    // sockets first: a port in use is the commonest reason not to start
    this.io = new UdpIo({
      local,
      ports: { ike: peer.local.port, natt: NAT_T_PORT },
      onIke: (bytes, path) => this.onIke(bytes, path),
      onEsp: (pkts) => this.afterInbound(this.datapath.inbound(pkts, true)),
      onError: (e) => this.fatal(e),
    });
    opened.push(this.io);
    // the TUN MTU is peer.json's or the path's; inner packets over the path's get ICMP (F7)
    const pathMtu = tunMtuFor(peer, log);
    const mtu = peer.tun.mtu ?? pathMtu;
    this.tun = openTun({ name: peer.tun.name, mtu, batch: 64, slabs: 8 });
    opened.push(this.tun);
    quietIpv6(this.tun.name, peer, log);
    log.info('daemon', `TUN ${this.tun.name} up, MTU ${mtu}${peer.tun.mtu === undefined ? ' (derived from the outer path)' : ''}`);
    log.info('esp', defaultEspBackend(this.sad.inPlaceAead) === 'native' ? 'AEAD ESP: sealed and opened in place (native addon, OpenSSL)' : 'AEAD ESP: node:crypto (the native addon has no AEAD: rebuild it with npm ci)');
    if (peer.encap === 'auto') {
      try {
        this.raw = openRawEsp({ address: local, batch: 64, slabs: 8, rcvbuf: 4 << 20, sndbuf: 4 << 20 });
        opened.push(this.raw);
      } catch (e) {
        log.warn('esp', `raw ESP socket unavailable (${errText(e)}): ESP will be sent in UDP 4500 only`);
      }
    }
    const peerFamily = (peer.remote.addr.includes(':') ? 6 : 4) as 4 | 6;
    const from4 = peerFamily === 4 && peer.remote.addr !== '%any' ? peer.remote.addr : undefined;
    const from6 = peerFamily === 6 && peer.remote.addr !== '%any' ? peer.remote.addr : undefined;
    const icmpFrom4 = from4 ? ipToBytes(from4) : undefined;
    const icmpFrom6 = from6 ? ipToBytes(from6) : undefined;
    this.datapath = new Datapath({
      sad: this.sad,
      spd: this.spd,
      tun: this.tun,
      sendUdp: (buf, offs, lens, n, to) => this.io.sendEsp(buf, offs, lens, n, to),
      sendRaw: this.raw ? (buf, offs, lens, n, addr) => this.raw!.sendBatch(buf, offs, lens, n, addr) : undefined,
      now: clock,
      innerMtu: Math.min(mtu, pathMtu),
      // RFC 1812 §4.3.2.7 rules are in tooBigReply; the ICMP comes "from" the peer's outer address
      tooBig: (inner, m) => tooBigReply(inner, m, icmpFrom4, icmpFrom6),
      clampMss: peer.mssClamp ? clampMss : undefined,
      log,
    });
    const src = routeSource(peer);
    // the one way this tunnel routes traffic into the TUN, for Child SAs and on-demand alike
    const installFor = (remote: string[]): InstalledRoutes =>
      // transport mode protects the peer's own address: policy rules keep tsvpn's IKE/ESP out of the TUN
      peer.child.mode === 'transport'
        ? installTransportRoutes({ dev: this.tun.name, remote, peer: this.currentPeer(), ikePort: peer.local.port, src })
        : installRoutes({ dev: this.tun.name, remote, peer: this.currentPeer(), src });
    const remove = (h: unknown): void => {
      for (const err of removeRoutes(h as InstalledRoutes)) log.warn('route', err);
    };
    this.onDemand = new OnDemand({ peer, install: installFor, remove, log });
    this.applier = new EffectApplier({
      sad: this.sad,
      spd: this.spd,
      sendIke: (b, to, from) => this.io.sendIke(b, to, from),
      routes: {
        install: (remote) => {
          this.onDemand.clear(); // the Child SA's routes replace the on-demand ones
          return installFor(remote);
        },
        remove,
      },
      now: clock,
      rekeyedInboundGraceMs: REKEYED_INBOUND_GRACE_MS, // ESP queued behind a rekey's Delete still decrypts
      wallClock: Date.now,
      log,
      forceEncap: peer.encap === 'udp' || !this.raw,
      onEvent: (e) => this.onEvent(e),
    });
    const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
    this.dispatcher = new IkeDispatcher({
      random,
      configFor: (path) => this.configFor(path),
    });
    const initiator = peer.start === 'initiate' && peer.remote.addr !== '%any';
    this.conn = new Connection(
      {
        name: peer.name,
        initiator,
        remote: peer.remote.addr === '%any' ? undefined : { addr: peer.remote.addr, port: peer.remote.port },
        dpdAction: peer.dpdAction,
        dpdS: peer.ike.dpdS,
        keepaliveS: peer.keepaliveS,
      },
      {
        list: () => this.dispatcher.list(),
        initiate: (now, cfg) => this.dispatcher.initiate(now, cfg).effects,
        ikeConfig: () => toIkeSaConfig(peer, { random, wallClock: Date.now }),
      },
      clock(),
    );
    this.timers = new Timers({
      now: clock,
      deadlines: [
        // the IKE SAs' retransmits, half-open timeouts and lifetimes
        { next: () => this.dispatcher.pollTimeout(), run: (now) => this.apply(this.dispatcher.handleTimeout(now)) },
        // retries, liveness checks (DPD) and NAT-T keepalives
        {
          next: (now) => {
            this.conn.heardFrom(Math.max(this.lastIkeIn, this.datapath.lastInbound));
            return this.conn.pollTimeout(now);
          },
          run: (now) => this.applyConn(this.conn.handleTimeout(now)),
        },
        // ESP held for an SPI about to be installed: counted as unknown-spi once its wait is over
        { next: () => this.datapath.holdDeadline(), run: () => this.afterInbound(this.datapath.releaseHeld()) },
        // the inbound SA a rekey replaced goes once its grace is over
        { next: () => this.applier.rekeyed.nextDeadline(), run: (now) => this.applier.rekeyed.expire(now) },
        // the summary of unauthenticated failures not logged in the last window
        { next: () => this.applier.eventLog.nextDeadline(), run: (now) => this.applier.eventLog.flush(now) },
      ],
    });
  }

  start(): void {
    const raw = this.raw;
    const scratch: Uint8Array[] = [];
    this.tun.onBatch((b) => {
      if (this.onDemand.armed && this.onDemand.offer(b)) this.applyConn(this.conn.traffic(this.clock()));
      // RFC 4303 §3.3.3: an outbound sequence number nears its end or ran out
      for (const ev of this.datapath.outbound(b)) this.rekeyBySpiOut(ev.spi);
    });
    this.tun.onError((e) => this.fatal(e));
    if (raw) {
      raw.onBatch((b) => {
        scratch.length = 0;
        for (let i = 0; i < b.count; i++) scratch.push(b.buf.subarray(b.offsets[i], b.offsets[i] + b.lengths[i]));
        this.afterInbound(this.datapath.inbound(scratch));
      });
      raw.onError((e) => this.fatal(e));
    }
    const p = this.peer;
    this.log.info('daemon', `tunnel ${p.name}: ${p.local.addr} (${p.local.tsText.join(',')}) <-> ${p.remote.addr} (${p.remote.tsText.join(',')}), ${p.start === 'initiate' ? 'initiating' : 'waiting for the peer'}`);
    this.applyConn(this.conn.start(this.clock()));
  }

  status(): TunnelStatus {
    const dp = this.datapath.stats;
    let encap: 'udp' | 'raw' | null = null;
    for (const sa of this.sad.list()) if (sa.outer) encap = sa.outer.encap || !this.raw ? 'udp' : (encap ?? 'raw');
    return buildStatus({
      name: this.peer.name,
      pid: process.pid,
      localId: this.peer.local.id,
      tun: this.tun.closed ? null : { name: this.tun.name, mtu: this.tun.mtu },
      encap,
      ikeSas: this.dispatcher.list(),
      children: this.applier.children,
      established: this.applier.eventLog.established,
      inbound: this.sad.counters.inbound,
      outbound: this.sad.counters.outbound,
      ikeCounters: [this.dispatcher.stats, this.applier.eventLog.unauthenticated, { 'natt-invalid': this.io.stats.invalid, 'send-errors': this.io.stats.sendErrors, 'effect-errors': this.applier.errors, 'internal-errors': this.internalErrors, 'timer-errors': this.timers.stats.errors }],
      extraInbound: { 'tun-write': dp.tunWriteErrors, 'internal-errors': dp.internalErrors },
      extraOutbound: { 'icmp-too-big-sent': dp.icmpTooBig, 'send-errors': dp.sendErrors, 'no-destination': dp.noDest, 'internal-errors': dp.internalErrors },
      retransmits: this.applier.eventLog.retransmits,
      reauths: this.conn.reauths,
      lastFailure: this.applier.eventLog.lastFailure,
      lastUnauthenticatedFailure: this.applier.eventLog.lastUnauthenticatedFailure,
      now: this.clock(),
    });
  }

  control(cmd: string): { ok: true; status?: TunnelStatus } | { ok: false; error: string } {
    if (cmd === 'status') return { ok: true, status: this.status() };
    if (cmd === 'down') {
      setImmediate(() => void this.down('control socket'));
      return { ok: true };
    }
    return { ok: false, error: `unknown command ${JSON.stringify(cmd)} (status, down)` };
  }

  down(reason = 'requested'): Promise<void> {
    return this.teardown(0, reason);
  }

  // ---- IKE ------------------------------------------------------------------------------

  private apply(fx: Effect[]): void {
    if (fx.length > 0) {
      this.applier.apply(fx);
      if (fx.some((e) => e.type === 'install-sa')) this.afterInbound(this.datapath.releaseHeld()); // ESP that came before its SA
    }
    this.afterIke();
    // what the connection layer decided from this batch's events, once the batch is applied
    const next = this.conn.takeDeferred(this.clock());
    if (next.length > 0) this.applyConn(next);
  }

  /** The connection layer's effects: the IKE SAs' own in order, hold routes, keepalives, log lines. */
  private applyConn(fx: ConnectionEffect[]): void {
    const ike: Effect[] = [];
    const flush = () => ike.length > 0 && this.apply(ike.splice(0));
    for (const e of fx) {
      if (e.type === 'note') {
        flush();
        this.log[e.level]('ike', e.message);
      } else if (e.type === 'keepalive') this.io.sendKeepalive(e.to);
      else if (e.type === 'hold') {
        flush();
        if (!e.armed) this.onDemand.clear();
        else if (!this.onDemand.arm()) this.applyConn(this.conn.traffic(this.clock())); // no hold routes: initiate now
      } else ike.push(e);
    }
    flush();
    for (const sa of this.dispatcher.list()) this.dispatcher.adopt(sa); // index any successor SA
    this.timers.kick();
  }

  /** A command given to one IKE SA directly: apply its effects, index any successor SA. */
  private command(sa: IkeSa, fx: Effect[]): void {
    this.apply(fx);
    this.dispatcher.adopt(sa);
    this.afterIke();
    this.timers.kick();
  }

  /** What the IKE SAs' states mean for the datapath and for a shutdown, after each change. */
  private afterIke(): void {
    const sas = this.dispatcher.list();
    // our IKE_AUTH or CREATE_CHILD_SA is in flight: ESP on the SPI it installs may come first
    this.datapath.holdUnknownSpis = sas.some((sa) => sa.awaitingChildSa);
    if (this.deletesDone && !sas.some((sa) => sa.state === 'DELETING')) this.deletesDone();
  }

  /** Act on what an inbound batch observed (src/daemon/datapath.ts InboundSeen), after the batch. */
  private afterInbound(seen: InboundSeen): void {
    this.applier.inboundSeen(seen); // make-before-break and the ESP-in-UDP float
    if (seen.held > 0) this.timers.kick(); // the hold's deadline
  }

  /** RFC 4303 §3.3.3: the outbound sequence number nears its end; rekey that Child SA (RFC 7296 §2.8). */
  private rekeyBySpiOut(spiOut: number): void {
    for (const sa of this.dispatcher.list()) {
      const c = sa.children.find((x) => x.spiOut === spiOut);
      if (c) return this.command(sa, sa.rekeyChild(this.clock(), c.spiIn));
    }
  }

  private onIke(bytes: Uint8Array, path: Path): void {
    try {
      const now = this.clock();
      this.lastIkeIn = now;
      this.apply(this.dispatcher.handleDatagram(now, bytes, path));
      this.timers.kick();
    } catch (e) {
      this.internalErrors++;
      this.log.error('ike', `datagram from ${formatEndpoint(path.from)} dropped: ${errText(e)}`);
    }
  }

  private configFor(path: Path) {
    if (this.stopping) return undefined;
    const r = this.peer.remote.addr;
    if (r !== '%any' && r !== path.from.addr) return undefined;
    return toIkeSaConfig(this.peer, { random: (n) => new Uint8Array(randomBytes(n)), wallClock: Date.now, remote: path.from, local: path.to });
  }

  private onEvent(e: IkeEvent): void {
    this.events.emit('ike', e);
    if (!this.stopping) this.conn.onEvent(this.clock(), e);
  }

  private currentPeer(): string {
    const sa = this.dispatcher.list().find((s) => s.state === 'ESTABLISHED' || s.state === 'CONNECTING');
    return sa?.remote.addr ?? this.peer.remote.addr;
  }

  // ---- shutdown ------------------------------------------------------------------------

  private fatal(e: IoError | Error): void {
    this.log.error('daemon', `fatal: ${errText(e)}`);
    void this.teardown(1, 'fatal error');
  }

  private teardown(code: number, reason: string): Promise<void> {
    this.stopping ??= this.doTeardown(code, reason);
    return this.stopping;
  }

  private async doTeardown(code: number, reason: string): Promise<void> {
    this.log.info('daemon', `going down (${reason})`);
    try {
      const now = this.clock();
      // RFC 7296 §1.4.1: tell the peer; its answer (or 2 s) ends the IKE SA. Nothing new starts.
      this.applyConn(this.conn.stop(now));
      // wait until no IKE SA is DELETING (afterIke sees each state change), at most DELETE_WAIT_MS
      await new Promise<void>((resolve) => {
        this.deletesDone = resolve;
        this.timers.at(now + DELETE_WAIT_MS, resolve);
        this.afterIke();
      });
    } catch (e) {
      this.log.error('daemon', `sending Delete: ${errText(e)}`);
    }
    this.timers.close();
    const steps: [string, () => void][] = [
      ['held ESP', () => this.datapath.clearHeld()],
      ['SAs and routes', () => this.applier.removeAll()],
      ['on-demand routes', () => this.onDemand.clear()],
      ['TUN', () => this.tun.close()],
      ['raw ESP socket', () => this.raw?.close()],
      ['UDP sockets', () => this.io.close()],
    ];
    for (const [what, fn] of steps) {
      try {
        fn();
      } catch (e) {
        this.log.error('daemon', `closing ${what}: ${errText(e)}`);
      }
    }
    await this.controlServer.close();
    for (const sa of this.dispatcher.list()) sa.dispose();
    this.dispatcher.dispose(); // the COOKIE secrets
    disposePeerConfig(this.peer);
    this.log.info('daemon', `tunnel ${this.peer.name} down`);
    this.resolveDone(code);
  }
}

