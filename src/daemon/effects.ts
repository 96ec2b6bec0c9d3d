// Applies what the IKE state machine asks for (src/ike/effects.ts): datagrams to send,
// ESP SAs into the SAD (RFC 4301 §4.4.2), PROTECT entries into the SPD (§4.4.1) with the
// routes that steer the remote selectors into the TUN, and events into the log and the
// failure map's last row. Keys are copied into the SA transforms and zeroed in the effect.
import type { ChildSaInfo, Effect, IkeEvent, NewPolicyInfo, PolicyInfo, SwitchOutbound } from '../ike/effects.js';
import type { Endpoint } from '../ike/config.js';
import { ipToBytes, parseSelector, selectorCidrs } from '../wire/selectors.js';
import type { EspCipherSpec } from '../ipsec/esp-transform.js';
import type { EspSa, Sad, SaSpec } from '../ipsec/sad.js';
import type { Spd, SpdEntry } from '../ipsec/spd.js';
import { EncrId, NAT_T_PORT } from '../wire/constants.js';
import type { TrafficSelector } from '../wire/types.js';
import type { SaPaths } from './datapath.js';
import type { Logger } from './log.js';
import { formatEndpoint } from '../wire/ip-text.js';
import { spiHex } from '../wire/spi.js';

/**
 * Implementation choice (as strongSwan's charon.delete_rekeyed_delay): after a rekey's Delete
 * (RFC 7296 §2.8) the old inbound SA stays a moment, so ESP the peer sent on it before it
 * switched, still queued in our socket behind the IKE Delete, is not dropped as unknown-spi.
 */
export const REKEYED_INBOUND_GRACE_MS = 2000;

export class UnsupportedEspError extends Error {
  override name = 'UnsupportedEspError';
}

/** The ESP transform for one direction of a Child SA (ENCR ids: RFC 7296 §3.3.2, IANA). */
export function cipherSpecOf(info: ChildSaInfo, dir: 'in' | 'out'): EspCipherSpec {
  const k = dir === 'in' ? info.keysIn : info.keysOut;
  switch (info.encr.id) {
    case EncrId.AES_GCM_16: // RFC 4106: key | 4-octet salt
      return { kind: 'aead', alg: 'aes-gcm-16', keyWithSalt: k.encr };
    case EncrId.CHACHA20_POLY1305: // RFC 7634 §2: key | 4-octet salt
      return { kind: 'aead', alg: 'chacha20-poly1305', keyWithSalt: k.encr };
    case EncrId.AES_CBC: // RFC 3602 with an RFC 4868 / RFC 2404 HMAC
      return { kind: 'cbc', encrKey: k.encr, integId: info.integ, integKey: k.integ };
    default:
      throw new UnsupportedEspError(`ESP encryption transform ${info.encr.id} is not implemented (${info.proposal})`);
  }
}

/** The outer destination of a Child SA's ESP: UDP 4500 when encapsulated (RFC 3948), else raw. */
export function outerDest(info: ChildSaInfo, forceEncap: boolean): { addr: string; port: number; encap: boolean } {
  const encap = info.encap || forceEncap;
  // with NAT-T the IKE SA floated and `remote.port` is the peer's (maybe NAT-mapped) 4500 port
  const port = info.encap ? info.remote.port : NAT_T_PORT;
  return { addr: info.remote.addr, port, encap };
}

export interface RouteHooks {
  /** Route the remote prefixes into the TUN; returns a handle for remove(). May throw. */
  install(remoteCidrs: string[]): unknown;
  remove(handle: unknown): void;
}

export interface LastFailure {
  row: string;
  message: string;
  evidence?: unknown;
  at: string;
}

/** What the daemon keeps per installed Child SA, by our inbound SPI. */
export interface ChildRecord {
  info: Omit<ChildSaInfo, 'keysIn' | 'keysOut'>;
  inSa: EspSa;
  outSa: EspSa;
  installedAt: number;
  rekeys: number;
  entry?: SpdEntry;
  /** Route prefixes this Child SA holds a reference on. */
  routes: string[];
}

