// One running daemon for one peer.json or a gateway's many connections: opens
// the TUN device and the IKE/ESP sockets they all share, feeds datagrams to the IKE
// dispatcher and packets to the ESP datapath, applies the effects, gives each connection's
// layer (src/ike/connection.ts) its events and timeouts, serves the control socket and tears
// everything down in order: Delete to the peers, SAs (keys zeroed), routes, TUN, sockets,
// control socket.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { ANY, asGateway, type GatewayConfig, type PeerConfig } from '../config/types.js';
import { disposePeerConfig, samePeerConfig, toIkeSaConfig } from '../config/ike-config.js';
import { ConfigError } from '../config/errors.js';
import type { Effect, IkeEvent } from '../ike/effects.js';
import { IkeDispatcher } from '../ike/dispatcher.js';
import type { IkeSa, Path } from '../ike/ike-sa.js';
import type { Endpoint, IkeSaConfig } from '../ike/config.js';
import { formatSelector, ipToBytes } from '../wire/selectors.js';
import { checkRoutes, installRoutes, nextHopNeighbour, outerMtu, outerSource, removeRoutes, sweepStaleRoutes, type InstalledRoutes } from '../io/routes.js';
import { AddressPool } from '../ike/address-pool.js';
import { RESOLV_CONF, type DnsFiles } from '../io/resolv-conf.js';
import { ClientVips, wideOpen } from './client-vips.js';
import { KillSwitch } from './kill-switch.js';
import { installTransportRoutes } from '../io/transport-routes.js';
import { OnDemand } from './on-demand.js';
import { Connection, type ConnectionConfig, type ConnectionEffect } from '../ike/connection.js';
import { openRawEsp, type RawEspSocket } from '../io/raw-esp.js';
import { openTun, type TunDevice } from '../io/tun.js';
import type { IoError } from '../io/native.js';
import { tooBigReply } from '../ipsec/icmp.js';
import { clampMss } from '../ipsec/mss.js';
import { Sad } from '../ipsec/sad.js';
import { Spd } from '../ipsec/spd.js';
import { DaemonError, startControl, type ControlServer } from './control.js';
import { Datapath, innerBatch, type InboundSeen } from './datapath.js';
import { EffectApplier } from './effects.js';
import { REKEYED_INBOUND_GRACE_MS } from './rekeyed-inbound.js';
import { SaveKeys } from './save-keys.js';
import { UdpIo } from './udp-io.js';
import { Roaming } from './roaming.js';
import { watchAddresses } from '../io/address-watch.js';
import { observeCommand, type DaemonEvents } from './observe.js';
import { errText, type Logger } from './log.js';
import { buildStatus, type TunnelStatus } from './status.js';
import { Timers } from './timers.js';
import { checkPolicyMisses, checkTraffic, type TrafficSample } from './traffic-check.js';
import { parseProbeRequest, probeTarget, sendProbe, type ProbeResult } from './probe.js';
import { spiHex } from '../wire/spi.js';
import { FALLBACK_OUTER_MTU, checkPrivileges, hostAddresses, quietIpv6, routeSources, tunMtuFor } from './host.js';
import { PathMtus } from './path-mtu.js';
import { PathMtuWatch } from './path-mtu-watch.js';
import { bytesToIp, formatEndpoint } from '../wire/ip-text.js';
import { defaultEspBackend } from '../crypto/aead.js';
import { nativeInPlaceAead } from '../io/native-aead.js';
import { NAT_T_PORT } from '../wire/constants.js';

export { DaemonError } from './control.js';
export type { TunnelStatus } from './status.js';
export type { Logger } from './log.js';

export interface DaemonOptions {
  log: Logger;
  /** Reads the file again for a reload (SIGHUP, `tsvpn reload`); may throw ConfigError. Without it, reload is refused. */
  load?: () => PeerConfig | GatewayConfig;
  controlDir?: string; // default /run/tsvpn
  now?: () => number; // ms
  /** `tsvpn up --save-keys <dir>`: write the IKE and ESP keys there for Wireshark (src/daemon/save-keys.ts). */
  saveKeys?: string;
}

export interface Daemon {
  readonly name: string;
  status(): TunnelStatus;
  down(reason?: string): Promise<void>;
  /** Read the file again and apply what changed (see Running.reload); nothing changes when it fails. */
  reload(): ReloadResult;
  /** Exit code once fully torn down: 0 after down(), 1 after a fatal error. */
  readonly done: Promise<number>;
  /**
   * 'ike': each IKE event and its connection, as the daemon applies it (its effects are in
   * status() after a setImmediate); 'failure': each failure recorded; 'reload': each reload's result.
   */
  readonly events: EventEmitter<DaemonEvents>;
}

export type ReloadResult = { ok: true; summary: string } | { ok: false; error: string };

const DELETE_WAIT_MS = 2_000;
// Implementation choice: a deleted route is noticed within 10 s; each check runs about 3 `ip` commands per family.
const ROUTE_CHECK_MS = 10_000; // how long shutdown waits for the peer to answer our Delete


export async function startDaemon(config: PeerConfig | GatewayConfig, opts: DaemonOptions): Promise<Daemon> {
  const gw = asGateway(config);
  const log = opts.log;
  const clock = opts.now ?? Date.now;
  checkPrivileges();
  checkOneAddress(gw);
  const saveKeys = opts.saveKeys === undefined ? undefined : SaveKeys.open(opts.saveKeys); // refused before anything opens
  let d: Running | undefined;
  // the control socket first: "already up" is a better answer than "port 500 in use"
  const control = await startControl(opts.controlDir ?? '/run/tsvpn', gw.name, (req) =>
    d ? (observeCommand(req.cmd, gw.name, d) ?? d.control(req.cmd, req)) : { ok: false, error: 'the tunnel is still starting' },
  );
  const opened: { close(): void }[] = [];
  try {
    const dns = { file: RESOLV_CONF, backup: join(opts.controlDir ?? '/run/tsvpn', `${gw.name}.resolv.conf`) };
    d = new Running(gw, log, clock, opened, control, opts.load, saveKeys, dns);
  } catch (e) {
    for (const o of opened.reverse()) o.close();
    await control.close();
    throw e;
  }
  d.start();
  const r = d;
  return { name: gw.name, status: () => r.status(), down: (why) => r.down(why), reload: () => r.reloadFile(), done: r.done, events: r.events };
}

