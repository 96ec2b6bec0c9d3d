// Applies what the IKE state machine asks for (src/ike/effects.ts): datagrams to send,
// ESP SAs into the SAD (RFC 4301 §4.4.2), PROTECT entries into the SPD (§4.4.1) with the
// routes that steer the remote selectors into the TUN, and events into the event log. Keys
// are copied into the SA transforms and zeroed in the effect (and with --save-keys appended to
// Wireshark's decryption tables first, src/daemon/save-keys.ts). What the datapath observed
// (the peer sends on an SA, or sends it in UDP) comes back here from the daemon.
import type { ChildSaInfo, Effect, IkeEvent, NeighbourEvidence, NewPolicyInfo, PolicyInfo, SwitchOutbound } from '../ike/effects.js';
import type { Endpoint } from '../ike/config.js';
import { selectorCidrs } from '../wire/selectors.js';
import type { EspSa, Sad } from '../ipsec/sad.js';
import type { Spd } from '../ipsec/spd.js';
import { NAT_T_PORT } from '../wire/constants.js';
import type { Logger } from './log.js';
import type { InboundSeen } from './datapath.js';
import { formatEndpoint } from '../wire/ip-text.js';
import { zero } from '../crypto/bytes.js';
import { spiHex } from '../wire/spi.js';
import { lineage, type ChildRecord } from './child-record.js';
import { IkeEventLog } from './event-log.js';
import { PolicyOrder } from './policy-order.js';
import { RekeyedInbound } from './rekeyed-inbound.js';
import { RouteRefs, type RouteHooks } from './route-refs.js';
import { saSpecsOf } from './sa-spec.js';
import type { SaveKeys } from './save-keys.js';

export interface EffectDeps {
  sad: Sad;
  spd: Spd;
  sendIke(bytes: Uint8Array, to: Endpoint, from: Endpoint): void;
  routes: RouteHooks;
  now(): number;
  wallClock(): number;
  log: Logger;
  /** Send this Child SA's ESP in UDP even without a NAT (peer.json `encap: "udp"`, or no raw ESP socket). */
  forceEncap(child: ChildSaInfo): boolean;
  /** Called after each event is logged (the daemon reacts to failures, deletions, NAT); `conn` is the connection it came from. */
  onEvent?(e: IkeEvent, conn: string | undefined): void;
  /** Prefix log lines of events with their connection's name (a daemon with several). */
  namedConnections?: boolean;
  /** How long the old inbound SA of a rekey stays after its Delete (ms; default 0: removed at once). */
  rekeyedInboundGraceMs?: number;
  /** `tsvpn up --save-keys`: where the IKE and ESP keys go for Wireshark (absent: nowhere). */
  saveKeys?: SaveKeys;
  /** F1 towards `peer`: the next hop's neighbour state, read once per F1 (src/io/routes.ts nextHopNeighbour). */
  neighbourOf?(peer: string): NeighbourEvidence;
}

export class EffectApplier {
  readonly children = new Map<number, ChildRecord>();
  /** The events applied: logged, with the last failure, establishment times and retransmits. */
  readonly eventLog: IkeEventLog;
  /** Which Child SA's SPD entry comes first (make-before-break). */
  readonly order: PolicyOrder;
  /** Old inbound SAs kept for rekeyedInboundGraceMs after a rekey; the daemon's timer expires them. */
  readonly rekeyed: RekeyedInbound;
  private readonly routes: RouteRefs;
  /** Effects that failed to apply (each logged). */
  errors = 0;

  constructor(private readonly d: EffectDeps) {
    this.eventLog = new IkeEventLog(d.log, d.now, d.wallClock, d.namedConnections ?? false);
    this.order = new PolicyOrder(d.spd, d.log);
    this.rekeyed = new RekeyedInbound(d.sad);
    this.routes = new RouteRefs(d.routes, d.log);
  }