export interface EffectDeps {
  sad: Sad;
  spd: Spd;
  paths: SaPaths;
  sendIke(bytes: Uint8Array, to: Endpoint, from: Endpoint): void;
  routes: RouteHooks;
  now(): number;
  wallClock(): number;
  log: Logger;
  forceEncap: boolean;
  /** Called after each event is logged (the daemon reacts to failures, deletions, NAT). */
  onEvent?(e: IkeEvent): void;
  /** How long the old inbound SA of a rekey stays after its Delete (ms; default 0: removed at once). */
  rekeyedInboundGraceMs?: number;
}

export class EffectApplier {
  readonly children = new Map<number, ChildRecord>();
  lastFailure: LastFailure | null = null;
  /** IKE requests retransmitted, over every IKE SA this daemon ran (status `retransmits`). */
  retransmits = 0;
  /** IKE SAs' establishment times (ms, daemon clock), by SPIi hex. */
  readonly established = new Map<string, number>();
  private readonly routeRefs = new Map<string, { handle: unknown; count: number }>();
  /** Effects that failed to apply (each logged). */
  errors = 0;

  constructor(private readonly d: EffectDeps) {}

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

  /** Child SAs the peer made whose policy waits behind the SA in use, by inbound SA (installPolicy). */
  private readonly waiting = new Map<EspSa, ChildRecord>();

  /**
   * Authenticated ESP arrived on `inSa` (the datapath calls this once per batch and SA). If
   * that is a Child SA the peer made in its reauthentication, still waiting behind the old
   * one, the peer has installed it (it sends on it): send on it too from now on, instead of
   * waiting for its Delete of the old IKE SA, which it may act on before our last packets
   * on the old SA reach it.
   */
  peerSendsOn(inSa: EspSa): void {
    const c = this.waiting.get(inSa);
    if (!c) return;
    this.waiting.delete(inSa);
    if (!c.entry) return;
    this.d.spd.remove(c.entry);
    this.d.spd.add(c.entry, 0); // RFC 4301 §4.4.1: first match wins
    this.d.log.info('esp', `Child SA ${c.info.name}: the peer sends on SPI ${spiHex(c.info.spiIn)}, so we send on SPI ${spiHex(c.info.spiOut)} from now on`);
  }

  /** Is a Child SA waiting for the peer's first packet on it (the datapath asks before calling peerSendsOn)? */
  get awaitingPeer(): boolean {
    return this.waiting.size > 0;
  }

  /** Old inbound SAs kept for REKEYED_INBOUND_GRACE_MS after a rekey, with their removal timers. */
  private readonly lingering = new Map<EspSa, ReturnType<typeof setTimeout>>();