/** What the kill switch of a file is made of (killSwitch, allowLan, the gateways it lets IKE and ESP out to), to compare on reload. */
const killSwitchOf = (g: GatewayConfig): string => JSON.stringify(g.connections.filter((p) => p.killSwitch).map((p) => [p.killSwitch!.allowLan, p.remote.addr, p.remote.port]));

/** One IKE socket pair serves every connection: they must share the local address and port. */
function checkOneAddress(gw: GatewayConfig): void {
  const first = gw.connections[0];
  if (!first) throw new DaemonError(`${gw.name}: no connections configured`);
  for (const c of gw.connections) {
    if (c.local.addr !== first.local.addr || c.local.port !== first.local.port) {
      throw new DaemonError(`connections ${first.name} and ${c.name} use different local addresses (${first.local.addr}[${first.local.port}], ${c.local.addr}[${c.local.port}]): one daemon serves one local address and port; run a second tsvpn for the other`);
    }
  }
}

/** One configured connection in the daemon: its peer.json, its connection layer and its on-demand routes. */
interface Conn {
  /** The current configuration (a reload may replace it). */
  peer: PeerConfig;
  readonly conn: Connection;
  onDemand: OnDemand;
  /** The local inner addresses (one per family) the routes of its Child SAs prefer as source (host.ts routeSources). */
  src: string[];
}

/** What the connection layer takes of a peer.json. */
function connectionConfig(peer: PeerConfig): ConnectionConfig {
  return {
    name: peer.name,
    initiator: peer.start === 'initiate' && peer.remote.addr !== ANY,
    remote: peer.remote.addr === ANY ? undefined : { addr: peer.remote.addr, port: peer.remote.port },
    dpdAction: peer.dpdAction,
    dpdS: peer.ike.dpdS,
    keepaliveS: peer.keepaliveS,
  };
}


class Running {
  readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;
  private readonly sad = new Sad({ inPlaceAead: nativeInPlaceAead() }); // ESP seals in place when the addon is built
  private readonly spd = new Spd();
  private io: UdpIo; // reopened on another address when a roaming client moves (roaming.ts)
  private readonly tun: TunDevice;
  private raw: RawEspSocket | undefined;
  private readonly rawScratch: Uint8Array[] = [];
  /** A client that initiates to one peer: follows its own address changes (MOBIKE, roaming.ts). */
  private roaming: Roaming | undefined;
  private readonly datapath: Datapath;
  private readonly applier: EffectApplier;
  private readonly dispatcher: IkeDispatcher;
  private readonly timers: Timers;
  private lastIkeIn: number;
  private stopping: Promise<void> | undefined;
  /** Shutdown waits on this: called once no IKE SA is DELETING any more. */
  private deletesDone: (() => void) | undefined;
  private internalErrors = 0;
  readonly events = new EventEmitter<DaemonEvents>();
  /** Each configured connection, by name, in the file's order. */
  private readonly conns = new Map<string, Conn>();
  /** The file's address pools by name (src/ike/address-pool.ts), shared by the connections that name them. */
  private readonly pools = new Map<string, AddressPool>();
  /** The client side of virtual IPs: addresses on the TUN, route sources, DNS (client-vips.ts). */
  private readonly vips: ClientVips;
  /** The client's kill switch (peer.json `killSwitch`), from start to shutdown. */
  private readonly killSwitch: KillSwitch | undefined;
  private readonly random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
  /** Routes and rules found missing at the last check (status `routesMissing`), and when the next check is due. */
  private routesMissing: string[] = [];
  private routeCheckAt: number;
  /** The Child SAs' counters at the last periodic check, and those found flat (F5 from counters, src/daemon/traffic-check.ts). */
  private trafficSample: TrafficSample | undefined;
  private flatInbound: ReadonlySet<string> = new Set();
  /** `no-policy` drops at the last check, and the destinations already reported as F5 (src/daemon/traffic-check.ts). */
  private policyMisses = { total: 0, at: 0, reported: new Set<string>() };
  /** The outer path MTU per peer, learnt from ICMP and probes (failure map F7). */
  private readonly pathMtus = new PathMtus(routeMtuCache());
  private readonly mtuWatch: PathMtuWatch;

