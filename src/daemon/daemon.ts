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
import { IkeReplacement } from './ike-replacement.js';
import { openRawEsp, type RawEspSocket } from '../io/raw-esp.js';
import { openTun, type TunDevice } from '../io/tun.js';
import type { IoError } from '../io/native.js';
import { tooBigReply } from '../ipsec/icmp.js';
import { clampMss } from '../ipsec/mss.js';
import { Sad } from '../ipsec/sad.js';
import { Spd } from '../ipsec/spd.js';
import { DaemonError, startControl, type ControlServer } from './control.js';
import { Datapath, type SaPaths } from './datapath.js';
import { EffectApplier, REKEYED_INBOUND_GRACE_MS, type LastFailure } from './effects.js';
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

const RETRY_MS = 30_000; // initiator: try again every 30 s after F1-F4
const CHILD_EXPIRED_RESTART_MS = 2_000; // initiator: a Child SA reached its hard lifetime (F6); its Delete goes first
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
  private readonly paths: SaPaths = new Map();
  private readonly io: UdpIo;
  private readonly tun: TunDevice;
  private readonly raw: RawEspSocket | undefined;
  private readonly datapath: Datapath;
  private readonly applier: EffectApplier;
  private readonly dispatcher: IkeDispatcher;
  private readonly timers: Timers;
  private lastIkeIn: number;
  private attempts = 0;
  private stopping: Promise<void> | undefined;
  private internalErrors = 0;
  /** DPD: retransmits of the liveness check in flight, whether it went unanswered, and the failure it made. */
  private dpd = { retransmits: 0, to: undefined as string | undefined, unanswered: false, failure: null as LastFailure | null };
  readonly events = new EventEmitter<{ ike: [IkeEvent] }>();
  private readonly onDemand: OnDemand;
  private readonly replacement: IkeReplacement;

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
      onEsp: (pkts) => this.datapath.inbound(pkts, true),
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
      paths: this.paths,
      tun: this.tun,
      sendUdp: (buf, offs, lens, n, to) => this.io.sendEsp(buf, offs, lens, n, to),
      sendRaw: this.raw ? (buf, offs, lens, n, addr) => this.raw!.sendBatch(buf, offs, lens, n, addr) : undefined,
      now: clock,
      innerMtu: Math.min(mtu, pathMtu),
      // RFC 1812 §4.3.2.7 rules are in tooBigReply; the ICMP comes "from" the peer's outer address
      tooBig: (inner, m) => tooBigReply(inner, m, icmpFrom4, icmpFrom6),
      clampMss: peer.mssClamp ? clampMss : undefined,
      onSaEvent: (ev) => this.rekeyBySpiOut(ev.spi),
      awaitingSa: () => this.dispatcher.list().some((sa) => sa.awaitingChildSa),
      watchInbound: () => this.applier.awaitingPeer,
      onInboundSa: (sa) => this.applier.peerSendsOn(sa),
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
    this.onDemand = new OnDemand({ peer, install: installFor, remove, log, initiate: () => this.initiate() });
    this.applier = new EffectApplier({
      sad: this.sad,
      spd: this.spd,
      paths: this.paths,
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
    this.replacement = new IkeReplacement({
      peer,
      log,
      now: clock,
      list: () => this.dispatcher.list(),
      command: (sa, fx) => this.command(sa, fx),
      configFor: (remote) => toIkeSaConfig(peer, { random, wallClock: Date.now, remote }),
      initiate: (cfg) => {
        this.apply(this.dispatcher.initiate(this.clock(), cfg).effects);
        this.timers.kick();
      },
      stopping: () => this.stopping !== undefined,
    });
    this.timers = new Timers({
      now: clock,
      pollTimeout: () => this.dispatcher.pollTimeout(),
      handleTimeout: (now) => this.dispatcher.handleTimeout(now),
      list: () => this.dispatcher.list(),
      apply: (fx) => this.apply(fx),
      sendKeepalive: (to) => this.io.sendKeepalive(to),
      lastInbound: () => Math.max(this.lastIkeIn, this.datapath.lastInbound),
      keepaliveS: peer.keepaliveS,
      dpdS: peer.ike.dpdS,
    });
  }

  start(): void {
    const raw = this.raw;
    const scratch: Uint8Array[] = [];
    this.tun.onBatch((b) => {
      if (this.onDemand.armed) this.onDemand.offer(b);
      this.datapath.outbound(b);
    });
    this.tun.onError((e) => this.fatal(e));
    if (raw) {
      raw.onBatch((b) => {
        scratch.length = 0;
        for (let i = 0; i < b.count; i++) scratch.push(b.buf.subarray(b.offsets[i], b.offsets[i] + b.lengths[i]));
        this.datapath.inbound(scratch);
      });
      raw.onError((e) => this.fatal(e));
    }
    const p = this.peer;
    this.log.info('daemon', `tunnel ${p.name}: ${p.local.addr} (${p.local.tsText.join(',')}) <-> ${p.remote.addr} (${p.remote.tsText.join(',')}), ${p.start === 'initiate' ? 'initiating' : 'waiting for the peer'}`);
    if (p.start === 'initiate') this.initiate();
    this.timers.kick();
  }

  status(): TunnelStatus {
    const dp = this.datapath.stats;
    let encap: 'udp' | 'raw' | null = null;
    for (const dest of this.paths.values()) encap = dest.encap || !this.raw ? 'udp' : (encap ?? 'raw');
    return buildStatus({
      name: this.peer.name,
      pid: process.pid,
      localId: this.peer.local.id,
      tun: this.tun.closed ? null : { name: this.tun.name, mtu: this.tun.mtu },
      encap,
      ikeSas: this.dispatcher.list(),
      children: this.applier.children,
      established: this.applier.established,
      inbound: this.sad.counters.inbound,
      outbound: this.sad.counters.outbound,
      ikeCounters: [this.dispatcher.stats, { 'natt-invalid': this.io.stats.invalid, 'send-errors': this.io.stats.sendErrors, 'effect-errors': this.applier.errors, 'internal-errors': this.internalErrors, 'timer-errors': this.timers.stats.errors }],
      extraInbound: { 'tun-write': dp.tunWriteErrors, 'internal-errors': dp.internalErrors },
      extraOutbound: { 'icmp-too-big-sent': dp.icmpTooBig, 'send-errors': dp.sendErrors, 'no-destination': dp.noDest, 'internal-errors': dp.internalErrors },
      retransmits: this.applier.retransmits,
      reauths: this.replacement.reauths,
      lastFailure: newest(this.applier.lastFailure, this.dpd.failure),
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
    if (fx.length === 0) return;
    this.applier.apply(fx);
    if (fx.some((e) => e.type === 'install-sa')) this.datapath.releaseHeld(); // ESP that came before its SA
  }

  /** A command given to one IKE SA directly: apply its effects, index any successor SA. */
  private command(sa: IkeSa, fx: Effect[]): void {
    this.apply(fx);
    this.dispatcher.adopt(sa);
    this.timers.kick();
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

  private initiate(): void {
    if (this.stopping || this.peer.remote.addr === '%any') return;
    const now = this.clock();
    // one IKE SA per tunnel: end whatever is left of the previous attempt (and any reauthentication)
    this.replacement.reset();
    for (const sa of this.dispatcher.list()) if (sa.state === 'ESTABLISHED' || sa.state === 'CONNECTING') this.command(sa, sa.delete(now));
    this.attempts++;
    this.log.info('ike', `initiating IKE SA to ${formatEndpoint(this.peer.remote)} (attempt ${this.attempts})`);
    const cfg = toIkeSaConfig(this.peer, { random: (n) => new Uint8Array(randomBytes(n)), wallClock: Date.now });
    this.apply(this.dispatcher.initiate(now, cfg).effects);
    this.timers.kick();
  }

  private onEvent(e: IkeEvent): void {
    this.events.emit('ike', e);
    if (this.stopping) return;
    this.noteDpd(e);
    const initiator = this.peer.start === 'initiate' && this.peer.remote.addr !== '%any';
    if (e.type === 'reauth-due') {
      setImmediate(() => this.replacement.reauth());
    } else if (e.type === 'failure' && e.row !== 'F6' && this.replacement.reauthenticating) {
      // the new IKE SA failed; the old one is still up and keeps the traffic until it expires
      this.replacement.reset();
      this.log.warn('ike', `reauthentication failed (${e.row}): the current IKE SA stays in use; trying again in ${RETRY_MS / 1000} s`);
      this.timers.retryAt(this.clock() + RETRY_MS, () => this.replacement.reauth());
    } else if (e.type === 'failure' && e.row === 'F6' && e.evidence.scope === 'child' && e.evidence.result === 'expired' && initiator) {
      // the Child SA is gone and no rekey could replace it: start over with a new IKE SA (after its Delete)
      this.log.warn('ike', `Child SA ${e.evidence.child ?? ''} expired without a rekey: starting over with a new IKE SA in ${CHILD_EXPIRED_RESTART_MS / 1000} s`);
      this.timers.retryAt(this.clock() + CHILD_EXPIRED_RESTART_MS, () => this.initiate());
    } else if (e.type === 'failure' && e.row !== 'F6' && initiator) {
      // F1-F4: the negotiation failed, try again later. F6 (rekey) leaves the SA running until it expires.
      this.log.info('ike', `retrying in ${RETRY_MS / 1000} s`);
      this.timers.retryAt(this.clock() + RETRY_MS, () => this.initiate());
    } else if (e.type === 'ike-established') {
      this.attempts = 0;
      this.timers.cancelRetry();
      this.replacement.established(e.spiI, !!e.initialContact);
    } else if (e.type === 'ike-deleted' && e.reason === 'expired' && initiator) {
      this.log.info('ike', 'IKE SA expired without a rekey: initiating a new one');
      setImmediate(() => this.initiate());
    } else if (e.type === 'ike-deleted' && e.reason === 'dead-peer') {
      const action = this.peer.dpdAction;
      this.log.warn('ike', `dead peer: dpdAction ${action}`);
      if (action === 'restart' && initiator) setImmediate(() => this.initiate());
      if (action === 'hold' && initiator) setImmediate(() => !this.stopping && this.onDemand.arm());
    }
  }

  /** A peer declared dead by DPD is a failure with its evidence, not just "no IKE SA" (failure map F1: no answer). */
  private noteDpd(e: IkeEvent): void {
    if (e.type === 'retransmit' && e.exchange === 'INFORMATIONAL') this.dpd = { ...this.dpd, retransmits: e.attempt, to: formatEndpoint(e.to) };
    else if (e.type === 'liveness') this.dpd = { ...this.dpd, unanswered: !e.ok, retransmits: e.ok ? 0 : this.dpd.retransmits };
    else if (e.type === 'ike-deleted' && e.reason === 'dead-peer' && this.dpd.unanswered) {
      const requests = this.dpd.retransmits + 1;
      const last = Math.max(this.lastIkeIn, this.datapath.lastInbound);
      const agoS = Math.round((this.clock() - last) / 1000);
      const peer = this.dpd.to ?? this.currentPeer();
      const failure: LastFailure = {
        row: 'F1',
        // RFC 7296 §2.4: a peer that answers no INFORMATIONAL request is declared dead
        message: `peer ${peer} declared dead: ${requests} DPD requests unanswered, last packet from it ${agoS} s ago (dpdAction ${this.peer.dpdAction})`,
        evidence: { dpdRequestsUnanswered: requests, lastPacketAt: new Date(Date.now() - (this.clock() - last)).toISOString(), lastPacketAgoS: agoS, peer, dpdAction: this.peer.dpdAction },
        at: new Date().toISOString(),
      };
      this.dpd = { retransmits: 0, to: undefined, unanswered: false, failure };
    }
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
    this.timers.cancelRetry();
    try {
      const now = this.clock();
      // RFC 7296 §1.4.1: tell the peer; its answer (or 2 s) ends the IKE SA
      for (const sa of this.dispatcher.list()) this.command(sa, sa.delete(now));
      this.timers.kick();
      const until = Date.now() + DELETE_WAIT_MS;
      while (Date.now() < until && this.dispatcher.list().some((sa) => sa.state === 'DELETING')) await new Promise((r) => setTimeout(r, 20));
    } catch (e) {
      this.log.error('daemon', `sending Delete: ${errText(e)}`);
    }
    this.timers.close();
    const steps: [string, () => void][] = [
      ['held ESP', () => this.datapath.closeHold()],
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
    disposePeerConfig(this.peer);
    this.log.info('daemon', `tunnel ${this.peer.name} down`);
    this.resolveDone(code);
  }
}

/** The later of two failures (ISO timestamps sort as text). */
function newest(a: LastFailure | null, b: LastFailure | null): LastFailure | null {
  if (a === null || b === null) return a ?? b;
  return b.at > a.at ? b : a;
}