  /** Remove every SPD entry, route and SA (shutdown); keys are zeroed. Never throws. */
  removeAll(): void {
    for (const c of [...this.children.values()]) this.drop(c);
    for (const [sa, t] of this.lingering) {
      clearTimeout(t);
      this.d.paths.delete(sa);
    }
    this.lingering.clear();
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
      case 'event':
        this.event(e.event);
        this.d.onEvent?.(e.event);
    }
  }

  private installSa(info: ChildSaInfo, rekeys?: { spiIn: number }): void {
    const now = this.d.now();
    const ls = info.localTs.map(parseSelector);
    const rs = info.remoteTs.map(parseSelector);
    const spec = (dir: 'in' | 'out', local: Endpoint, remote: Endpoint, l: TrafficSelector[], r: TrafficSelector[]): SaSpec => ({
      spi: dir === 'in' ? info.spiIn : info.spiOut,
      mode: info.mode,
      cipher: cipherSpecOf(info, dir),
      esn: info.esn,
      localAddress: ipToBytes(local.addr),
      remoteAddress: ipToBytes(remote.addr),
      localSelectors: l,
      remoteSelectors: r,
      replayWindow: info.replayWindow,
    });
    try {
      const inSa = this.d.sad.addInbound(spec('in', info.local, info.remote, ls, rs), now);
      let outSa: EspSa;
      try {
        outSa = this.d.sad.addOutbound(spec('out', info.local, info.remote, ls, rs), now);
      } catch (e) {
        this.d.sad.remove(inSa);
        throw e;
      }
      const { keysIn: _i, keysOut: _o, ...rest } = info;
      // a rekeyed SA (RFC 7296 §2.8) counts its predecessors; policy and routes stay on the old one for now
      const before = rekeys ? this.children.get(rekeys.spiIn) : undefined;
      this.children.set(info.spiIn, { info: rest, inSa, outSa, installedAt: now, rekeys: before ? before.rekeys + 1 : 0, routes: [] });
      const dest = outerDest(info, this.d.forceEncap);
      this.d.paths.set(outSa, dest);
      this.d.paths.set(inSa, dest); // one object: what inbound learns (datapath learnEncap) outbound uses
      this.d.log.info('esp', `Child SA ${info.name} installed: ${info.proposal}, SPIs in ${spiHex(info.spiIn)} out ${spiHex(info.spiOut)}, ${info.mode} mode, ESP ${dest.encap ? `in UDP to ${formatEndpoint(dest)}` : `to ${dest.addr}`}`);
    } finally {
      // the transforms hold their own copies (createEspTransform copies keys)
      for (const k of [info.keysIn, info.keysOut]) {
        k.encr.fill(0);
        k.integ.fill(0);
      }
    }
  }

  private installPolicy(p: NewPolicyInfo): void {
    const c = this.children.get(p.spiIn);
    if (!c) throw new Error(`policy ${p.name} names no installed SA (SPI in ${spiHex(p.spiIn)})`);
    // The newest Child SA's entry goes first (RFC 4301 §4.4.1: first match wins), so a
    // replacement SA for the same selectors takes the traffic while the old one winds down. A
    // replacement the peer made (its reauthentication, `active` false) waits behind the old SA:
    // until our IKE_AUTH response reaches the peer it has no inbound SA. It moves first when the
    // peer sends on it (peerSendsOn) or deletes the old SA (unroute).
    const current = [...this.children.values()].some((o) => o !== c && o.entry && o.info.name === p.name);
    const behind = current && !p.active;
    c.entry = this.d.spd.add({ name: p.name, local: p.localTs.map(parseSelector), remote: p.remoteTs.map(parseSelector), action: 'protect', sa: c.outSa }, behind ? undefined : 0);
    if (behind) {
      this.waiting.set(c.inSa, c);
      this.d.log.info('esp', `Child SA ${p.name} (SPI in ${spiHex(p.spiIn)}) waits behind the SA in use until the peer sends on it or deletes the old one`);
    }
    const cidrs = selectorCidrs(p.remoteTs);
    const fresh: string[] = [];
    try {
      for (const cidr of cidrs) {
        // routes are shared: two Child SAs for one prefix (old and new) hold one route
        const ref = this.routeRefs.get(cidr);
        if (ref) ref.count++;
        else {
          this.routeRefs.set(cidr, { handle: this.d.routes.install([cidr]), count: 1 });
          fresh.push(cidr);
        }
        c.routes.push(cidr);
      }
      if (fresh.length > 0) this.d.log.info('route', `routes for ${fresh.join(', ')} into the tunnel`);
    } catch (e) {
      // failure map F5: SAs up, but nothing steers traffic into them
      const message = `routes for ${cidrs.join(', ')} could not be installed: ${e instanceof Error ? e.message : String(e)}`;
      this.lastFailure = { row: 'F5', message, evidence: { remoteTs: p.remoteTs }, at: new Date(this.d.wallClock()).toISOString() };
      this.d.log.error('route', message);
    }
  }

  /** Make-before-break, step 2 (src/ike/effects.ts): the policy and its routes move to the new SA. */
  private switchOutbound(e: SwitchOutbound): void {
    const from = this.children.get(e.from.spiIn);
    const to = this.children.get(e.spiIn);
    if (!to) throw new Error(`switch-outbound of ${e.name} names no installed SA (SPI in ${spiHex(e.spiIn)})`);
    if (from?.entry) {
      this.d.spd.setSa(from.entry, to.outSa); // traffic leaves on the new SPI from the next batch on
      to.entry = from.entry;
      from.entry = undefined;
    }
    if (from) to.routes.push(...from.routes.splice(0));
    this.d.log.info('esp', `Child SA ${e.name} rekeyed: sending on SPI ${spiHex(e.spiOut)} (was ${spiHex(e.from.spiOut)})`);
  }

  private removePolicy(p: PolicyInfo): void {
    const c = this.children.get(p.spiIn);
    if (c) this.unroute(c);
  }

  private unroute(c: ChildRecord): void {
    if (c.entry) this.d.spd.remove(c.entry);
    c.entry = undefined;
    // a replacement that waited behind this SA now comes first: nothing left to wait for
    for (const [sa, w] of this.waiting) if (w.info.name === c.info.name) this.waiting.delete(sa);
    for (const cidr of c.routes.splice(0)) {
      const ref = this.routeRefs.get(cidr);
      if (!ref || --ref.count > 0) continue;
      this.routeRefs.delete(cidr);
      try {
        this.d.routes.remove(ref.handle);
      } catch (e) {
        this.d.log.warn('route', `removing the route for ${cidr}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private drop(c: ChildRecord): void {
    this.waiting.delete(c.inSa);
    this.unroute(c);
    this.d.paths.delete(c.outSa);
    this.d.sad.remove(c.outSa);
    this.children.delete(c.info.spiIn);
    // a successor of the same name means this is the old SA of a rekey: its inbound half lingers
    const rekeyed = [...this.children.values()].some((o) => o.info.name === c.info.name && o.installedAt >= c.installedAt);
    const grace = this.d.rekeyedInboundGraceMs ?? 0;
    if (rekeyed && grace > 0) {
      const t = setTimeout(() => {
        this.lingering.delete(c.inSa);
        this.d.paths.delete(c.inSa);
        this.d.sad.remove(c.inSa);
      }, grace);
      t.unref?.();
      this.lingering.set(c.inSa, t);
    } else {
      this.d.paths.delete(c.inSa);
      this.d.sad.remove(c.inSa);
    }
    this.d.log.info('esp', `Child SA ${c.info.name} removed (SPIs in ${spiHex(c.info.spiIn)} out ${spiHex(c.info.spiOut)}; ${c.inSa.counters.passed} packets in, ${c.outSa.counters.passed} out)`);
  }

  private event(ev: IkeEvent): void {
    const log = this.d.log;
    switch (ev.type) {
      case 'failure':
        this.lastFailure = { row: ev.row, message: ev.message, evidence: ev.evidence, at: new Date(this.d.wallClock()).toISOString() };
        log.error('ike', `${ev.row}: ${ev.message} ${JSON.stringify(ev.evidence)}`);
        return;
      case 'ike-state':
        return log.debug('ike', `IKE SA ${ev.from} -> ${ev.to}`);
      case 'ike-established':
        this.established.set(ev.spiI, this.d.now());
        return log.info('ike', `IKE SA established: ${ev.localId} <-> ${ev.remoteId}, ${ev.proposal}, SPIs ${ev.spiI}_i ${ev.spiR}_r${ev.nat.local ? ', we are behind a NAT' : ''}${ev.nat.remote ? ', the peer is behind a NAT' : ''}`);
      case 'ike-deleted':
        return log.info('ike', `IKE SA deleted (${ev.reason})`);
      case 'child-installed':
        return log.info('ike', `Child SA ${ev.name}: ${ev.localTs.join(',')} === ${ev.remoteTs.join(',')}${ev.narrowed ? ' (narrowed)' : ''}`);
      case 'child-deleted':
        return log.info('ike', `Child SA ${ev.name} deleted (${ev.reason})`);
      case 'retransmit':
        this.retransmits++;
        return log.info('ike', `retransmit ${ev.attempt} of ${ev.exchange} (message ${ev.messageId}) to ${formatEndpoint(ev.to)}`);
      case 'liveness':
        return ev.ok ? log.debug('ike', 'peer alive') : log.warn('ike', 'peer did not answer the liveness check (DPD): dead');
      case 'invalid-ke':
        return log.info('ike', `peer asked for DH group ${ev.requested}, retrying`);
      case 'cookie-requested':
        return log.info('ike', 'peer demanded a COOKIE, retrying');
      case 'notify':
        return log.warn('ike', `${ev.exchange}: peer sent ${ev.notify}`);
      case 'child-rekeyed':
        return log.info('ike', `Child SA ${ev.name} rekeyed: SPIs ${ev.oldSpiIn}/${ev.oldSpiOut} -> ${ev.newSpiIn}/${ev.newSpiOut}${ev.pfsGroup ? `, PFS ${ev.pfsGroup}` : ''}`);
      case 'ike-rekeyed':
        this.established.set(ev.spiI, this.d.now());
        return log.info('ike', `IKE SA rekeyed: ${ev.oldSpi} -> ${ev.newSpi}`);
      case 'rekey-collision':
        return log.info('ike', `${ev.scope === 'ike' ? 'IKE' : 'Child'} SA rekey collision (RFC 7296 §2.8.1): ${ev.won ? 'ours' : 'theirs'} wins`);
    }
  }
}