  constructor(
    private gw: GatewayConfig,
    private readonly log: Logger,
    private readonly clock: () => number,
    opened: { close(): void }[],
    private readonly controlServer: ControlServer,
    private readonly load: (() => PeerConfig | GatewayConfig) | undefined,
    private readonly saveKeys: SaveKeys | undefined,
    /** Where DNS servers from a gateway go, and where the original resolver file is kept meanwhile (io/resolv-conf.ts). */
    dnsFiles: DnsFiles,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
    this.lastIkeIn = clock();
    this.routeCheckAt = clock() + ROUTE_CHECK_MS;
    this.policyMisses.at = clock();
    const peers = gw.connections;
    const first = peers[0]!;
    const local = first.local.addr;
    // sockets first: a port in use is the commonest reason not to start
    this.io = this.openUdp(local);
    opened.push(this.io);
    // one TUN for every connection; its MTU is the file's or the narrowest path's; inner packets over it get ICMP (F7)
    const pathMtu = Math.min(...peers.map((p) => tunMtuFor(p, log)));
    const mtu = first.tun.mtu ?? pathMtu;
    this.tun = openTun({ name: first.tun.name, mtu, batch: 64, slabs: 8, offload: true });
    opened.push(this.tun);
    quietIpv6(this.tun.name, peers, log);
    // what a killed run left (rules, guard routes) goes before this run installs anything (io/routes.ts)
    for (const l of sweepStaleRoutes(this.tun.name)) log.info('route', `removed what a previous run left: ${l}`);
    // before any IKE SA: from here until shutdown nothing leaves in clear
    this.killSwitch = KillSwitch.arm(gw, this.tun.name, log);
    if (this.killSwitch) opened.push(this.killSwitch);
    this.vips = new ClientVips({
      dev: this.tun.name,
      dns: dnsFiles,
      log,
      failure: (row, message, evidence, conn) => this.applier.eventLog.failure(row, message, evidence, conn),
      dnsWants: (conn) => {
        const p = this.conns.get(conn)?.peer;
        return { all: wideOpen(p?.remote.tsText ?? []).size > 0, domains: p?.dnsDomains ?? [] };
      },
      held: (conn) => new Set(this.dispatcher.list().filter((sa) => sa.name === conn && sa.state !== 'DELETED' && sa.state !== 'FAILED').flatMap((sa) => sa.ownVips?.addresses ?? [])),
    });
    this.vips.sweep();
    log.info('daemon', `TUN ${this.tun.name} up, MTU ${mtu}${first.tun.mtu === undefined ? ' (derived from the outer path)' : ''}`);
    if (this.tun.offload.tso) log.info('daemon', `TUN offload: ${this.tun.offload.text}`);
    else log.warn('daemon', `TUN offload: ${this.tun.offload.text}: one TUN read per packet`);
    log.info('daemon', `ESP in UDP offload: ${this.io.udpOffload}`);
    log.info('esp', defaultEspBackend(this.sad.inPlaceAead) === 'native' ? 'AEAD ESP: sealed and opened in place (native addon, OpenSSL)' : 'AEAD ESP: node:crypto (the native addon has no AEAD: rebuild it with npm ci)');
    if (peers.some((p) => p.encap === 'auto')) {
      try {
        this.raw = openRaw(local);
        opened.push(this.raw);
      } catch (e) {
        log.warn('esp', `raw ESP socket unavailable (${errText(e)}): ESP will be sent in UDP 4500 only`);
      }
    }
    // RFC 1812 §4.3.2.7: the ICMP comes "from" the peer's outer address for one tunnel, from this gateway for several
    const icmpFrom = peers.length === 1 && first.remote.addr !== ANY ? first.remote.addr : local;
    const family = (icmpFrom.includes(':') ? 6 : 4) as 4 | 6;
    const icmpFrom4 = family === 4 ? ipToBytes(icmpFrom) : undefined;
    const icmpFrom6 = family === 6 ? ipToBytes(icmpFrom) : undefined;
    this.datapath = new Datapath({
      sad: this.sad,
      spd: this.spd,
      tun: this.tun,
      sendUdp: (buf, offs, lens, n, to) => this.io.sendEsp(buf, offs, lens, n, to),
      sendRaw: this.raw ? (buf, offs, lens, n, addr) => this.raw!.sendBatch(buf, offs, lens, n, addr) : undefined,
      now: clock,
      innerMtu: Math.min(mtu, pathMtu),
      tooBig: (inner, m) => tooBigReply(inner, m, icmpFrom4, icmpFrom6),
      clampMss: peers.some((p) => p.mssClamp) ? clampMss : undefined,
      log,
    });
    this.applier = new EffectApplier({
      sad: this.sad,
      spd: this.spd,
      sendIke: (b, to, from) => this.io.sendIke(b, to, from),
      routes: {
        install: (remote, owner) => {
          const c = this.conns.get(owner.conn);
          if (!c) throw new Error(`no connection ${owner.conn}`);
          c.onDemand.clear(); // the Child SA's routes replace the on-demand ones
          return this.installRoutesFor(c, this.vips.routed(owner.conn, remote, wideOpen(c.peer.remote.tsText)), owner.peer);
        },
        remove: (h) => this.removeRoutes(h),
      },
      now: clock,
      rekeyedInboundGraceMs: REKEYED_INBOUND_GRACE_MS, // ESP queued behind a rekey's Delete still decrypts
      wallClock: Date.now,
      log,
      forceEncap: (child) => !this.raw || this.conns.get(child.conn)?.peer.encap === 'udp',
      namedConnections: peers.length > 1,
      onEvent: (e, conn) => this.onEvent(e, conn),
      saveKeys: this.saveKeys,
      neighbourOf: (peer) => {
        try {
          return nextHopNeighbour(peer);
        } catch (e) {
          return { error: errText(e) };
        }
      },
    });
    this.applier.eventLog.onFailure = (f, conn) => this.events.emit('failure', f, conn); // tsvpn events
    this.mtuWatch = new PathMtuWatch({
      pathMtus: this.pathMtus,
      datapath: this.datapath,
      icmpErrors: () => [...this.io.icmpErrors(), ...(this.raw?.icmpErrors() ?? [])],
      ikeSas: (conn) => this.dispatcher.list().filter((sa) => sa.name === conn && sa.state === 'ESTABLISHED'),
      apply: (sa, fx) => this.command(sa, fx),
      failure: (row, message, evidence, conn) => this.applier.eventLog.failure(row, message, evidence, conn),
      healed: (conn) => this.applier.eventLog.resolve('probe-passed', conn), // F7 cleared
      log,
    });
    this.dispatcher = new IkeDispatcher({
      random: this.random,
      configFor: (path) => this.configFor(path),
    });
    this.syncPools(gw.pools);
    for (const peer of peers) this.conns.set(peer.name, this.connectionFor(peer));
    this.timers = new Timers({
      now: clock,
      onError: (e) => log.error('daemon', `timer: ${errText(e)}${e instanceof Error && e.stack ? ` (${e.stack.split('\n')[1]?.trim()})` : ''}`),
      deadlines: [
        // the IKE SAs' retransmits, half-open timeouts and lifetimes
        { next: () => this.dispatcher.pollTimeout(), run: (now) => this.apply(this.dispatcher.handleTimeout(now)) },
        // each connection's retries, liveness checks (DPD) and NAT-T keepalives
        { next: (now) => this.connectionsDue(now), run: (now) => this.runConnections(now) },
        // ESP held for an SPI about to be installed: counted as unknown-spi once its wait is over
        { next: () => this.datapath.holdDeadline(), run: () => this.afterInbound(this.datapath.releaseHeld()) },
        // the inbound SA a rekey replaced goes once its grace is over
        { next: () => this.applier.rekeyed.nextDeadline(), run: (now) => this.applier.rekeyed.expire(now) },
        // the summary of unauthenticated failures not logged in the last window
        { next: () => this.applier.eventLog.nextDeadline(), run: (now) => this.applier.eventLog.flush(now) },
        // tsvpn's routes and rules still in place (failure map F5: someone deleted one)
        { next: () => this.routeCheckAt, run: (now) => this.checkOwnRoutes(now) },
        // ICMP errors for our outer packets, and path MTU probes (failure map F7)
        { next: () => this.mtuWatch.nextDeadline(), run: (now) => this.mtuWatch.run(now) },
      ],
    });
  }