  apply(effects: readonly Effect[]): void {
    for (const e of effects) {
      try {
        this.one(e);
      } catch (err) {
        this.errors++;
        this.d.log.error('daemon', `could not apply ${e.type}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** What an inbound batch showed about the peer (src/daemon/datapath.ts): act on it. */
  inboundSeen(seen: InboundSeen): void {
    // a Child SA the peer made in its reauthentication takes over once the peer sends on it
    if (this.order.awaitingPeer) for (const sa of seen.saSeen) this.order.peerSendsOn(sa);
    for (const sa of seen.encapLearnt) this.peerSendsInUdp(sa);
    // F8 is resolved once authenticated ESP arrives on the peer's new mapping (the next batch after the move)
    if (seen.saSeen.length > 0 && this.eventLog.history.open('F8')) {
      for (const sa of seen.saSeen) {
        const c = this.children.get(sa.spi);
        if (c && !seen.moved.some((m) => m.sa === sa)) this.eventLog.resolve('traffic-on-new-mapping', c.info.conn);
      }
    }
  }

  /**
   * Authenticated ESP in UDP arrived on `inSa`, set up for raw ESP: a peer that sends ESP in
   * UDP 4500 receives it there too (strongSwan's kernel-libipsec only speaks RFC 3948
   * encapsulation, NAT or not), so the Child SA's outer path becomes UDP to port 4500.
   */
  private peerSendsInUdp(inSa: EspSa): void {
    const c = this.children.get(inSa.spi);
    const was = inSa.outer;
    if (!c || c.inSa !== inSa || !was || was.encap) return;
    const outer = { addr: was.addr, port: NAT_T_PORT, encap: true };
    c.inSa.outer = outer;
    c.outSa.outer = outer;
    this.d.log.info('esp', `the peer sends ESP in UDP: sending ESP in UDP to ${formatEndpoint(outer)} too`);
  }

  /** F1 of an exchange to an address (no answer yet, or none at all): with the next hop's ARP/NDP state as evidence. */
  private withNeighbour(e: IkeEvent): IkeEvent {
    if (e.type !== 'failure' || e.row !== 'F1' || !('to' in e.evidence) || !this.d.neighbourOf || e.unauthenticated) return e;
    return { ...e, evidence: { ...e.evidence, neighbour: this.d.neighbourOf(e.evidence.to.addr) } };
  }

  /**
   * The peer's NAT mapping changed (RFC 7296 §2.23, failure map F8): the ESP in UDP of the
   * connection's Child SAs that went to `from` goes to `to` from now on. With MOBIKE (RFC 4555
   * §3.5) the peer's address moved: raw ESP follows it too, and a NAT on the new path switches
   * to ESP in UDP (§3.9). `local-moved`: our own address moved and a NAT appeared on the way
   * to the same peer (the sockets were rebound before): ESP goes in UDP to its port 4500.
   */
  private follow(ev: Extract<IkeEvent, { type: 'peer-moved' | 'local-moved' }>, conn: string | undefined): void {
    const mobike = ev.type === 'local-moved' || ev.via === 'mobike';
    const from = ev.type === 'local-moved' ? ev.remote : ev.from;
    const to = ev.type === 'local-moved' ? ev.remote : ev.to;
    const natNow = ev.nat.local || ev.nat.remote;
    for (const c of this.children.values()) {
      const was = c.outSa.outer;
      if (!was || was.addr !== from.addr || (conn !== undefined && c.info.conn !== conn)) continue;
      if (!mobike && (!was.encap || was.port !== from.port)) continue;
      // RFC 3948 §2.1: ESP in UDP goes to the peer's NAT-T port: the mapping IKE uses where a NAT
      // made it float there, else (no NAT on the new path, encapsulation forced or learnt) 4500,
      // not the IKE port a MOBIKE move without NAT reports
      const udpPort = mobike && !natNow ? NAT_T_PORT : to.port;
      const outer = was.encap || natNow ? { addr: to.addr, port: udpPort, encap: true } : { addr: to.addr, port: was.port, encap: false };
      if (outer.addr === was.addr && outer.port === was.port && outer.encap === was.encap) continue;
      c.inSa.outer = outer;
      c.outSa.outer = outer;
      this.d.log.info('esp', `Child SA ${c.info.name}: ESP ${outer.encap ? 'in UDP ' : ''}now goes to ${outer.encap ? formatEndpoint(outer) : outer.addr} (was ${was.encap ? formatEndpoint(was) : was.addr})`);
    }
  }

  /** Remove every SPD entry, route and SA (shutdown); keys are zeroed. Never throws. */
  removeAll(): void {
    for (const c of [...this.children.values()]) this.drop(c);
    this.rekeyed.clear();
    this.d.sad.clear();
  }

  private one(e: Effect): void {
    switch (e.type) {
      case 'send':
        return this.d.sendIke(e.bytes, e.to, e.from);
      case 'install-sa':
        return this.installSa(e.child, e.rekeys);
      case 'switch-outbound':
        return this.switchOutbound(e);
      case 'install-policy':
        return this.installPolicy(e.policy);
      case 'remove-policy':
        return this.removePolicy(e.policy);
      case 'remove-sa': {
        const c = this.children.get(e.spiIn);
        if (c) this.drop(c);
        return;
      }
      case 'export-keys':
        return this.saveKeys(`IKE SA ${spiHex(e.keys.spiI)}_i ${spiHex(e.keys.spiR)}_r`, (k) => k.ike(e.keys), () => zero(e.keys.skEi, e.keys.skEr, e.keys.skAi, e.keys.skAr));
      case 'event': {
        const ev = this.withNeighbour(e.event);
        this.eventLog.record(ev, e.conn);
        if (ev.type === 'peer-moved' || ev.type === 'local-moved') this.follow(ev, e.conn);
        this.d.onEvent?.(ev, e.conn);
      }
    }
  }

  private installSa(info: ChildSaInfo, rekeys?: { spiIn: number }): void {
    const now = this.d.now();
    try {
      const spec = saSpecsOf(info, this.d.forceEncap(info));
      const inSa = this.d.sad.addInbound(spec.in, now);
      let outSa: EspSa;
      try {
        outSa = this.d.sad.addOutbound(spec.out, now);
      } catch (e) {
        this.d.sad.remove(inSa);
        throw e;
      }
      const { keysIn: _i, keysOut: _o, ...rest } = info;
      // a rekeyed SA (RFC 7296 §2.8) counts its predecessors; policy and routes stay on the old one for now
      const before = rekeys ? this.children.get(rekeys.spiIn) : undefined;
      this.children.set(info.spiIn, { info: rest, inSa, outSa, installedAt: now, rekeys: before ? before.rekeys + 1 : 0, routes: [] });
      const dest = spec.out.outer!;
      this.saveKeys(`Child SA ${info.name} (${info.proposal})`, (k) => k.child(info));
      this.d.log.info('esp', `Child SA ${info.name} installed: ${info.proposal}, SPIs in ${spiHex(info.spiIn)} out ${spiHex(info.spiOut)}, ${info.mode} mode, ESP ${dest.encap ? `in UDP to ${formatEndpoint(dest)}` : `to ${dest.addr}`}`);
    } finally {
      // the transforms hold their own copies (createEspTransform copies keys)
      for (const k of [info.keysIn, info.keysOut]) {
        k.encr.fill(0);
        k.integ.fill(0);
      }
    }
  }

  /**
   * --save-keys: write an SA's keys with `write`; a cipher Wireshark cannot decrypt, or a file
   * that cannot be written, is logged by the SA's name (never a key). `done` zeroes the keys.
   */
  private saveKeys(sa: string, write: (k: SaveKeys) => boolean, done?: () => void): void {
    const k = this.d.saveKeys;
    try {
      if (!k) return;
      if (!write(k)) this.d.log.warn('daemon', `--save-keys: Wireshark cannot decrypt the cipher of ${sa}: no line for it`);
    } catch (err) {
      this.d.log.error('daemon', `--save-keys: the keys of ${sa} were not saved in ${k!.dir}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      done?.();
    }
  }

  private installPolicy(p: NewPolicyInfo): void {
    const c = this.children.get(p.spiIn);
    if (!c) throw new Error(`policy ${p.name} names no installed SA (SPI in ${spiHex(p.spiIn)})`);
    this.order.add(c, p, this.children.values());
    const cidrs = selectorCidrs(p.remoteTs);
    try {
      // routes are shared: two Child SAs for one prefix (old and new) hold one route
      this.routes.hold(cidrs, c.routes, { conn: c.info.conn, peer: c.info.remote.addr });
      if (this.eventLog.history.open('F5')) this.eventLog.resolve('routes-back', c.info.conn);
    } catch (e) {
      // failure map F5: SAs up, but nothing steers traffic into them
      const message = routesRefused(cidrs, e);
      c.routeError = message; // the Child SA is never "up" (status, tsvpn up's lines) without its routes
      this.eventLog.failure('F5', message, { remoteTs: p.remoteTs }, c.info.conn);
      this.d.log.error('route', message);
    }
  }

  /**
   * A Child SA left NOT ROUTED (F5) tries its routes again: the daemon's route check calls this
   * every ROUTE_CHECK_MS, so a route refused at install (a table locked by another tool, a
   * device not there yet) is routed once it can be. The names of the Child SAs now routed.
   */
  retryRoutes(): string[] {
    const routed: string[] = [];
    for (const c of this.children.values()) {
      if (c.routeError === undefined || c.entry === undefined) continue;
      const cidrs = selectorCidrs(c.info.remoteTs).filter((x) => !c.routes.includes(x));
      try {
        this.routes.hold(cidrs, c.routes, { conn: c.info.conn, peer: c.info.remote.addr });
        delete c.routeError;
        routed.push(c.info.name);
        this.d.log.info('route', `Child SA ${c.info.name}: its routes are installed now (retried): it carries traffic`);
      } catch (e) {
        c.routeError = routesRefused(cidrs, e);
      }
    }
    return routed;
  }

  /** Make-before-break, step 2 (src/ike/effects.ts): the policy and its routes move to the new SA. */
  private switchOutbound(e: SwitchOutbound): void {
    const from = this.children.get(e.from.spiIn);
    const to = this.children.get(e.spiIn);
    if (!to) throw new Error(`switch-outbound of ${e.name} names no installed SA (SPI in ${spiHex(e.spiIn)})`);
    if (from) {
      this.order.hand(from, to);
      to.routes.push(...from.routes.splice(0));
      if (from.routeError !== undefined) to.routeError = from.routeError;
    }
    this.d.log.info('esp', `Child SA ${e.name} rekeyed: sending on SPI ${spiHex(e.spiOut)} (was ${spiHex(e.from.spiOut)})`);
  }

  private removePolicy(p: PolicyInfo): void {
    const c = this.children.get(p.spiIn);
    if (c) this.unroute(c);
  }

  private unroute(c: ChildRecord): void {
    this.order.remove(c);
    this.routes.release(c.routes.splice(0));
  }

  private drop(c: ChildRecord): void {
    this.order.forget(c);
    this.unroute(c);
    this.d.sad.remove(c.outSa);
    this.children.delete(c.info.spiIn);
    // a successor of the same name means this is the old SA of a rekey: its inbound half stays a moment
    const rekeyed = [...this.children.values()].some((o) => lineage(o.info) === lineage(c.info) && o.installedAt >= c.installedAt);
    const grace = this.d.rekeyedInboundGraceMs ?? 0;
    if (rekeyed && grace > 0) this.rekeyed.keep(c.inSa, this.d.now() + grace);
    else this.d.sad.remove(c.inSa);
    this.d.log.info('esp', `Child SA ${c.info.name} removed (SPIs in ${spiHex(c.info.spiIn)} out ${spiHex(c.info.spiOut)}; ${c.inSa.counters.passed} packets in, ${c.outSa.counters.passed} out)`);
  }
}

/** Why a Child SA is NOT ROUTED: the prefixes and the `ip` error. */
function routesRefused(cidrs: readonly string[], e: unknown): string {
  return `routes for ${cidrs.join(', ')} could not be installed: ${e instanceof Error ? e.message : String(e)}`;
}