  /** The UDP sockets on ports 500 (or local.port) and 4500 of `local`. */
  private openUdp(local: string): UdpIo {
    return new UdpIo({
      local,
      ports: { ike: this.gw.connections[0]!.local.port, natt: NAT_T_PORT },
      onIke: (bytes, path) => this.onIke(bytes, path),
      onEsp: (pkts, from) => this.afterInbound(this.datapath.inbound(pkts, true, from)),
      onKeepalive: (from) => this.natHint(from),
      onError: (e) => this.fatal(e),
    });
  }

  /** Raw ESP in from the kernel: one batch into the datapath. */
  private listenRaw(raw: RawEspSocket): void {
    const scratch = this.rawScratch;
    raw.onBatch((b) => {
      scratch.length = 0;
      for (let i = 0; i < b.count; i++) scratch.push(b.buf.subarray(b.offsets[i], b.offsets[i] + b.lengths[i]));
      this.afterInbound(this.datapath.inbound(scratch));
    });
    raw.onError((e) => this.fatal(e));
  }

  /**
   * Our outer address moved (roaming.ts): the sockets are opened on `addr` first, and the old
   * ones closed only once all opened (a failure leaves everything as it was).
   */
  private rebind(addr: string): void {
    const io = this.openUdp(addr);
    let raw: RawEspSocket | undefined;
    try {
      raw = this.raw ? openRaw(addr) : undefined;
    } catch (e) {
      io.close();
      throw e;
    }
    this.io.close();
    this.io = io;
    if (raw) {
      this.raw!.close();
      this.raw = raw;
      this.listenRaw(raw);
    }
  }

  /** The address our sockets are on: local.addr, or where a roaming client moved (roaming.ts). */
  private get localAddr(): string {
    return this.roaming?.local ?? this.gw.connections[0]!.local.addr;
  }

  /** The connection layer of one configured connection, with its hold routes. */
  private connectionFor(peer: PeerConfig): Conn {
    const name = peer.name;
    const c: Conn = {
      peer,
      conn: new Connection(
        connectionConfig(peer),
        {
          list: () => this.dispatcher.list().filter((sa) => sa.name === name),
          initiate: (now, cfg) => this.dispatcher.initiate(now, cfg).effects,
          // the current peer.json, after a reload too; from where a roaming client is now
          ikeConfig: () => toIkeSaConfig(c.peer, { random: this.random, wallClock: Date.now, exportKeys: !!this.saveKeys, pools: this.poolsOf(c.peer), local: { addr: this.localAddr, port: c.peer.local.port } }),
        },
        this.clock(),
      ),
      src: routeSources(peer),
      onDemand: this.onDemandFor(peer, () => c),
    };
    return c;
  }

  /** The pools of the file, one AddressPool each, kept across reloads while their addresses and DNS stay the same (leases stay with them). */
  private syncPools(pools: GatewayConfig['pools']): void {
    for (const [name, p] of Object.entries(pools)) {
      const had = this.pools.get(name);
      if (had && had.addrs === p.addrs && had.dns.join() === p.dns.join() && had.subnets.join() === p.subnets.join()) continue;
      this.pools.set(name, new AddressPool(name, p.addrs, p.range, p.dns, p.addrs.includes('/'), p.subnets));
    }
    for (const name of [...this.pools.keys()]) if (!(name in pools)) this.pools.delete(name);
  }

  private poolsOf(peer: PeerConfig): AddressPool[] {
    return (peer.pools ?? []).flatMap((n) => this.pools.get(n) ?? []);
  }

  private onDemandFor(peer: PeerConfig, c: () => Conn): OnDemand {
    return new OnDemand({ peer, install: (remote) => this.installRoutesFor(c(), remote, peer.remote.addr), remove: (h) => this.removeRoutes(h), log: this.log });
  }

  /**
   * Reload (SIGHUP, `tsvpn reload`): the file read again. Added connections start; removed ones
   * are deleted (Delete sent, routes removed); changed ones are replaced, make-before-break
   * where the peer's address is known (src/ike/connection.ts replace); unchanged ones keep
   * their SAs, SPIs and counters. What cannot change without a restart (the local address and
   * port, the TUN) is refused, and then nothing changes.
   */
  /** Reload from the file (DaemonOptions.load); a file that fails validation changes nothing and says why. */
  reloadFile(): ReloadResult {
    const r = this.readAndReload();
    this.events.emit('reload', r); // tsvpn events
    return r;
  }

  private readAndReload(): ReloadResult {
    if (!this.load) return { ok: false, error: 'this daemon was started without a file to reload' };
    let next: GatewayConfig;
    try {
      next = asGateway(this.load());
    } catch (e) {
      const error = e instanceof ConfigError ? `the file is not valid, nothing changed:\n${e.problems.map((p) => `${p.path || '(top level)'}: ${p.expected}`).join('\n')}` : `reading the file failed, nothing changed: ${errText(e)}`;
      this.log.error('daemon', `reload: ${error.replace(/\n/g, '; ')}`);
      return { ok: false, error };
    }
    return this.reload(next);
  }

  reload(next: GatewayConfig): ReloadResult {
    if (this.stopping) return { ok: false, error: 'going down' };
    const first = next.connections[0];
    const was = this.gw.connections[0]!;
    const dispose = () => next.connections.forEach(disposePeerConfig);
    if (next.name !== this.gw.name) return dispose(), { ok: false, error: `the file now names the daemon ${next.name}, not ${this.gw.name}: restart it to rename` };
    if (!first) return dispose(), { ok: false, error: 'the file has no connections: take the daemon down instead' };
    if (next.connections.some((p) => p.local.addr !== was.local.addr || p.local.port !== was.local.port)) return dispose(), { ok: false, error: `every connection must keep local address ${was.local.addr}[${was.local.port}]: restart to change it` };
    if (first.tun.name !== was.tun.name || first.tun.mtu !== was.tun.mtu) return dispose(), { ok: false, error: 'the TUN device (tun.name, tun.mtu) cannot change on reload: restart to change it' };
    if (killSwitchOf(next) !== killSwitchOf(this.gw)) {
      return dispose(), { ok: false, error: 'the kill switch (killSwitch, allowLan, and the gateways it lets IKE and ESP out to) cannot change on reload: restart to change it' };
    }
    this.warnAbout(next);
    this.syncPools(next.pools);
    const now = this.clock();
    const seen = new Set<string>();
    const done = { added: [] as string[], removed: [] as string[], changed: [] as string[], unchanged: [] as string[] };
    const keep: PeerConfig[] = [];
    for (const peer of next.connections) {
      seen.add(peer.name);
      const c = this.conns.get(peer.name);
      if (!c) {
        const fresh = this.connectionFor(peer);
        this.conns.set(peer.name, fresh);
        keep.push(peer);
        done.added.push(peer.name);
        this.applyConn(fresh, fresh.conn.start(now));
      } else if (samePeerConfig(c.peer, peer)) {
        disposePeerConfig(peer); // the running one stays, with its own copy of the secrets
        keep.push(c.peer);
        done.unchanged.push(peer.name);
      } else {
        const old = c.peer;
        c.onDemand.clear();
        c.peer = peer;
        c.src = routeSources(peer);
        c.onDemand = this.onDemandFor(peer, () => c);
        keep.push(peer);
        done.changed.push(peer.name);
        this.applyConn(c, c.conn.replace(now, connectionConfig(peer)));
        disposePeerConfig(old); // SAs up keep their keys; the old PSK is needed by no exchange any more
      }
    }
    for (const [name, c] of this.conns) {
      if (seen.has(name)) continue;
      done.removed.push(name);
      this.applyConn(c, c.conn.stop(now));
      c.onDemand.clear();
      this.conns.delete(name);
      disposePeerConfig(c.peer);
    }
    this.gw = { ...next, connections: keep };
    const summary = (Object.entries(done) as [string, string[]][]).map(([k, v]) => `${k} ${v.length}${v.length > 0 && k !== 'unchanged' ? ` (${v.join(', ')})` : ''}`).join(', ');
    this.log.info('daemon', `reloaded: ${summary}`);
    return { ok: true, summary };
  }

  /**
   * Failure map F5: a route or rule of ours that someone deleted. The guard already drops the
   * traffic (never in clear); this says so: a warning per newly missing entry, F5 as the last
   * failure, and the count in status. A Child SA whose routes were refused at install tries again.
   */
  private checkOwnRoutes(now: number): void {
    this.routeCheckAt = now + ROUTE_CHECK_MS;
    this.roaming?.check(); // in case the address monitor missed a change or died
    if (this.applier.retryRoutes().length > 0) this.events.emit('routed'); // tsvpn up announces them
    this.checkFlatInbound(now);
    this.checkPolicyMisses(now);
    let missing: string[];
    try {
      missing = checkRoutes();
    } catch (e) {
      this.log.warn('route', `checking the routes: ${errText(e)}`);
      return;
    }
    const fresh = missing.filter((m) => !this.routesMissing.includes(m));
    if (missing.length === 0 && this.routesMissing.length > 0) this.applier.eventLog.resolve('routes-back'); // F5 cleared
    this.routesMissing = missing;
    for (const m of fresh) this.log.warn('route', `${m}: traffic for it is dropped by the guard, not sent in clear`);
    if (fresh.length > 0) this.applier.eventLog.failure('F5', `${missing.length} of tsvpn's routes or rules are gone (deleted by someone else?): traffic for them is dropped`, { missing });
  }

  /**
   * Failure map F5 from the counters: a Child SA that sends, receives nothing, while its peer
   * still answers IKE (src/daemon/traffic-check.ts). One F5 per Child SA until data comes back.
   */
  private checkFlatInbound(now: number): void {
    const heardBy = new Map<number, number | undefined>();
    for (const sa of this.dispatcher.list()) for (const c of sa.children) heardBy.set(c.spiIn, sa.lastHeard);
    const children = [...this.applier.children].map(([spiIn, rec]) => {
      const dpdS = this.conns.get(rec.info.conn)?.peer.ike.dpdS ?? 0;
      return { spiIn: spiHex(spiIn), conn: rec.info.conn, child: rec.info.name, packetsOut: rec.outSa.counters.passed, packetsIn: rec.inSa.counters.passed, ikeHeardAt: heardBy.get(spiIn), heardWithinMs: ROUTE_CHECK_MS + dpdS * 1000 };
    });
    const cur: TrafficSample = { at: now, children };
    const prev = this.trafficSample;
    this.trafficSample = cur;
    if (!prev) return;
    const v = checkTraffic(prev, cur, this.flatInbound);
    this.flatInbound = v.flagged;
    for (const spi of v.recovered) {
      this.log.info('esp', `Child SA ${spi}: packets come back again`);
      this.applier.eventLog.resolve('traffic-back', children.find((c) => c.spiIn === spi)?.conn); // F5 cleared
    }
    for (const f of v.found) {
      this.applier.eventLog.failure('F5', `Child SA ${f.child} sent ${f.outboundDelta} packets in ${f.windowS} s and received none, while the peer answers IKE (heard ${f.ikeLastHeardS} s ago): ${f.hint}`, f, f.conn);
    }
  }

  /** Failure map F5: outbound packets that recur with no SPD entry for them (src/daemon/traffic-check.ts). */
  private checkPolicyMisses(now: number): void {
    const pm = this.policyMisses;
    const total = this.sad.counters.outbound.drops['no-policy'];
    const sel = (list: PeerConfig['remote']['ts']) => list.map((t) => ({ text: formatSelector(t), startAddr: t.startAddr, endAddr: t.endAddr }));
    const peers = [...this.conns.values()].map((c) => c.peer);
    const f = checkPolicyMisses({
      prevTotal: pm.total,
      total,
      windowStart: pm.at,
      now,
      recent: this.datapath.spdMisses.list(),
      remote: peers.flatMap((p) => sel(p.remote.ts)),
      local: peers.flatMap((p) => sel(p.local.ts)),
      reported: pm.reported,
      format: bytesToIp,
    });
    pm.total = total;
    pm.at = now;
    if (!f) return;
    if (pm.reported.size >= 64) pm.reported.clear(); // bounded: an old destination may be reported again
    pm.reported.add(f.dst);
    this.applier.eventLog.failure('F5', `${f.misses} packets in ${f.windowS} s matched no selector, e.g. ${f.src} -> ${f.dst}: ${f.hint}`, f);
  }

  /** What the file allows but should not (src/config/file-safety.ts): said at start and at each reload. */
  private warnAbout(gw: GatewayConfig): void {
    for (const w of gw.warnings ?? []) this.log.warn('config', `${w.path === '' ? '(file)' : w.path}: ${w.expected}`);
  }

  /** The one way a connection routes traffic into the TUN, for Child SAs and on-demand alike. */
  private installRoutesFor(c: Conn, remote: string[], peer: string): InstalledRoutes {
    const p = c.peer;
    // transport mode protects the peer's own address: policy rules keep tsvpn's IKE/ESP out of the TUN
    return p.child.mode === 'transport'
      ? installTransportRoutes({ dev: this.tun.name, remote, peer, ikePort: p.local.port, src: this.vips.sources(p.name, c.src) })
      : installRoutes({ dev: this.tun.name, remote, peer, ikePort: p.local.port, src: this.vips.sources(p.name, c.src), bypass: this.killSwitch?.lan });
  }

  private removeRoutes(h: unknown): void {
    for (const err of removeRoutes(h as InstalledRoutes)) this.log.warn('route', err);
  }

  start(): void {
    this.tun.onBatch((b) => {
      for (const c of this.conns.values()) {
        if (c.onDemand.armed && c.onDemand.offer(b)) this.applyConn(c, c.conn.traffic(this.clock()));
      }
      // RFC 4303 §3.3.3: an outbound sequence number nears its end or ran out
      for (const ev of this.datapath.outbound(b)) this.rekeyBySpiOut(ev.spi);
    });
    this.tun.onError((e) => this.fatal(e));
    if (this.raw) this.listenRaw(this.raw);
    this.startRoaming();
    this.warnAbout(this.gw);
    for (const c of this.conns.values()) {
      const p = c.peer;
      this.log.info('daemon', `${this.conns.size > 1 ? 'connection' : 'tunnel'} ${p.name}: ${p.local.addr} (${p.local.tsText.join(',')}) <-> ${p.remote.addr} (${p.remote.tsText.join(',')}), ${p.start === 'initiate' && p.remote.addr !== ANY ? 'initiating' : 'waiting for the peer'}`);
    }
    // each connection starts on its own: one that fails never delays another
    for (const c of this.conns.values()) this.applyConn(c, c.conn.start(this.clock()));
  }

  /**
   * A client (one connection that initiates to a known peer) follows its own address changes
   * (MOBIKE, RFC 4555; roaming.ts). A gateway's address stays (§3.1: only the initiator moves).
   */
  private startRoaming(): void {
    const peers = this.gw.connections;
    const p = peers[0]!;
    if (peers.length !== 1 || !connectionConfig(p).initiator) return;
    const c = this.conns.get(p.name)!;
    this.roaming = new Roaming(
      {
        peer: p.remote.addr,
        // UDP from our IKE port: the routing-trap rules (preference 7480) apply as to the real packets
        source: () => outerSource(p.remote.addr, p.local.port),
        watch: watchAddresses,
        hasAddress: (addr) => hostAddresses().includes(addr),
        rebind: (addr) => this.rebind(addr),
        ikeSas: () => this.dispatcher.list(),
        apply: (sa, fx) => this.command(sa, fx),
        reauthenticate: () => this.applyConn(c, c.conn.addressMoved(this.clock())),
        now: this.clock,
        log: this.log,
      },
      p.local.addr,
    );
  }

  status(): TunnelStatus {
    const dp = this.datapath.stats;
    let encap: 'udp' | 'raw' | null = null;
    for (const sa of this.sad.list()) if (sa.outer) encap = sa.outer.encap || !this.raw ? 'udp' : (encap ?? 'raw');
    const sas = this.dispatcher.list();
    const first = this.gw.connections[0]!;
    return buildStatus({
      name: this.gw.name,
      pid: process.pid,
      localId: first.local.id,
      tun: this.tun.closed ? null : { name: this.tun.name, mtu: this.tun.mtu, offload: this.tun.offload.text, superPackets: this.tun.offloadStats.superPackets, coalesced: this.tun.offloadStats.coalesced },
      encap,
      udpOffload: this.io.udpOffload,
      ikeSas: sas,
      children: this.applier.children,
      established: this.applier.eventLog.established,
      inbound: this.sad.counters.inbound,
      outbound: this.sad.counters.outbound,
      ikeCounters: [this.dispatcher.stats, this.applier.eventLog.unauthenticated, { 'natt-invalid': this.io.stats.invalid, 'send-errors': this.io.stats.sendErrors, 'effect-errors': this.applier.errors, 'internal-errors': this.internalErrors, 'timer-errors': this.timers.stats.errors }],
      extraInbound: { 'tun-write': dp.tunWriteErrors, 'internal-errors': dp.internalErrors },
      extraOutbound: { 'icmp-too-big-sent': dp.icmpTooBig, 'send-errors': dp.sendErrors, 'no-destination': dp.noDest, 'internal-errors': dp.internalErrors, 'link-local': dp.linkLocal, 'tun-offload-malformed': this.tun.offloadStats.malformed },
      retransmits: this.applier.eventLog.retransmits,
      reauths: [...this.conns.values()].reduce((n, c) => n + c.conn.reauths, 0),
      lastFailure: this.applier.eventLog.lastFailure,
      failures: this.applier.eventLog.history.list(),
      lastUnauthenticatedFailure: this.applier.eventLog.lastUnauthenticatedFailure,
      lastChildGone: this.applier.eventLog.lastChildGone,
      routesMissing: this.routesMissing.length,
      pools: [...this.pools.values()].map((p) => p.status()),
      spdMisses: this.datapath.spdMisses.list().map((m) => ({ src: bytesToIp(m.src), dst: bytesToIp(m.dst), protocol: m.protocol, at: m.at })),
      childMtu: (rec) => this.mtuWatch.childMtu(rec, this.clock()),
      icmpReceived: this.pathMtus.icmpReceived,
      ...(this.killSwitch ? { killSwitch: { table: this.killSwitch.table, dropped: this.killSwitch.dropped(this.clock()) } } : {}),
      connections: [...this.conns.values()].map((c) => ({
        name: c.peer.name,
        local: this.localAddr,
        remote: c.peer.remote.addr,
        remoteId: c.peer.remote.id,
        start: c.peer.start,
        localTs: c.peer.local.tsText,
        remoteTs: c.peer.remote.tsText,
        reauths: c.conn.reauths,
        lastFailure: this.applier.eventLog.history.lastUnresolved(c.peer.name),
        failures: { ...this.applier.eventLog.failuresOf.get(c.peer.name) },
        history: this.applier.eventLog.history.list(c.peer.name),
      })),
      now: this.clock(),
    });
  }

  control(cmd: string, req: Record<string, unknown> = {}): { ok: true; status?: TunnelStatus; summary?: string } | { ok: false; error: string } | Promise<{ ok: true; probe: ProbeResult } | { ok: false; error: string }> {
    if (cmd === 'status') return { ok: true, status: this.status() };
    if (cmd === 'probe') return this.probe(req);
    if (cmd === 'reload') return this.reloadFile();
    if (cmd === 'down') {
      setImmediate(() => void this.down('control socket'));
      return { ok: true };
    }
    return { ok: false, error: `unknown command ${JSON.stringify(cmd)} (status, down, reload, probe)` };
  }

  /** Read-only: ICMP echo through a Child SA, for `tsvpn diagnose` (src/daemon/probe.ts). One at a time. */
  private async probe(req: Record<string, unknown>): Promise<{ ok: true; probe: ProbeResult } | { ok: false; error: string }> {
    if (this.datapath.echoWatch) return { ok: false, error: 'another probe is running' };
    let r;
    try {
      r = parseProbeRequest(req);
    } catch (e) {
      return { ok: false, error: errText(e) };
    }
    const cands = [...this.applier.children.values()].map((rec) => ({ conn: rec.info.conn, child: rec.info.name, state: 'INSTALLED', localTs: rec.info.localTs, remoteTs: rec.info.remoteTs, src: this.vips.sources(rec.info.conn, this.conns.get(rec.info.conn)?.src ?? []) }));
    const t = probeTarget(cands, r.conn);
    if ('error' in t) return { ok: false, error: t.error };
    const io = {
      inject: (pkts: readonly Uint8Array[]) => this.injectInner(pkts),
      watch: (fn: ((p: Uint8Array) => void) | undefined) => (this.datapath.echoWatch = fn),
      now: this.clock,
    };
    try {
      return { ok: true, probe: await sendProbe(io, t, r, this.datapath.innerMtu, this.random(2).reduce((a, b) => (a << 8) | b, 0)) };
    } catch (e) {
      return { ok: false, error: errText(e) };
    }
  }

  /** Inner packets handed to the datapath as one batch read from the TUN. */
  private injectInner(pkts: readonly Uint8Array[]): void {
    for (const ev of this.datapath.outbound(innerBatch(pkts))) this.rekeyBySpiOut(ev.spi);
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
    // what the connection layers decided from this batch's events, once the batch is applied
    const now = this.clock();
    for (const c of this.conns.values()) {
      const next = c.conn.takeDeferred(now);
      if (next.length > 0) this.applyConn(c, next);
    }
  }

  /** A connection layer's effects: the IKE SAs' own in order, hold routes, keepalives, log lines. */
  private applyConn(c: Conn, fx: ConnectionEffect[]): void {
    const ike: Effect[] = [];
    const flush = () => ike.length > 0 && this.apply(ike.splice(0));
    const name = c.peer.name;
    const label = this.conns.size > 1 ? `${name}: ` : '';
    for (const e of fx) {
      if (e.type === 'note') {
        flush();
        this.log[e.level]('ike', label + e.message);
      } else if (e.type === 'keepalive') this.io.sendKeepalive(e.to);
      else if (e.type === 'hold') {
        flush();
        if (!e.armed) c.onDemand.clear();
        else if (!c.onDemand.arm()) this.applyConn(c, c.conn.traffic(this.clock())); // no hold routes: initiate now
      } else ike.push(e.type === 'event' && e.conn === undefined ? { ...e, conn: name } : e);
    }
    flush();
    for (const sa of this.dispatcher.list()) this.dispatcher.adopt(sa); // index any successor SA
    this.timers.kick();
  }

  /** When the first connection layer wants its timeout (each told when its peer was last heard). */
  private connectionsDue(now: number): number | undefined {
    let t: number | undefined;
    const heard = this.lastHeard();
    for (const c of this.conns.values()) {
      c.conn.heardFrom(heard(c.peer.name));
      const x = c.conn.pollTimeout(now);
      if (x !== undefined && (t === undefined || x < t)) t = x;
    }
    return t;
  }

  private runConnections(now: number): void {
    for (const c of this.conns.values()) {
      const due = c.conn.pollTimeout(now);
      if (due !== undefined && due <= now) this.applyConn(c, c.conn.handleTimeout(now));
    }
  }

  /** When anything authenticated last came from each connection's peers: IKE or ESP (RFC 7296 §2.4). One pass over the SAs. */
  private lastHeard(): (conn: string) => number {
    if (this.conns.size === 1) {
      const t = Math.max(this.lastIkeIn, this.datapath.lastInbound);
      return () => t;
    }
    const at = new Map<string, number>();
    const note = (conn: string, t: number | undefined) => t !== undefined && t > (at.get(conn) ?? 0) && at.set(conn, t);
    for (const sa of this.dispatcher.list()) note(sa.name, sa.lastHeard);
    for (const ch of this.applier.children.values()) note(ch.info.conn, ch.inSa.lastUsed);
    return (conn) => at.get(conn) ?? 0;
  }

  /** A command given to one IKE SA directly: apply its effects, index any successor SA. */
  private command(sa: IkeSa, fx: Effect[]): void {
    this.apply(this.dispatcher.mark(sa, fx));
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
    if (seen.moved.length > 0) this.espMoved(seen.moved);
    if (seen.unauthenticatedFrom) this.natHint(seen.unauthenticatedFrom);
  }

  /**
   * Failure map F8: authenticated ESP came from a new NAT mapping of the peer. Its IKE SA
   * follows it when the peer is behind a NAT (RFC 7296 §2.23), and with it the Child SAs' ESP
   * (EffectApplier on `peer-moved`). Copied out first: `moved` is the datapath's reused list.
   */
  private espMoved(moved: InboundSeen['moved']): void {
    const now = this.clock();
    for (const { sa: esp, from } of [...moved]) {
      const sa = this.dispatcher.list().find((x) => x.children.some((c) => c.spiIn === esp.spi));
      if (sa) this.command(sa, sa.espFrom(now, { ...from }));
    }
  }

  /**
   * An unauthenticated hint of a new NAT mapping (F8): a NAT-keepalive, or ESP that did not
   * authenticate, from a new port of a peer's address. A liveness check goes there; only its
   * authenticated answer moves the peer (IkeSa.probe).
   */
  private natHint(from: Endpoint): void {
    const now = this.clock();
    for (const sa of this.dispatcher.list()) {
      if (sa.state !== 'ESTABLISHED' || !sa.nat?.remote || sa.remote.addr !== from.addr || sa.remote.port === from.port) continue;
      const fx = sa.probe(now, { ...from });
      if (fx.length === 0) continue;
      this.log.info('ike', `a NAT-keepalive or unauthenticated ESP came from ${formatEndpoint(from)}, not ${formatEndpoint(sa.remote)}: checking the peer there (F8)`);
      this.command(sa, fx);
    }
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

  /**
   * The connections a new IKE SA on `path` may use, as strongSwan matches them: the local
   * address, then the peer's address, an exact one before %any (src/ike/select-config.ts picks
   * among them by proposals and identity).
   */
  private configFor(path: Path): IkeSaConfig[] {
    if (this.stopping) return [];
    const exact: IkeSaConfig[] = [];
    const any: IkeSaConfig[] = [];
    for (const { peer } of this.conns.values()) {
      if (this.localAddr !== path.to.addr) continue; // every connection shares it (checkOneAddress)
      const r = peer.remote.addr;
      if (r !== ANY && r !== path.from.addr) continue;
      const cfg = toIkeSaConfig(peer, { random: this.random, wallClock: Date.now, remote: path.from, local: path.to, exportKeys: !!this.saveKeys, pools: this.poolsOf(peer) });
      if (r === ANY) any.push({ ...cfg, remoteAddrAny: true });
      else exact.push(cfg);
    }
    return [...exact, ...any];
  }

  private onEvent(e: IkeEvent, conn: string | undefined): void {
    this.events.emit('ike', e, conn);
    if (this.stopping) return;
    const c = conn !== undefined ? this.conns.get(conn) : this.conns.size === 1 ? this.conns.values().next().value : undefined;
    if (c && e.type === 'virtual-ip-received') this.vips.received(c.peer.name, e.addresses, e.dns, e.subnets);
    if (c && e.type === 'ike-deleted') this.vips.released(c.peer.name);
    c?.conn.onEvent(this.clock(), e);
    this.mtuWatch.onEvent(e, c?.peer.name, this.clock());
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
      for (const c of this.conns.values()) this.applyConn(c, c.conn.stop(now));
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
      ['on-demand routes', () => this.conns.forEach((c) => c.onDemand.clear())],
      ['DNS', () => this.vips.close()],
      ['TUN', () => this.tun.close()],
      ['address monitor', () => this.roaming?.close()],
      ['raw ESP socket', () => this.raw?.close()],
      ['UDP sockets', () => this.io.close()],
      // a daemon that dies of a fatal error keeps the kill switch: nothing leaks until the user acts
      ['kill switch', () => (code === 0 ? this.killSwitch?.close() : this.killSwitch?.keep(this.log))],
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
    for (const p of this.gw.connections) disposePeerConfig(p);
    this.log.info('daemon', `tunnel ${this.gw.name} down`);
    this.resolveDone(code);
  }
}

/** The route's MTU to a peer (src/io/routes.ts outerMtu), asked at most every 30 s per peer: `ip route get` is a process. */
function routeMtuCache(): (peer: string) => number {
  const known = new Map<string, { mtu: number; at: number }>();
  return (peer) => {
    const now = Date.now();
    const k = known.get(peer);
    if (k && now - k.at < 30_000) return k.mtu;
    let mtu = FALLBACK_OUTER_MTU;
    try {
      mtu = outerMtu(peer);
    } catch {
      // no route now: the Ethernet default, as for the TUN MTU (host.ts tunMtuFor)
    }
    known.set(peer, { mtu, at: now });
    return mtu;
  };
}

/** The raw ESP socket (IP protocol 50) of `address`. */
function openRaw(address: string): RawEspSocket {
  return openRawEsp({ address, batch: 64, slabs: 8, rcvbuf: 4 << 20, sndbuf: 4 << 20 });
}
